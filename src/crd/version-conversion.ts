// Conversion between the served versions of ScalingPolicy, pure (no I/O): the webhook
// (src/webhook/review.ts) and `tidemark validate` call it.
//
// v1beta1 is v1alpha1 plus per-direction tolerances, per-metric capacities and
// behavior.scaleToZeroDelaySeconds. v1beta1 →
// v1alpha1 moves what v1alpha1 cannot express (the hidden fields) into the annotation
// BETA_FIELDS_ANNOTATION, with the v1alpha1-visible value they were kept beside, and the way
// back restores them, as the Kubernetes API does for fields an older version lacks. So a
// v1beta1 object comes back exactly from a trip through v1alpha1, and so does a v1alpha1
// object a v1alpha1 client read and wrote back unchanged (test/crd/version-conversion.test.ts
// fuzzes both directions).
//
// What a v1alpha1 write means for the hidden fields (docs/upgrading.md): what the writer
// changed and can see wins over a hidden value that would contradict it, because the
// writer could not know the hidden value was there.
// - A changed behavior.tolerance drops both per-direction tolerances (they would override it).
// - A removed behavior.scaleUp / scaleDown drops its tolerance.
// - A capacity stays with its metric (by name) while it remains valid: it is dropped when the
//   metric is gone, is no longer AverageValue, or its target.value rose above the capacity.
// - behavior.scaleToZeroDelaySeconds stays while minReplicas is 0, and is dropped when the
//   write raised minReplicas (v1beta1 rejects the delay there: it would never apply).
// Hidden values that break v1beta1's bounds are dropped too: the annotation is text anyone
// can write, and CRD CEL rules cannot see annotations (only metadata.name and generateName),
// so the v1alpha1 schema cannot check it. Dropping, not failing, because a conversion
// webhook's failure fails the whole request: objects still stored as v1alpha1 are converted
// on every LIST and WATCH, and one bad annotation would then hide every policy from the
// operator. Each drop is reported with its reason (convertPolicy's `dropped`), and the
// webhook logs it.

export const GROUP = 'tidemark.dev';
export const V1ALPHA1 = `${GROUP}/v1alpha1`;
export const V1BETA1 = `${GROUP}/v1beta1`;
export const API_VERSIONS: readonly string[] = [V1ALPHA1, V1BETA1];
export const BETA_FIELDS_ANNOTATION = `${GROUP}/v1beta1-fields`;

/** The per-direction tolerances, v1beta1-only fields at fixed paths (capacities: capacityKey). */
export const BETA_ONLY_FIELDS: readonly (readonly string[])[] = [
  ['spec', 'behavior', 'scaleUp', 'tolerance'],
  ['spec', 'behavior', 'scaleDown', 'tolerance'],
];
/** behavior.scaleToZeroDelaySeconds: hidden like the tolerances, but independent of behavior.tolerance. */
const DELAY_PATH = ['spec', 'behavior', 'scaleToZeroDelaySeconds'] as const;
const DELAY_KEY = DELAY_PATH.join('.');
/** The v1alpha1 field the per-direction tolerances override: a change to it drops them. */
const TOLERANCE_PATH = ['spec', 'behavior', 'tolerance'] as const;
const TOLERANCE_KEY = TOLERANCE_PATH.join('.');

/** v1beta1's bounds on what the annotation carries (test/crd/version-conversion.test.ts checks them against the CRD). */
export const HIDDEN_BOUNDS = {
  tolerance: { minimum: 0, maximum: 1 },
  scaleToZeroDelaySeconds: { minimum: 0, maximum: 86400 },
  capacity: {
    minimum: 1,
    maxLength: 32,
    pattern: '^(0*[1-9][0-9]*(\\.[0-9]+)?|0*\\.[0-9]*[1-9][0-9]*)$',
  },
} as const;
const DECIMAL = new RegExp(HIDDEN_BOUNDS.capacity.pattern);

/**
 * The annotation's key for spec.metrics[].target.capacity of the metric named `name`. By name,
 * not by index: names are unique, and a v1alpha1 client may reorder or remove metrics.
 */
export function capacityKey(name: string): string {
  return `spec.metrics[${name}].target.capacity`;
}
const CAPACITY_KEY = /^spec\.metrics\[([^\]]+)\]\.target\.capacity$/;

type Obj = Record<string, unknown>;

/**
 * What travels in the annotation: the hidden fields, what the v1alpha1-visible field they
 * depend on said when they were hidden (`seen`; a key is absent when the field was), and the
 * annotation's value before, if it had one.
 */
interface Carried {
  fields: Record<string, unknown>;
  seen: Record<string, unknown>;
  prior?: string;
}

export class ConversionError extends Error {}

/**
 * `object` as `apiVersion` (one of API_VERSIONS); a copy, the input is left alone. Hidden
 * values that cannot be restored on the way to v1beta1 are pushed to `dropped`, each as a
 * sentence saying which and why.
 */
export function convertPolicy(object: unknown, apiVersion: string, dropped: string[] = []): Obj {
  if (!isObj(object)) throw new ConversionError('object is not a JSON object');
  const from = object.apiVersion;
  if (typeof from !== 'string' || !API_VERSIONS.includes(from)) {
    throw new ConversionError(`cannot convert from apiVersion ${String(from)}`);
  }
  if (!API_VERSIONS.includes(apiVersion))
    throw new ConversionError(`cannot convert to apiVersion ${apiVersion}`);
  const copy = structuredClone(object);
  if (from === apiVersion) return copy;
  return apiVersion === V1BETA1 ? alphaToBeta(copy, dropped) : betaToAlpha(copy);
}

function alphaToBeta(obj: Obj, dropped: string[]): Obj {
  obj.apiVersion = V1BETA1;
  const annotations = annotationsOf(obj);
  const carried = decode(annotations?.[BETA_FIELDS_ANNOTATION]);
  if (annotations === undefined || carried === undefined) return obj;
  restoreTolerances(obj, carried, dropped);
  restoreCapacities(obj, carried.fields, dropped);
  restoreDelay(obj, carried.fields, dropped);
  if (carried.prior !== undefined) annotations[BETA_FIELDS_ANNOTATION] = carried.prior;
  else delete annotations[BETA_FIELDS_ANNOTATION];
  // Kubernetes serializes empty annotations as absent: keep it that way.
  if (Object.keys(annotations).length === 0) delete (obj.metadata as Obj).annotations;
  return obj;
}

function betaToAlpha(obj: Obj): Obj {
  obj.apiVersion = V1ALPHA1;
  const fields: Record<string, unknown> = {};
  for (const path of BETA_ONLY_FIELDS) {
    const taken = takePath(obj, path);
    if (taken.found) fields[path.join('.')] = taken.value;
  }
  const seen: Record<string, unknown> = {};
  const tolerance = getPath(obj, TOLERANCE_PATH);
  if (Object.keys(fields).length > 0 && tolerance.found) seen[TOLERANCE_KEY] = tolerance.value;
  const delay = takePath(obj, DELAY_PATH);
  if (delay.found) fields[DELAY_KEY] = delay.value;
  Object.assign(fields, takeCapacities(obj));
  const existing = annotationsOf(obj)?.[BETA_FIELDS_ANNOTATION];
  const prior = typeof existing === 'string' ? existing : undefined;
  // An annotation the way back would misread as ours is carried too, so it comes back as it was.
  const needed = Object.keys(fields).length > 0 || (prior !== undefined && decode(prior) !== undefined);
  if (!needed) return obj;
  setPath(
    obj,
    ['metadata', 'annotations', BETA_FIELDS_ANNOTATION],
    encode({ fields, seen, ...(prior !== undefined ? { prior } : {}) }),
  );
  return obj;
}

/** The per-direction tolerances back in place, unless the v1alpha1 write contradicts them. */
function restoreTolerances(obj: Obj, carried: Carried, dropped: string[]): void {
  const paths = BETA_ONLY_FIELDS.filter((p) => Object.hasOwn(carried.fields, p.join('.')));
  if (paths.length === 0) return;
  const now = getPath(obj, TOLERANCE_PATH);
  const then = Object.hasOwn(carried.seen, TOLERANCE_KEY);
  if (now.found !== then || (then && !sameJson(now.value, carried.seen[TOLERANCE_KEY]))) {
    const names = paths.map((p) => p.join('.')).join(' and ');
    dropped.push(
      `${names} dropped: ${TOLERANCE_KEY} was changed through v1alpha1 (${shown(then, carried.seen[TOLERANCE_KEY])} → ${shown(now.found, now.value)}), and now applies to both directions`,
    );
    return;
  }
  for (const path of paths) restoreTolerance(obj, path, carried.fields[path.join('.')], dropped);
}

function restoreTolerance(obj: Obj, path: readonly string[], value: unknown, dropped: string[]): void {
  const name = path.join('.');
  const parent = getPath(obj, path.slice(0, -1));
  if (!isObj(parent.value)) {
    dropped.push(`${name} dropped: ${path.slice(0, -1).join('.')} was removed through v1alpha1`);
    return;
  }
  const { minimum, maximum } = HIDDEN_BOUNDS.tolerance;
  if (typeof value !== 'number' || !(value >= minimum && value <= maximum)) {
    dropped.push(`${name} dropped: ${JSON.stringify(value)} is not a number from ${minimum} to ${maximum}`);
    return;
  }
  parent.value[path[path.length - 1]!] = value;
}

/** The delay back in place, unless a v1alpha1 write made it invalid (minReplicas raised, block removed, out of bounds). */
function restoreDelay(obj: Obj, fields: Record<string, unknown>, dropped: string[]): void {
  if (!Object.hasOwn(fields, DELAY_KEY)) return;
  const why = delayProblem(obj, fields[DELAY_KEY]);
  if (why !== undefined) {
    dropped.push(`${DELAY_KEY} dropped: ${why}`);
    return;
  }
  (getPath(obj, DELAY_PATH.slice(0, -1)).value as Obj)[DELAY_PATH[2]] = fields[DELAY_KEY];
}

function delayProblem(obj: Obj, value: unknown): string | undefined {
  const { minimum, maximum } = HIDDEN_BOUNDS.scaleToZeroDelaySeconds;
  if (!(Number.isInteger(value) && (value as number) >= minimum && (value as number) <= maximum))
    return `${JSON.stringify(value)} is not an integer from ${minimum} to ${maximum}`;
  if (!isObj(getPath(obj, DELAY_PATH.slice(0, -1)).value))
    return 'spec.behavior was removed through v1alpha1';
  // minReplicas defaults to 1: absent, the write left no 0 for the delay to lead to.
  const min = getPath(obj, ['spec', 'minReplicas']);
  if (min.value !== 0) {
    const shownMin = min.found ? JSON.stringify(min.value) : 'unset (1)';
    return `minReplicas is ${shownMin} (changed through v1alpha1), and the delay applies only with minReplicas 0`;
  }
  return undefined;
}

/** The targets of spec.metrics by metric name (items that are not objects with a name are skipped). */
function targetsByName(obj: Obj): Map<string, Obj> {
  const out = new Map<string, Obj>();
  const metrics = isObj(obj.spec) ? obj.spec.metrics : undefined;
  if (!Array.isArray(metrics)) return out;
  for (const m of metrics) {
    if (isObj(m) && typeof m.name === 'string' && isObj(m.target)) out.set(m.name, m.target);
  }
  return out;
}

function takeCapacities(obj: Obj): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [name, target] of targetsByName(obj)) {
    if (!Object.hasOwn(target, 'capacity')) continue;
    fields[capacityKey(name)] = target.capacity;
    delete target.capacity;
  }
  return fields;
}

function restoreCapacities(obj: Obj, fields: Record<string, unknown>, dropped: string[]): void {
  const targets = targetsByName(obj);
  for (const [key, value] of Object.entries(fields)) {
    const name = CAPACITY_KEY.exec(key)?.[1];
    if (name === undefined) continue;
    const target = targets.get(name);
    const why = target === undefined ? `there is no metric named ${name}` : capacityProblem(target, value);
    if (why !== undefined) dropped.push(`${key} dropped: ${why}`);
    else if (target !== undefined) target.capacity = value;
  }
}

/** Why `capacity` cannot sit on `target` in v1beta1 (the CRD's rules), or undefined when it can. */
function capacityProblem(target: Obj, capacity: unknown): string | undefined {
  if (target.type !== 'AverageValue') {
    return `the metric's target type is ${JSON.stringify(target.type)}, and a capacity applies to AverageValue only`;
  }
  if (!isDecimal(capacity))
    return `${JSON.stringify(capacity)} is not a positive decimal such as "80" or "0.8"`;
  if (!(Number(capacity) >= Number(target.value))) {
    return `${JSON.stringify(capacity)} is below target.value ${JSON.stringify(target.value)}`;
  }
  return undefined;
}

/** A positive decimal as the CRD's int-or-string fields take it. */
function isDecimal(v: unknown): boolean {
  const { minimum, maxLength } = HIDDEN_BOUNDS.capacity;
  if (typeof v === 'number') return Number.isInteger(v) && v >= minimum;
  return typeof v === 'string' && v.length <= maxLength && DECIMAL.test(v);
}

/** The annotation's value in one canonical text per content: fields in a fixed order, then seen, then prior. */
function encode(c: Carried): string {
  const fields: Record<string, unknown> = {};
  for (const path of BETA_ONLY_FIELDS) {
    const key = path.join('.');
    if (Object.hasOwn(c.fields, key)) fields[key] = c.fields[key];
  }
  if (Object.hasOwn(c.fields, DELAY_KEY)) fields[DELAY_KEY] = c.fields[DELAY_KEY];
  for (const key of Object.keys(c.fields)
    .filter((k) => CAPACITY_KEY.test(k))
    .sort()) {
    fields[key] = c.fields[key];
  }
  // seen only beside a tolerance, as betaToAlpha writes it: other text is not ours.
  const tolerances = BETA_ONLY_FIELDS.some((p) => Object.hasOwn(fields, p.join('.')));
  const seen =
    tolerances && Object.hasOwn(c.seen, TOLERANCE_KEY) ? { [TOLERANCE_KEY]: c.seen[TOLERANCE_KEY] } : {};
  return JSON.stringify(c.prior !== undefined ? { fields, seen, prior: c.prior } : { fields, seen });
}

/**
 * The carried fields, or undefined when `value` is not exactly what betaToAlpha writes
 * (hand-written or foreign text, or an older operator's, which has no `seen`, is then left
 * alone, which keeps the round trip exact).
 */
function decode(value: unknown): Carried | undefined {
  if (typeof value !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isObj(parsed) || !isObj(parsed.fields) || !isObj(parsed.seen)) return undefined;
  if (parsed.prior !== undefined && typeof parsed.prior !== 'string') return undefined;
  const carried: Carried = {
    fields: parsed.fields,
    seen: parsed.seen,
    ...(parsed.prior !== undefined ? { prior: parsed.prior } : {}),
  };
  const meaningful =
    Object.keys(carried.fields).length > 0 ||
    (carried.prior !== undefined && decode(carried.prior) !== undefined);
  if (!meaningful || encode(carried) !== value) return undefined;
  return carried;
}

function shown(found: boolean, value: unknown): string {
  return found ? JSON.stringify(value) : 'unset';
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function annotationsOf(obj: Obj): Obj | undefined {
  const metadata = obj.metadata;
  if (!isObj(metadata) || !isObj(metadata.annotations)) return undefined;
  return metadata.annotations;
}

function getPath(obj: Obj, path: readonly string[]): { found: boolean; value?: unknown } {
  let node: unknown = obj;
  for (const key of path) {
    if (!isObj(node) || !Object.hasOwn(node, key)) return { found: false };
    node = node[key];
  }
  return { found: true, value: node };
}

function setPath(obj: Obj, path: readonly string[], value: unknown): void {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    if (!isObj(node[key])) node[key] = {};
    node = node[key] as Obj;
  }
  node[path[path.length - 1]!] = value;
}

function takePath(obj: Obj, path: readonly string[]): { found: boolean; value?: unknown } {
  const parent = getPath(obj, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (!isObj(parent.value) || !Object.hasOwn(parent.value, last)) return { found: false };
  const value = parent.value[last];
  delete parent.value[last];
  return { found: true, value };
}
