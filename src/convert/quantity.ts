// Kubernetes quantities ("500m", "1.5k", "2Gi", "1e3") as exact decimal strings, which is
// what a ScalingPolicy's target and activation fields take. Written by hand because the only
// parser at hand (client-node's quantityToScalar) goes through floats and rejects "1.5k";
// a target must come out exactly as the HPA meant it.

const DECIMAL_SUFFIX: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIX: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/**
 * The decimal form of a quantity or plain number ("0.5", "1500", "536870912"), or undefined
 * when it is not one. A number (from YAML) is taken as written.
 */
export function quantityToDecimal(input: unknown): string | undefined {
  const text = typeof input === 'number' && Number.isFinite(input) ? String(input) : input;
  if (typeof text !== 'string') return undefined;
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const [, sign, mantissa, exponent, suffix] = m as unknown as [string, string, string, string?, string?];
  const [whole, frac = ''] = mantissa.split('.');
  let digits = BigInt(`${whole || '0'}${frac}`);
  let scale = -frac.length; // value = digits × 10^scale
  if (exponent !== undefined) scale += Number(exponent.slice(1));
  else if (suffix !== undefined && suffix in BINARY_SUFFIX) digits *= BINARY_SUFFIX[suffix]!;
  else scale += DECIMAL_SUFFIX[suffix ?? '']!;
  if (Math.abs(scale) > 100) return undefined;
  return (sign === '-' && digits !== 0n ? '-' : '') + formatDecimal(digits, scale);
}

function formatDecimal(digits: bigint, scale: number): string {
  if (scale >= 0) return (digits * 10n ** BigInt(scale)).toString();
  const s = digits.toString().padStart(-scale + 1, '0');
  const intPart = s.slice(0, s.length + scale);
  const fracPart = s.slice(s.length + scale).replace(/0+$/, '');
  return fracPart ? `${intPart}.${fracPart}` : intPart;
}

/** Whether a decimal string (as quantityToDecimal returns) is greater than zero. */
export function isPositiveDecimal(d: string): boolean {
  return !d.startsWith('-') && /[1-9]/.test(d);
}
