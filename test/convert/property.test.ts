// Properties over generated HPAs and ScaledObjects, sensible and not: convert never throws,
// accounts for every object (converted, failed with a reason, or skipped: never dropped), and
// every policy it emits passes the CRD's own validator and prints as the same object.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { convertObjects, renderPolicy } from '../../src/convert/index.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';

const SEED = 20261202;

/** Mostly sensible values, sometimes not: both paths must hold. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 9 }, { arbitrary: bad, weight: 1 });
const quantity = mostly<unknown>(
  fc.oneof(
    fc.constantFrom('500m', '1', '1.5k', '2Gi', '1e3', '0.0001'),
    fc.integer({ min: 1, max: 1_000_000 }).map(String),
  ),
  fc.oneof(
    fc.constantFrom('0', '-1', 'abc', '', '1e99'),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 1e7 }),
  ),
);
const name = mostly(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/),
  fc.constantFrom('', 'Bad_Name', 'x'.repeat(300)),
);
const int = (lo: number, hi: number, badLo: number, badHi: number) =>
  mostly(fc.integer({ min: lo, max: hi }), fc.integer({ min: badLo, max: badHi }));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const rules = fc.record(
  {
    stabilizationWindowSeconds: int(0, 3600, -10, 4000),
    selectPolicy: mostly(fc.constantFrom('Max', 'Min', 'Disabled'), fc.constant('Bogus')),
    tolerance: mostly(fc.constantFrom('0.05', '0.1', '0.2'), fc.constant('x')),
    policies: fc.array(
      fc.record({
        type: mostly(fc.constantFrom('Pods', 'Percent'), fc.constant('X')),
        value: int(1, 1000, -1, 200_000),
        periodSeconds: int(1, 1800, 0, 2000),
      }),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
);
const target = fc.record({
  type: mostly(fc.constantFrom('Value', 'AverageValue', 'Utilization'), fc.constant('Bogus')),
  value: quantity,
  averageValue: quantity,
  averageUtilization: int(1, 300, -1, 0),
});
const metric = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant('Resource'),
      resource: fc.record({ name: fc.constantFrom('cpu', 'memory', 'gpu'), target }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('ContainerResource'),
      containerResource: fc.record({ name: fc.constantFrom('cpu', 'memory'), container: name, target }),
    }),
    weight: 3,
  },
  ...(['External', 'Pods', 'Object'] as const).map((type) => ({
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant(type),
      [type.toLowerCase()]: fc.record({
        metric: fc.record({ name: fc.oneof(name, fc.constantFrom('nginx.requests/s', '9lives')) }),
        describedObject: fc.record({ kind: fc.constantFrom('Ingress', 'Service'), name }),
        target,
      }),
    }),
  })),
  { arbitrary: fc.record({ type: fc.constantFrom('Bogus', undefined) }), weight: 1 },
);
const targetRef = fc.record(
  {
    apiVersion: mostly(fc.constantFrom('apps/v1', 'argoproj.io/v1alpha1'), fc.constant('Bad Version')),
    kind: mostly(fc.constantFrom('Deployment', 'StatefulSet', 'Rollout'), fc.constant('lower')),
    name,
  },
  { requiredKeys: ['name'] },
);
const hpa = fc.record({
  apiVersion: mostly(
    fc.constantFrom('autoscaling/v2', 'autoscaling/v2beta2', 'autoscaling/v1'),
    fc.constant('autoscaling/v2beta1'),
  ),
  kind: fc.constant('HorizontalPodAutoscaler'),
  metadata: fc.record({ name, namespace: maybe(name) }),
  spec: fc.record(
    {
      scaleTargetRef: targetRef,
      minReplicas: int(0, 5, -1, 200),
      maxReplicas: int(5, 500, 0, 200_000),
      targetCPUUtilizationPercentage: int(1, 200, 0, 0),
      metrics: fc.array(metric, { maxLength: 3 }),
      behavior: fc.record({ scaleUp: rules, scaleDown: rules }, { requiredKeys: [] }),
    },
    { requiredKeys: ['scaleTargetRef'] },
  ),
});
const trigger = fc.oneof(
  fc.record(
    {
      type: fc.constant('prometheus'),
      name: name,
      metricType: mostly(fc.constantFrom('AverageValue', 'Value'), fc.constant('Utilization')),
      metadata: fc.record(
        {
          serverAddress: mostly(
            fc.constantFrom('http://prometheus:9090', 'https://thanos.example/api'),
            fc.constant('not a url'),
          ),
          query: fc.constantFrom('sum(up)', 'sum(rate(x[1m]))'),
          threshold: quantity,
          activationThreshold: quantity,
          ignoreNullValues: fc.constantFrom('true', 'false'),
          unsafeSsl: fc.constantFrom('true', 'false'),
          customHeaders: fc.constant('X-Scope-OrgID=a'),
        },
        { requiredKeys: ['serverAddress', 'query'] },
      ),
      authenticationRef: fc.record({ name }),
    },
    { requiredKeys: ['type', 'metadata'] },
  ),
  fc.record({
    type: fc.constantFrom('cpu', 'memory'),
    metricType: fc.constantFrom('Utilization', 'AverageValue'),
    metadata: fc.record({ value: quantity }),
  }),
  fc.record({
    type: fc.constantFrom('kafka', 'rabbitmq', 'cron'),
    metadata: fc.record({ lagThreshold: quantity }, { requiredKeys: [] }),
  }),
);
const scaledObject = fc.record({
  apiVersion: mostly(fc.constant('keda.sh/v1alpha1'), fc.constant('keda.sh/v1beta9')),
  kind: fc.constant('ScaledObject'),
  metadata: fc.record({
    name,
    namespace: maybe(name),
    annotations: fc.record(
      {
        'autoscaling.keda.sh/paused': fc.constantFrom('true', 'false'),
        'autoscaling.keda.sh/paused-replicas': fc.constantFrom('0', '3'),
      },
      { requiredKeys: [] },
    ),
  }),
  spec: fc.record(
    {
      scaleTargetRef: targetRef,
      minReplicaCount: int(0, 5, -1, 50),
      maxReplicaCount: int(5, 500, 0, 200_000),
      idleReplicaCount: fc.constant(0),
      pollingInterval: fc.integer({ min: -5, max: 5000 }),
      cooldownPeriod: fc.integer({ min: -5, max: 10_000 }),
      initialCooldownPeriod: fc.integer({ min: 0, max: 600 }),
      fallback: fc.record(
        {
          failureThreshold: fc.integer({ min: -1, max: 500 }),
          replicas: fc.integer({ min: -1, max: 300_000 }),
          behavior: fc.constantFrom(
            'static',
            'currentReplicas',
            'currentReplicasIfHigher',
            'currentReplicasIfLower',
            'weird',
          ),
        },
        { requiredKeys: [] },
      ),
      advanced: fc.record(
        {
          horizontalPodAutoscalerConfig: fc.record({
            behavior: fc.record({ scaleUp: rules, scaleDown: rules }, { requiredKeys: [] }),
          }),
          scalingModifiers: fc.record({
            formula: fc.constantFrom('a + b', 'count([a],{#>1})'),
            target: fc.constant('5'),
          }),
          restoreToOriginalReplicaCount: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      triggers: fc.array(trigger, { minLength: 1, maxLength: 4 }),
    },
    { requiredKeys: ['scaleTargetRef'] },
  ),
});
const other = fc.constantFrom(
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
  'a string',
  42,
  null,
);

test('every object is accounted for, and every emitted policy passes the CRD validator (seed printed on failure)', () => {
  const validator = new PolicyValidator();
  let converted = 0;
  fc.assert(
    fc.property(
      fc.array(fc.oneof(hpa, scaledObject, other), { maxLength: 5 }),
      fc.boolean(),
      (objects, withFlags) => {
        const opts = withFlags
          ? { prometheus: 'http://prom:9090', queries: { cpu: 'sum(cpu)', '9lives': 'sum(x)' } }
          : {};
        const out = convertObjects(objects, opts);
        const candidates = objects.filter((o) => typeof o === 'object' && o !== null && 'spec' in o).length;
        const seen =
          out.converted.length +
          out.failures.length +
          out.skipped.filter((s) => !s.includes('ConfigMap')).length;
        assert.equal(seen, candidates, 'no object dropped');
        for (const f of out.failures) assert.ok(f.message.length > 0);
        for (const c of out.converted) {
          converted++;
          const r = validator.validate(c.policy);
          assert.ok(r.ok, `${c.source}: ${JSON.stringify(!r.ok && r.issues)}`);
          assert.deepEqual(parse(renderPolicy(c)), c.policy);
        }
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
  assert.ok(converted > 40, `the generators reach valid policies too (${converted})`);
});
