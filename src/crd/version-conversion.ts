// Conversion between the served versions of ScalingPolicy, pure (no I/O): the webhook
// (src/operator/webhook.ts) and `tidemark validate` call it.
//
// v1beta1 is v1alpha1 plus per-direction tolerances and per-metric capacities, so v1alpha1 →
// v1beta1 only renames the version, and v1beta1 → v1alpha1 moves what v1alpha1 cannot express into the
// annotation BETA_FIELDS_ANNOTATION, which the way back restores, as the Kubernetes API
// does for fields an older version lacks. Every round trip gives back the object it was
// given (test/crd/version-conversion.test.ts fuzzes both directions).

export const GROUP = 'tidemark.dev';
export const V1ALPHA1 = `${GROUP}/v1alpha1`;
export const V1BETA1 = `${GROUP}/v1beta1`;
export const API_VERSIONS: readonly string[] = [V1ALPHA1, V1BETA1];
export const BETA_FIELDS_ANNOTATION = `${GROUP}/v1beta1-fields`;

/** Fields v1beta1 has and v1alpha1 lacks, as paths from the object's root (besides CAPACITY_KEY's). */
export const BETA_ONLY_FIELDS: readonly (readonly string[])[] = [
  ['spec', 'behavior', 'scaleUp', 'tolerance'],
  ['spec', 'behavior', 'scaleDown', 'tolerance'],
];

/**
 * The annotation's key for spec.metrics[].target.capacity of the metric named `name`. By name,
 * not by index: names are unique, and a v1alpha1 client may reorder or remove metrics.
 */
export function capacityKey(name: string): string {
  return `spec.metrics[${name}].target.capacity`;
}
const CAPACITY_KEY = /^spec\.metrics\[([^\]]+)\]\.target\.capacity$/;

type Obj = Record<string, unknown>;

/** What travels in the annotation: the beta-only fields, and the annotation's value before, if it had one. */
interface Carried {
  fields: Record<string, unknown>;
  prior?: string;
}

export class ConversionError extends Error {}

/** `object` as `apiVersion` (one of API_VERSIONS); a copy, the input is left alone. */
export function convertPolicy(object: unknown, apiVersion: string): Obj {
  if (!isObj(object)) throw new ConversionError('object is not a JSON object');
  const from = object.apiVersion;
  if (typeof from !== 'string' || !API_VERSIONS.includes(from)) {
    throw new ConversionError(`cannot convert from apiVersion ${String(from)}`);
  }
  if (!API_VERSIONS.includes(apiVersion))
    throw new ConversionError(`cannot convert to apiVersion ${apiVersion}`);
  const copy = structuredClone(object);
  if (from === apiVersion) return copy;
  return apiVersion === V1BETA1 ? alphaToBeta(copy) : betaToAlpha(copy);
}

function alphaToBeta(obj: Obj): Obj {
  obj.apiVersion = V1BETA1;
  const annotations = annotationsOf(obj);
  const carried = decode(annotations?.[BETA_FIELDS_ANNOTATION]);
  if (annotations === undefined || carried === undefined) return obj;
  for (const path of BETA_ONLY_FIELDS) {
    const key = path.join('.');
    if (Object.hasOwn(carried.fields, key)) setPath(obj, path, carried.fields[key]);
  }
  restoreCapacities(obj, carried.fields);
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
  Object.assign(fields, takeCapacities(obj));
  const existing = annotationsOf(obj)?.[BETA_FIELDS_ANNOTATION];
  const prior = typeof existing === 'string' ? existing : undefined;
  // An annotation the way back would misread as ours is carried too, so it comes back as it was.
  const needed = Object.keys(fields).length > 0 || (prior !== undefined && decode(prior) !== undefined);
  if (!needed) return obj;
  setPath(
    obj,
    ['metadata', 'annotations', BETA_FIELDS_ANNOTATION],
    encode({ fields, ...(prior !== undefined ? { prior } : {}) }),
  );
  return obj;
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

/** A capacity whose metric is gone has nothing to belong to, and is dropped. */
function restoreCapacities(obj: Obj, fields: Record<string, unknown>): void {
  const targets = targetsByName(obj);
  for (const [key, value] of Object.entries(fields)) {
    const name = CAPACITY_KEY.exec(key)?.[1];
    const target = name === undefined ? undefined : targets.get(name);
    if (target !== undefined) target.capacity = value;
  }
}

/**
 * The annotation's value: fields in BETA_ONLY_FIELDS order, then capacities by key, then
 * prior, so one content has one text.
 */
function encode(c: Carried): string {
  const fields: Record<string, unknown> = {};
  for (const path of BETA_ONLY_FIELDS) {
    const key = path.join('.');
    if (Object.hasOwn(c.fields, key)) fields[key] = c.fields[key];
  }
  for (const key of Object.keys(c.fields)
    .filter((k) => CAPACITY_KEY.test(k))
    .sort()) {
    fields[key] = c.fields[key];
  }
  return JSON.stringify(c.prior !== undefined ? { fields, prior: c.prior } : { fields });
}

/**
 * The carried fields, or undefined when `value` is not exactly what betaToAlpha writes
 * (hand-written or foreign text is then left alone, which keeps the round trip exact).
 */
function decode(value: unknown): Carried | undefined {
  if (typeof value !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isObj(parsed) || !isObj(parsed.fields)) return undefined;
  if (parsed.prior !== undefined && typeof parsed.prior !== 'string') return undefined;
  const carried: Carried = {
    fields: parsed.fields,
    ...(parsed.prior !== undefined ? { prior: parsed.prior } : {}),
  };
  const meaningful =
    Object.keys(carried.fields).length > 0 ||
    (carried.prior !== undefined && decode(carried.prior) !== undefined);
  if (!meaningful || encode(carried) !== value) return undefined;
  return carried;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function annotationsOf(obj: Obj): Obj | undefined {
  const metadata = obj.metadata;
  if (!isObj(metadata) || !isObj(metadata.annotations)) return undefined;
  return metadata.annotations;
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
  let node: unknown = obj;
  for (const key of path.slice(0, -1)) {
    if (!isObj(node)) return { found: false };
    node = node[key];
  }
  const last = path[path.length - 1]!;
  if (!isObj(node) || !Object.hasOwn(node, last)) return { found: false };
  const value = node[last];
  delete node[last];
  return { found: true, value };
}
