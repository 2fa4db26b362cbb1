// A tick's target read from memory: the Scale the API server would answer for
// GET …/scale, built from the target object as a watch delivered it. Pure: the
// watches themselves live in src/operator/target-watch.ts and are injected as a
// TargetCache.
import type { ScalableResource, ScalePaths } from '../kube/discovery.ts';

/** An autoscaling/v1 Scale, as the reconciler reads and writes it. */
export interface Scale {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; [k: string]: unknown };
  spec?: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}

/** What a target cache knows of one object. */
export type TargetLookup =
  /** The object, as last watched. */
  | { found: true; scale: Scale; object: unknown }
  /** The cache of its kind has synced and holds no such object. */
  | { found: false };

/**
 * The targets as watches hold them. `lookup` answers undefined when it cannot
 * answer from memory (not synced yet, a kind it cannot watch): the tick then
 * reads the scale from the API server, as it always did.
 */
export interface TargetCache {
  lookup(resource: ScalableResource, namespace: string, name: string): TargetLookup | undefined;
}

type Obj = Record<string, unknown>;

/** The segments of a CRD JSON path (`.spec.replicas` → spec, replicas); no array notation is allowed there. */
export function pathSegments(path: string): string[] {
  return path.replace(/^\./, '').split('.').filter(Boolean);
}

function valueAt(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const s of pathSegments(path)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Obj)[s];
  }
  return v;
}

function setAt(obj: Obj, path: string, value: unknown): void {
  const segs = pathSegments(path);
  let o = obj;
  for (const s of segs.slice(0, -1)) {
    const next = o[s];
    if (next === null || typeof next !== 'object') o[s] = {};
    o = o[s] as Obj;
  }
  const last = segs.at(-1);
  if (last !== undefined) o[last] = value;
}

function intAt(obj: unknown, path: string): number | undefined {
  const v = valueAt(obj, path);
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/**
 * A LabelSelector in the string form the API server puts into a Scale's
 * `status.selector` (apimachinery's LabelSelectorAsSelector(...).String()):
 * requirements sorted by key, set values sorted.
 */
export function formatLabelSelector(sel: LabelSelector): string {
  const reqs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push([k, `${k}=${v}`]);
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    const text =
      e.operator === 'In'
        ? `${e.key} in (${values})`
        : e.operator === 'NotIn'
          ? `${e.key} notin (${values})`
          : e.operator === 'Exists'
            ? e.key
            : `!${e.key}`;
    reqs.push([e.key, text]);
  }
  return reqs
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map((r) => r[1])
    .join(',');
}

function selectorAt(obj: unknown, path: string | undefined): string | undefined {
  if (!path) return undefined;
  const v = valueAt(obj, path);
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) return formatLabelSelector(v as LabelSelector);
  return undefined;
}

/**
 * The Scale of a target object, as the API server builds it for GET …/scale:
 * the counts at the scale paths (0 where absent), the selector as a string, and
 * the parent's identity and resourceVersion (the subresource shares it, so a
 * PUT with it is the same optimistic write as after a GET).
 */
export function scaleOf(obj: unknown, paths: ScalePaths): Scale {
  const m = ((obj as { metadata?: Obj } | undefined)?.metadata ?? {}) as Obj;
  const selector = selectorAt(obj, paths.labelSelectorPath);
  const metadata: Obj = {};
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp']) {
    if (m[k] !== undefined) metadata[k] = m[k];
  }
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata,
    spec: { replicas: intAt(obj, paths.specReplicasPath) ?? 0 },
    status: {
      replicas: intAt(obj, paths.statusReplicasPath) ?? 0,
      ...(selector ? { selector } : {}),
    },
  };
}

/** Status fields a tick reads beyond the scale (the ready count: level5-inputs.ts readyReplicasOf). */
const KEPT_STATUS = ['readyReplicas', 'observedGeneration', 'replicas'];

/**
 * The part of a target object a tick needs, so that a watch of thousands of
 * workloads keeps a few hundred bytes of each rather than the whole object
 * (pod template, managedFields): identity, the values at the scale paths, and
 * the status fields behind the ready count. scaleOf(compact(o)) = scaleOf(o).
 */
export function compactTarget(obj: unknown, paths: ScalePaths): Obj {
  const src = (obj ?? {}) as Obj;
  const m = (src.metadata ?? {}) as Obj;
  const out: Obj = { metadata: {} };
  if (src.apiVersion !== undefined) out.apiVersion = src.apiVersion;
  if (src.kind !== undefined) out.kind = src.kind;
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'generation']) {
    if (m[k] !== undefined) (out.metadata as Obj)[k] = m[k];
  }
  for (const p of [paths.specReplicasPath, paths.statusReplicasPath, paths.labelSelectorPath]) {
    if (!p) continue;
    const v = valueAt(src, p);
    if (v !== undefined) setAt(out, p, v);
  }
  const status = src.status;
  if (status && typeof status === 'object') {
    for (const k of KEPT_STATUS) {
      const v = (status as Obj)[k];
      if (v !== undefined) setAt(out, `.status.${k}`, v);
    }
  }
  return out;
}
