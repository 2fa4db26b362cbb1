// Generators for the fuzz tests: valid ScalingPolicy objects (as a user writes them, before
// defaults), the schema lookups the assertions need, and hostile values.
//
// The string generators take their patterns from the CRD itself, so a change to a pattern
// there changes what is generated here instead of silently drifting.
import fc from 'fast-check';
import { rootSchema, type SchemaNode } from '../../src/crd/schema.ts';

export const ROOT = rootSchema();

/**
 * The seed the property tests start from: fixed, so a failure reproduces (fast-check prints
 * it with the counterexample); TIDEMARK_FUZZ_SEED=n explores other cases.
 */
export const FUZZ_SEED = Number(process.env.TIDEMARK_FUZZ_SEED ?? 20261207);

/** The schema node at a dotted path with [i] for array items, or undefined when the schema has no such field. */
export function schemaAt(path: string, root: SchemaNode = ROOT): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const seg of splitPath(path)) {
    if (node === undefined) return undefined;
    if (seg === '[]') node = node.items;
    else node = node.properties && Object.hasOwn(node.properties, seg) ? node.properties[seg] : undefined;
  }
  return node;
}

/** 'spec.metrics[0].target' → ['spec', 'metrics', '[]', 'target']. */
export function splitPath(path: string): string[] {
  if (path === '') return [];
  return path
    .replace(/\[\d*\]/g, '.[]')
    .split('.')
    .filter((s) => s !== '');
}

function patternOf(path: string): RegExp {
  const p = schemaAt(path)?.pattern;
  if (typeof p !== 'string') throw new Error(`no pattern at ${path}`);
  return new RegExp(p);
}

function maxLengthOf(path: string): number {
  const n = schemaAt(path)?.maxLength;
  if (typeof n !== 'number') throw new Error(`no maxLength at ${path}`);
  return n;
}

/** Strings matching the CRD's pattern and length bounds at `path`. */
function matching(path: string): fc.Arbitrary<string> {
  const max = maxLengthOf(path);
  return fc
    .stringMatching(patternOf(path), { size: 'small' })
    .filter((s) => s.length >= 1 && s.length <= max);
}

const intIn = (min: number, max: number) => fc.integer({ min, max });
const numIn = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
/** Replica counts: mostly small (so bounds and rate limits bite), sometimes anywhere in the CRD's range. */
const replicaCount = (min: number, max: number) =>
  fc.oneof(
    { weight: 4, arbitrary: intIn(min, Math.min(max, min + 20)) },
    { weight: 1, arbitrary: intIn(min, max) },
  );

/** A record with some keys optional: each may be left out, as a user may leave it out. */
function partial<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<Partial<T>> {
  return fc.record(model, { requiredKeys: [], noNullPrototype: true }) as fc.Arbitrary<Partial<T>>;
}

const ratePolicy = fc.record({
  type: fc.constantFrom('Pods', 'Percent'),
  value: fc.oneof(intIn(1, 200), intIn(1, 100000)),
  periodSeconds: intIn(1, 1800),
});

const direction = partial({
  stabilizationWindowSeconds: intIn(0, 3600),
  cooldownSeconds: intIn(0, 3600),
  selectPolicy: fc.constantFrom('Max', 'Min', 'Disabled'),
  policies: fc.array(ratePolicy, { maxLength: 10 }),
});

const targetValue = fc.oneof(
  fc.oneof(intIn(1, 1000), intIn(1, 1_000_000_000)),
  matching('spec.metrics[].target.value'),
);
const activation = fc.oneof(
  fc.oneof(intIn(0, 100), intIn(0, 1_000_000_000)),
  matching('spec.metrics[].activationThreshold'),
);

/**
 * PromQL that parses (the validator checks queries with Prometheus's grammar, src/crd/promql.ts),
 * made from the same arbitrary string as before, so every other field is drawn as it was.
 */
const promql = fc
  .string({ minLength: 1, maxLength: 40 })
  .map((s) => `sum(rate(m_${s.replace(/[^A-Za-z0-9_]/g, '_')}_total[1m]))`);

const metric = fc.record(
  {
    name: matching('spec.metrics[].name'),
    query: promql,
    target: fc.record({ type: fc.constantFrom('AverageValue', 'Value'), value: targetValue }),
    activationThreshold: activation,
  },
  { requiredKeys: ['name', 'query', 'target'], noNullPrototype: true },
);

export type Raw = Record<string, unknown>;

/** A ScalingPolicy object that satisfies the CRD's schema and CEL rules, with optional fields left out at random. */
export const validPolicy: fc.Arbitrary<Raw> = fc
  .record({
    max: replicaCount(1, 100000),
    minChoice: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    fallbackChoice: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    withFallback: fc.boolean(),
    targetRef: fc.record({
      apiVersion: matching('spec.targetRef.apiVersion'),
      kind: matching('spec.targetRef.kind'),
      name: matching('spec.targetRef.name'),
    }),
    top: partial({
      pollingIntervalSeconds: intIn(1, 3600),
      mode: fc.constantFrom('Active', 'DryRun', 'Paused'),
    }),
    prometheus: fc.record(
      {
        address: fc.oneof(
          fc.constantFrom(
            'http://prometheus:9090',
            'https://prom.example.com/api/prom',
            'http://10.0.0.1:9090/',
          ),
          matching('spec.prometheus.address'),
        ),
        authSecretRef: fc.record({ name: matching('spec.prometheus.authSecretRef.name') }),
        insecureSkipVerify: fc.boolean(),
        timeoutSeconds: numIn(0.1, 60),
      },
      { requiredKeys: ['address'], noNullPrototype: true },
    ),
    metrics: fc.uniqueArray(metric, { minLength: 1, maxLength: 16, selector: (m) => m.name }),
    behavior: fc.option(partial({ tolerance: numIn(0, 1), scaleUp: direction, scaleDown: direction }), {
      nil: undefined,
    }),
    fallbackThreshold: fc.option(intIn(1, 100), { nil: undefined }),
    predictive: fc.option(
      partial({
        enabled: fc.boolean(),
        mode: fc.constantFrom('ForecastOnly', 'ScaleUpOnly', 'Full'),
        seasonPeriod: matching('spec.predictive.seasonPeriod'),
        weeklySeason: fc.boolean(),
        history: matching('spec.predictive.history'),
        podStartupSeconds: intIn(0, 3600),
        maxErrorPercent: numIn(1, 1000),
      }),
      { nil: undefined },
    ),
    anomaly: fc.option(
      partial({
        enabled: fc.boolean(),
        confirmationTicks: intIn(1, 100),
        deviationThreshold: numIn(1, 100),
        maxIneffectiveScaleUps: intIn(0, 100),
      }),
      { nil: undefined },
    ),
    autotune: fc.option(
      partial({
        enabled: fc.boolean(),
        maxScaleDownStabilizationSeconds: intIn(0, 3600),
        reversalThreshold: intIn(1, 100),
        windowSeconds: intIn(60, 86400),
      }),
      { nil: undefined },
    ),
    slo: fc.option(
      fc.record({
        latencyQuery: promql,
        objectiveSeconds: numIn(0.001, 3600),
        a: numIn(0.001, 1e9),
        b: numIn(0.001, 1e9),
      }),
      { nil: undefined },
    ),
  })
  .map((r) => {
    // Cross-field rules (CEL): min ≤ max, fallback.replicas within [min, max], slo.metric names an AverageValue metric.
    const spec: Raw = {
      targetRef: r.targetRef,
      maxReplicas: r.max,
      prometheus: r.prometheus,
      metrics: r.metrics,
      ...r.top,
    };
    if (r.minChoice !== undefined) spec.minReplicas = Math.floor(r.minChoice * r.max);
    const min = (spec.minReplicas as number | undefined) ?? 1;
    if (r.withFallback) {
      const fallback: Raw = {};
      if (r.fallbackThreshold !== undefined) fallback.failureThreshold = r.fallbackThreshold;
      if (r.fallbackChoice !== undefined)
        fallback.replicas = min + Math.floor(r.fallbackChoice * (r.max - min));
      spec.fallback = fallback;
    }
    if (r.behavior !== undefined) spec.behavior = r.behavior;
    if (r.predictive !== undefined) spec.predictive = r.predictive;
    if (r.anomaly !== undefined) spec.anomaly = r.anomaly;
    const averaged = r.metrics.find((m) => m.target.type === 'AverageValue');
    if (r.autotune !== undefined || (r.slo !== undefined && averaged !== undefined)) {
      const autotune: Raw = { ...r.autotune };
      if (r.slo !== undefined && averaged !== undefined) {
        autotune.slo = {
          metric: averaged.name,
          latencyQuery: r.slo.latencyQuery,
          objectiveSeconds: r.slo.objectiveSeconds,
          minTarget: Math.min(r.slo.a, r.slo.b),
          maxTarget: Math.max(r.slo.a, r.slo.b),
        };
      }
      spec.autotune = autotune;
    }
    // structuredClone: fc.record may build null-prototype objects; YAML and JSON never do.
    return structuredClone({
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'ScalingPolicy',
      metadata: { name: 'fuzz', namespace: 'ns' },
      spec,
    });
  });

/** Keys that have broken JavaScript object handling before: prototype pollution and inherited names. */
export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
] as const;

/** Object keys for garbage: hostile keys, the schema's own field names (to reach deeper), and anything. */
export const garbageKey = fc.oneof(
  fc.constantFrom(...HOSTILE_KEYS),
  fc.constantFrom(
    'spec',
    'metrics',
    'maxReplicas',
    'minReplicas',
    'target',
    'value',
    'behavior',
    'name',
    'type',
  ),
  fc.string({ maxLength: 12 }),
);

/** Values that are wrong for almost every field. */
export const garbageValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -0,
    -1,
    1e308,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER + 2,
    0.5,
    null,
    true,
    '',
    ' ',
    '50m',
    '1e3',
    'NaN',
    'Infinity',
    '-1',
    [],
    {},
  ),
  fc.anything({
    key: garbageKey,
    maxDepth: 3,
    withNullPrototype: true,
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withSparseArray: true,
    withBoxedValues: true,
  }),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 20 }),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => 'x'.repeat(n)),
);

const tolerance = numIn(0, 1);

/**
 * A capacity for a target value: at least the value and in the CRD's format (a positive decimal,
 * number or string). Values too large to add to exactly are given back as they are.
 */
function capacityFor(value: unknown, extra: number, asString: boolean): number | string {
  const v = Number(value);
  if (!(v <= 1e15)) return value as number | string;
  const c = Math.ceil(v) + extra;
  return asString ? `${c}.25` : c;
}

/** Each AverageValue metric of `policy` may get a capacity (Value metrics never do: CEL rejects it). */
function withCapacities(policy: Raw, draws: readonly (readonly [boolean, number, boolean])[]): void {
  const metrics = (policy.spec as Raw).metrics as { target: Raw }[];
  metrics.forEach((m, i) => {
    const [on, extra, asString] = draws[i % draws.length]!;
    if (on && m.target.type === 'AverageValue')
      m.target.capacity = capacityFor(m.target.value, extra, asString);
  });
}

/**
 * A v1beta1 ScalingPolicy valid in its schema: a valid v1alpha1 spec plus what only v1beta1 has
 * (per-direction tolerances, per-metric capacities), each left out at random.
 */
export const validBetaPolicy: fc.Arbitrary<Raw> = fc
  .record({
    policy: validPolicy,
    up: fc.option(tolerance, { nil: undefined }),
    down: fc.option(tolerance, { nil: undefined }),
    // behavior.scaleToZeroDelaySeconds: valid only with minReplicas 0, which it then sets.
    delay: fc.option(fc.oneof(fc.constant(0), fc.constant(86400), intIn(0, 86400)), { nil: undefined }),
    capacities: fc.array(
      fc.tuple(fc.boolean(), fc.oneof(fc.constant(0), intIn(0, 1_000_000)), fc.boolean()),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  })
  .map(({ policy, up, down, delay, capacities }) => {
    const out: Raw = structuredClone({ ...policy, apiVersion: 'tidemark.dev/v1beta1' });
    const spec = out.spec as Raw;
    if (up !== undefined || down !== undefined) {
      const behavior = (spec.behavior ?? {}) as Raw;
      if (up !== undefined) behavior.scaleUp = { ...(behavior.scaleUp as Raw), tolerance: up };
      if (down !== undefined) behavior.scaleDown = { ...(behavior.scaleDown as Raw), tolerance: down };
      spec.behavior = behavior;
    }
    if (delay !== undefined) {
      // Lowering minReplicas keeps min ≤ max and fallback.replicas ≥ min.
      spec.minReplicas = 0;
      spec.behavior = { ...(spec.behavior as Raw | undefined), scaleToZeroDelaySeconds: delay };
    }
    withCapacities(out, capacities);
    return out;
  });
