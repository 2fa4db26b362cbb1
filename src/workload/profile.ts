/**
 * Load profiles of the workload simulator: parsing the label and annotations of
 * a Deployment, and the offered request rate at a time since the profile started.
 * Pure: no I/O (trace files are read by the caller and passed in as text).
 */

export const PROFILE_LABEL = 'tidemark.dev/load-profile';
export const LOAD_ANNOTATION = 'tidemark.dev/load';
export const CAPACITY_ANNOTATION = 'tidemark.dev/capacity-rps';
export const SERVICE_TIME_ANNOTATION = 'tidemark.dev/service-time-ms';
export const LOAD_START_ANNOTATION = 'tidemark.dev/load-start';

export const PROFILE_KINDS = ['constant', 'step', 'ramp', 'sine', 'trace'] as const;
export type ProfileKind = (typeof PROFILE_KINDS)[number];

export type ProfileSpec =
  | { kind: 'constant'; rps: number }
  | { kind: 'step'; before: number; after: number; atSeconds: number }
  | { kind: 'ramp'; from: number; to: number; seconds: number }
  | { kind: 'sine'; base: number; amplitude: number; periodSeconds: number }
  | { kind: 'trace'; file: string; speedup: number; scale: number; startMinute: number };

/** A profile ready to evaluate: a trace carries its requests per minute. */
export type TraceSpec = Extract<ProfileSpec, { kind: 'trace' }>;
export type Profile = Exclude<ProfileSpec, TraceSpec> | (TraceSpec & { perMinute: number[] });

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

type Field = { required: boolean; default?: number; min?: number; positive?: boolean };
const NUMERIC_FIELDS: Record<Exclude<ProfileKind, 'trace'>, Record<string, Field>> = {
  constant: { rps: { required: true, min: 0 } },
  step: {
    before: { required: true, min: 0 },
    after: { required: true, min: 0 },
    atSeconds: { required: true, min: 0 },
  },
  ramp: {
    from: { required: true, min: 0 },
    to: { required: true, min: 0 },
    seconds: { required: true, positive: true },
  },
  sine: {
    base: { required: true, min: 0 },
    amplitude: { required: true, min: 0 },
    periodSeconds: { required: true, positive: true },
  },
};
const TRACE_NUMERIC: Record<string, Field> = {
  speedup: { required: false, default: 1, positive: true },
  scale: { required: false, default: 1, min: 0 },
  startMinute: { required: false, default: 0, min: 0 },
};

/** Splits `k=v,k=v` (whitespace around items ignored). */
export function parseKeyValues(text: string): Result<Map<string, string>> {
  const out = new Map<string, string>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, error: `expected key=value, found "${item}"` };
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (out.has(key)) return { ok: false, error: `key "${key}" given twice` };
    out.set(key, value);
  }
  return { ok: true, value: out };
}

function parseNumber(key: string, raw: string, f: Field): Result<number> {
  // Number('') is 0 and Number(' ') is 0: reject empty values explicitly.
  const n = raw === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(n)) return { ok: false, error: `${key}: "${raw}" is not a finite number` };
  if (f.positive && n <= 0) return { ok: false, error: `${key}: must be > 0, found ${raw}` };
  if (f.min !== undefined && n < f.min)
    return { ok: false, error: `${key}: must be >= ${f.min}, found ${raw}` };
  return { ok: true, value: n };
}

function parseFields(
  kv: Map<string, string>,
  fields: Record<string, Field>,
  extra: string[] = [],
): Result<Record<string, number>> {
  const allowed = [...Object.keys(fields), ...extra];
  for (const key of kv.keys()) {
    if (!allowed.includes(key))
      return { ok: false, error: `unknown key "${key}" (expected ${allowed.join(', ')})` };
  }
  const out: Record<string, number> = {};
  for (const [key, f] of Object.entries(fields)) {
    const raw = kv.get(key);
    if (raw === undefined) {
      if (f.required) return { ok: false, error: `missing key "${key}" (expected ${allowed.join(', ')})` };
      out[key] = f.default!;
      continue;
    }
    const n = parseNumber(key, raw, f);
    if (!n.ok) return n;
    out[key] = n.value;
  }
  return { ok: true, value: out };
}

/**
 * Parses the profile named by the `tidemark.dev/load-profile` label with the
 * parameters of the `tidemark.dev/load` annotation. Errors name the profile and
 * say what was expected, for the log.
 */
export function parseProfileSpec(kind: string, load: string | undefined): Result<ProfileSpec> {
  const fail = (msg: string): Result<ProfileSpec> => ({
    ok: false,
    error: `${PROFILE_LABEL}=${kind} ${LOAD_ANNOTATION}="${load ?? ''}": ${msg}`,
  });
  if (!(PROFILE_KINDS as readonly string[]).includes(kind))
    return fail(`unknown profile "${kind}" (expected one of ${PROFILE_KINDS.join(', ')})`);
  if (load === undefined) return fail(`missing annotation ${LOAD_ANNOTATION}`);
  const kv = parseKeyValues(load);
  if (!kv.ok) return fail(kv.error);
  if (kind === 'trace') {
    const nums = parseFields(kv.value, TRACE_NUMERIC, ['file']);
    if (!nums.ok) return fail(nums.error);
    const file = kv.value.get('file');
    if (!file) return fail('missing key "file" (a CSV with columns minute,requests)');
    const { speedup, scale, startMinute } = nums.value as {
      speedup: number;
      scale: number;
      startMinute: number;
    };
    if (!Number.isInteger(startMinute)) return fail(`startMinute: must be an integer, found ${startMinute}`);
    return { ok: true, value: { kind: 'trace', file, speedup, scale, startMinute } };
  }
  const k = kind as Exclude<ProfileKind, 'trace'>;
  const nums = parseFields(kv.value, NUMERIC_FIELDS[k]);
  if (!nums.ok) return fail(nums.error);
  return { ok: true, value: { kind: k, ...nums.value } as ProfileSpec };
}

/**
 * Parses a per-minute trace (`minute,requests`, header optional). Minutes may
 * start anywhere and have gaps (gaps are zero requests); the result is indexed
 * from the first minute.
 */
export function parseTraceCsv(text: string): Result<number[]> {
  const rows: Array<[number, number]> = [];
  const lines = text.split(/\r?\n/);
  let firstLine = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const isFirst = firstLine;
    firstLine = false;
    const cells = line.split(',').map((c) => c.trim());
    const minute = cells[0] === '' ? Number.NaN : Number(cells[0]);
    const requests = cells[1] === undefined || cells[1] === '' ? Number.NaN : Number(cells[1]);
    if (!Number.isFinite(minute) || !Number.isFinite(requests)) {
      if (isFirst) continue; // a header line
      return { ok: false, error: `line ${i + 1}: expected minute,requests, found "${line}"` };
    }
    if (requests < 0) return { ok: false, error: `line ${i + 1}: negative requests ${requests}` };
    if (rows.length > 0 && minute <= rows[rows.length - 1]![0])
      return {
        ok: false,
        error: `line ${i + 1}: minutes must increase (${minute} after ${rows[rows.length - 1]![0]})`,
      };
    rows.push([minute, requests]);
  }
  if (rows.length === 0) return { ok: false, error: 'no data rows' };
  const first = rows[0]![0];
  const span = rows[rows.length - 1]![0] - first + 1;
  if (!Number.isInteger(first) || span > 10_000_000) return { ok: false, error: 'minutes must be integers' };
  const out = new Array<number>(span).fill(0);
  for (const [m, r] of rows) {
    if (!Number.isInteger(m)) return { ok: false, error: `minute ${m} is not an integer` };
    out[m - first] = r;
  }
  return { ok: true, value: out };
}

/**
 * Offered requests per second `t` seconds after the profile started (t < 0 is
 * treated as 0). A trace replays minute by minute at `speedup` times real time
 * (one trace minute lasts 60/speedup s), at `requests/60 × scale` rps, and
 * loops when it ends. Never negative.
 */
export function evaluateProfile(p: Profile, t: number): number {
  const s = Math.max(0, t);
  switch (p.kind) {
    case 'constant':
      return p.rps;
    case 'step':
      return s < p.atSeconds ? p.before : p.after;
    case 'ramp':
      return s >= p.seconds ? p.to : p.from + ((p.to - p.from) * s) / p.seconds;
    case 'sine':
      return Math.max(0, p.base + p.amplitude * Math.sin((2 * Math.PI * s) / p.periodSeconds));
    case 'trace': {
      const n = p.perMinute.length;
      if (n === 0) return 0;
      const minute = (p.startMinute + Math.floor((s * p.speedup) / 60)) % n;
      return (p.perMinute[minute]! / 60) * p.scale;
    }
  }
}

/** One line for logs: what the deployment is now offered. */
export function describeProfile(p: ProfileSpec): string {
  switch (p.kind) {
    case 'constant':
      return `constant ${p.rps} rps`;
    case 'step':
      return `step ${p.before} → ${p.after} rps at ${p.atSeconds}s`;
    case 'ramp':
      return `ramp ${p.from} → ${p.to} rps over ${p.seconds}s`;
    case 'sine':
      return `sine ${p.base} ± ${p.amplitude} rps, period ${p.periodSeconds}s`;
    case 'trace':
      return `trace ${p.file} from minute ${p.startMinute}, ${p.speedup}× speed, ${p.scale}× rate`;
  }
}

/**
 * Parses a positive number from an optional annotation, falling back to a
 * default when absent.
 */
export function parsePositiveAnnotation(name: string, raw: string | undefined, dflt: number): Result<number> {
  if (raw === undefined) return { ok: true, value: dflt };
  const n = parseNumber(name, raw.trim(), { required: true, positive: true });
  return n.ok ? n : { ok: false, error: `${n.error}` };
}

/** Parses the optional RFC 3339 start time that pins the profile's clock. */
export function parseStartAnnotation(raw: string | undefined): Result<number | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  const ms = Date.parse(raw);
  if (!Number.isFinite(ms))
    return { ok: false, error: `${LOAD_START_ANNOTATION}: "${raw}" is not an RFC 3339 time` };
  return { ok: true, value: ms };
}
