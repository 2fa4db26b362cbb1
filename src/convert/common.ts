// What the HPA and ScaledObject mappings share: the result shape, notes, metric names and
// the HPA behavior (which a ScaledObject hands to the HPA it creates), defaults made explicit.
import { quantityToDecimal } from './quantity.ts';

/** `note`: informational, the policy behaves as described. `todo`: a person must act before applying. */
export interface Note {
  level: 'note' | 'todo';
  /** Where the comment goes in the output, e.g. ['spec', 'behavior']; the document's head when absent. */
  path?: (string | number)[];
  text: string;
}

export interface PolicyMetric {
  name: string;
  query: string;
  target: { type: 'AverageValue' | 'Value'; value: string };
  activationThreshold?: string;
}

export interface RatePolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface Rules {
  /** v1beta1's per-direction tolerance, written only where the HPA set one. */
  tolerance?: number;
  stabilizationWindowSeconds: number;
  cooldownSeconds: number;
  selectPolicy: string;
  policies: RatePolicy[];
}

export interface Behavior {
  tolerance: number;
  scaleUp: Rules;
  scaleDown: Rules;
  /** KEDA's cooldownPeriod, with minReplicaCount 0 only (from-keda.ts). */
  scaleToZeroDelaySeconds?: number;
}

/** A ScalingPolicy as convert writes it (the CRD validator checks it before it is printed). */
export interface PolicyObject {
  apiVersion: 'tidemark.dev/v1beta1';
  kind: 'ScalingPolicy';
  metadata: { name: string; namespace?: string };
  spec: {
    targetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    pollingIntervalSeconds: number;
    mode: 'Active' | 'Paused';
    prometheus: { address: string; insecureSkipVerify?: boolean };
    metrics: PolicyMetric[];
    behavior: Behavior;
    fallback?: { failureThreshold: number; replicas?: number };
  };
}

export interface Converted {
  /** e.g. "HorizontalPodAutoscaler shop/checkout" */
  source: string;
  policy: PolicyObject;
  notes: Note[];
}

/** An object that cannot become a policy at all (no target, bounds that contradict, …). */
export interface Failure {
  source: string;
  message: string;
}

export interface ConvertOptions {
  /** prometheus.address for HPAs (a ScaledObject names its own). */
  prometheus?: string;
  /** PromQL for adapter metrics, by metric name or OBJECT/METRIC. */
  queries?: Record<string, string>;
  /** Filled by lookupQuery with every metric name a --query could have named, so a mistyped one can be told. */
  asked?: Set<string>;
}

/** The operator's default allow-listed address (deploy/), used for HPAs when --prometheus is not given. */
export const DEFAULT_PROMETHEUS = 'http://prometheus.monitoring.svc:9090';

/** The HPA controller's defaults: --horizontal-pod-autoscaler-sync-period, -downscale-stabilization, -tolerance. */
export const HPA_SYNC_SECONDS = 15;
export const HPA_DOWNSCALE_STABILIZATION_SECONDS = 300;
export const HPA_TOLERANCE = 0.1;

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** An integer field, or undefined when absent; throws on anything else so bad input is named. */
export function int(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new ConvertError(`${field} must be a whole number, got ${JSON.stringify(v)}`);
  return n;
}

/** A problem that stops one object from converting; becomes a Failure with its source. */
export class ConvertError extends Error {}

/** A metric name the CRD accepts (^[a-z]([-a-z0-9_]*[a-z0-9])?$, ≤ 63), unique within `taken`. */
export function metricName(raw: string, taken: Set<string>): string {
  let base = raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 56)
    .replace(/[-_]+$/, '');
  if (base === '') base = 'metric';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

/** Label matchers for a metav1.LabelSelector, as PromQL would write them. */
export function selectorMatchers(selector: unknown): string[] {
  const s = obj(selector);
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj(s.matchLabels)))
    out.push(`${promLabel(k)}=${JSON.stringify(String(v))}`);
  for (const e of Array.isArray(s.matchExpressions) ? s.matchExpressions : []) {
    const { key, operator, values } = obj(e);
    const label = promLabel(String(key));
    const alt = (Array.isArray(values) ? values : []).map((x) => escapeRegex(String(x))).join('|');
    if (operator === 'In') out.push(`${label}=~${JSON.stringify(alt)}`);
    else if (operator === 'NotIn') out.push(`${label}!~${JSON.stringify(alt)}`);
    else if (operator === 'Exists') out.push(`${label}!=""`);
    else if (operator === 'DoesNotExist') out.push(`${label}=""`);
  }
  return out;
}

function promLabel(k: string): string {
  return k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(\d)/, '_$1');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The pods of a workload by name, as cAdvisor and kube-state-metrics label them: a Deployment's
 * pods are NAME-<hash>-<suffix>, a StatefulSet's NAME-<ordinal>; for other kinds a guess.
 */
export function podPattern(kind: string, name: string): string {
  const n = escapeRegex(name);
  if (kind === 'Deployment') return `${n}-[a-z0-9]+-[a-z0-9]+`;
  if (kind === 'StatefulSet') return `${n}-[0-9]+`;
  if (kind === 'ReplicaSet') return `${n}-[a-z0-9]+`;
  return `${n}-.+`;
}

const UP_DEFAULT: Rules = {
  stabilizationWindowSeconds: 0,
  cooldownSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
const DOWN_DEFAULT: Rules = {
  stabilizationWindowSeconds: HPA_DOWNSCALE_STABILIZATION_SECONDS,
  cooldownSeconds: 0,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

/**
 * An HPA `behavior` as a ScalingPolicy's, every default written out (the API server's
 * GenerateHPAScale{Up,Down}Rules; an unset scale-down window is the controller's 300 s).
 * Without a behavior the HPA applies its legacy rules instead: see legacyBehavior.
 */
export function convertBehavior(behavior: unknown, notes: Note[]): Behavior {
  if (!isObj(behavior)) return legacyBehavior(notes);
  const up = obj(behavior.scaleUp);
  const down = obj(behavior.scaleDown);
  return {
    tolerance: HPA_TOLERANCE,
    scaleUp: rules(up, UP_DEFAULT, 'scaleUp'),
    scaleDown: rules(down, DOWN_DEFAULT, 'scaleDown'),
  };
}

function rules(r: Obj, defaults: Rules, where: string): Rules {
  const policies = Array.isArray(r.policies)
    ? r.policies.map((p, i) => {
        const q = obj(p);
        return {
          type: q.type as RatePolicy['type'],
          value: int(q.value, `behavior.${where}.policies[${i}].value`) ?? 0,
          periodSeconds: int(q.periodSeconds, `behavior.${where}.policies[${i}].periodSeconds`) ?? 0,
        };
      })
    : structuredClone(defaults.policies);
  const tol = tolerance(r.tolerance, where);
  return {
    ...(tol !== undefined ? { tolerance: tol } : {}),
    stabilizationWindowSeconds:
      int(r.stabilizationWindowSeconds, `behavior.${where}.stabilizationWindowSeconds`) ??
      defaults.stabilizationWindowSeconds,
    cooldownSeconds: 0,
    selectPolicy: str(r.selectPolicy) ?? defaults.selectPolicy,
    policies,
  };
}

/** A direction's tolerance (HPAConfigurableTolerance), as v1beta1 has it too; unset stays unset. */
function tolerance(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const d = quantityToDecimal(v);
  if (d === undefined)
    throw new ConvertError(`behavior.${where}.tolerance is not a quantity: ${JSON.stringify(v)}`);
  return Number(d);
}

/**
 * The rules an HPA without `behavior` follows (normalizeDesiredReplicas in the controller's
 * horizontal.go): the highest recommendation of the last 300 s, and a scale-up limited to
 * max(2 × current, 4) per sync. Percent 100 + Pods 3 per 15 s gives max(2c, c + 3), which equals
 * that at every count but 2 (5 instead of 4); the window differs where the text says.
 */
export function legacyBehavior(notes: Note[]): Behavior {
  notes.push({
    level: 'note',
    path: ['spec', 'behavior'],
    text:
      'no `behavior` was set, so the HPA controller used its legacy rules: a scale-up limited to max(2 × current, 4) ' +
      'replicas per 15 s sync, and the highest recommendation of the last 300 s. This behavior reproduces them, except ' +
      'that from 2 replicas a scale-up may reach 5 (legacy: 4), and that the legacy rule also scaled *up* to the ' +
      'highest recommendation of those 300 s whenever the count was below it (after a rate-limited scale-up), where ' +
      'Tidemark follows the newest recommendation. See docs/convert.md.',
  });
  return {
    tolerance: HPA_TOLERANCE,
    scaleUp: {
      stabilizationWindowSeconds: 0,
      cooldownSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Percent', value: 100, periodSeconds: HPA_SYNC_SECONDS },
        { type: 'Pods', value: 3, periodSeconds: HPA_SYNC_SECONDS },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: HPA_DOWNSCALE_STABILIZATION_SECONDS,
      cooldownSeconds: 0,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: HPA_SYNC_SECONDS }],
    },
  };
}

/** Notes for fields this converter does not know, so that nothing is dropped in silence. */
export function unknownFields(o: Obj, known: readonly string[], where: string, notes: Note[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) {
      notes.push({
        level: 'todo',
        text: `\`${where}.${k}\` is not known to tidemark convert and was not converted; check whether the policy needs an equivalent.`,
      });
    }
  }
}

export interface Source {
  kind: string;
  apiVersion: string;
  name: string;
  namespace?: string;
}

export function sourceOf(o: Obj): Source {
  const md = obj(o.metadata);
  return {
    kind: String(o.kind ?? '?'),
    apiVersion: String(o.apiVersion ?? '?'),
    name: str(md.name) ?? '?',
    ...(str(md.namespace) ? { namespace: str(md.namespace)! } : {}),
  };
}

export function describeSource(s: Source): string {
  return `${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`;
}

/** The policy skeleton both mappings fill. */
export function policyFor(s: Source, spec: PolicyObject['spec']): PolicyObject {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s.name) || s.name.length > 253) {
    throw new ConvertError(`metadata.name ${JSON.stringify(s.name)} is not a valid object name`);
  }
  return {
    // The storage version: what the API server keeps, and what has per-direction tolerances.
    apiVersion: 'tidemark.dev/v1beta1',
    kind: 'ScalingPolicy',
    metadata: { name: s.name, ...(s.namespace ? { namespace: s.namespace } : {}) },
    spec,
  };
}

/** --query NAME=PROMQL, where NAME is the metric's name or OBJECT/METRIC for one object only. */
export function lookupQuery(options: ConvertOptions, object: string, names: string[]): string | undefined {
  const q = options.queries ?? {};
  for (const n of names) options.asked?.add(n).add(`${object}/${n}`);
  for (const n of names) {
    const v = q[`${object}/${n}`] ?? q[n];
    if (v !== undefined) return v;
  }
  return undefined;
}
