import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyValidator, type ValidationIssue } from '../../src/crd/validate.ts';

const validator = new PolicyValidator();

function policy(spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'ScalingPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      maxReplicas: 10,
      prometheus: { address: 'http://prometheus:9090' },
      metrics: [{ name: 'rps', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '50' } }],
      ...spec,
    },
  };
}

function issues(spec: Record<string, unknown>): ValidationIssue[] {
  const r = validator.validate(policy(spec));
  assert.equal(r.ok, false, 'expected the policy to be rejected');
  return r.ok ? [] : r.issues;
}

function assertIssue(list: ValidationIssue[], path: string, pattern: RegExp): void {
  assert.ok(
    list.some((i) => i.path === path && pattern.test(i.message)),
    `no issue at ${path} matching ${pattern}; got ${JSON.stringify(list)}`,
  );
}

test('a minimal policy is valid and gets the HPA defaults', () => {
  const r = validator.validate(policy());
  assert.ok(r.ok);
  const spec = r.policy.spec;
  assert.equal(spec.minReplicas, 1);
  assert.equal(spec.pollingIntervalSeconds, 15);
  assert.equal(spec.mode, 'Active');
  assert.equal(spec.behavior.tolerance, 0.1);
  assert.equal(spec.behavior.scaleUp.stabilizationWindowSeconds, 0);
  assert.deepEqual(spec.behavior.scaleUp.policies, [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ]);
  assert.equal(spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
  assert.deepEqual(spec.behavior.scaleDown.policies, [{ type: 'Percent', value: 100, periodSeconds: 15 }]);
  assert.equal(spec.behavior.scaleDown.selectPolicy, 'Max');
});

test('a partial behavior keeps the defaults of the fields it leaves out, as the HPA does', () => {
  const r = validator.validate(policy({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } }));
  assert.ok(r.ok);
  assert.equal(r.policy.spec.behavior.scaleDown.stabilizationWindowSeconds, 60);
  assert.deepEqual(r.policy.spec.behavior.scaleDown.policies, [
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ]);
  assert.equal(r.policy.spec.behavior.scaleUp.policies.length, 2);
});

test('validation does not modify its input', () => {
  const input = policy();
  const before = JSON.stringify(input);
  validator.validate(input);
  assert.equal(JSON.stringify(input), before);
});

test('missing required fields are named by path', () => {
  const p = policy();
  const spec = p.spec as Record<string, unknown>;
  delete spec.maxReplicas;
  delete spec.metrics;
  const r = validator.validate(p);
  assert.ok(!r.ok);
  assertIssue(r.issues, 'spec.maxReplicas', /Required value/);
  assertIssue(r.issues, 'spec.metrics', /Required value/);
});

test('bounds, enums and patterns are enforced with the field path', () => {
  const list = issues({
    minReplicas: -1,
    pollingIntervalSeconds: 0,
    mode: 'Sometimes',
    prometheus: { address: 'ftp://x' },
    metrics: [{ name: 'Bad Name', query: 'q', target: { type: 'Utilization', value: '0' } }],
  });
  assertIssue(list, 'spec.minReplicas', /greater than or equal to 0/);
  assertIssue(list, 'spec.pollingIntervalSeconds', /greater than or equal to 1/);
  assertIssue(list, 'spec.mode', /Unsupported value: "Sometimes"/);
  assertIssue(list, 'spec.prometheus.address', /should match/);
  assertIssue(list, 'spec.metrics[0].name', /should match/);
  assertIssue(list, 'spec.metrics[0].target.type', /Unsupported value/);
  assertIssue(list, 'spec.metrics[0].target.value', /should match/);
});

test('target values may be integers or decimal strings, never zero or negative', () => {
  for (const value of [50, '50', '0.5', '.25', '12.75']) {
    const r = validator.validate(
      policy({ metrics: [{ name: 'm', query: 'q', target: { type: 'Value', value } }] }),
    );
    assert.ok(r.ok, `value ${JSON.stringify(value)} should be accepted`);
  }
  for (const value of [0, -3, '0', '0.0', '-1', 'abc', '1e3']) {
    const r = validator.validate(
      policy({ metrics: [{ name: 'm', query: 'q', target: { type: 'Value', value } }] }),
    );
    assert.ok(!r.ok, `value ${JSON.stringify(value)} should be rejected`);
    assert.ok(r.issues.every((i) => i.path.startsWith('spec.metrics[0].target.value')));
  }
});

test('unknown fields are reported as kubectl strict validation does', () => {
  assertIssue(issues({ replicas: 3 }), 'spec.replicas', /unknown field "spec.replicas"/);
});

test('CEL: minReplicas must not exceed maxReplicas', () => {
  assertIssue(
    issues({ minReplicas: 11 }),
    'spec.minReplicas',
    /minReplicas must be less than or equal to maxReplicas/,
  );
  assert.ok(validator.validate(policy({ minReplicas: 10 })).ok);
});

test('CEL: metric names must be unique', () => {
  const m = { name: 'rps', query: 'q', target: { type: 'Value', value: '1' } };
  assertIssue(issues({ metrics: [m, { ...m }] }), 'spec.metrics', /metric names must be unique/);
});

test('CEL: fallback replicas must lie within the bounds', () => {
  assertIssue(
    issues({ fallback: { replicas: 11 } }),
    'spec.fallback.replicas',
    /within \[minReplicas, maxReplicas\]/,
  );
  assertIssue(
    issues({ minReplicas: 2, fallback: { replicas: 1 } }),
    'spec.fallback.replicas',
    /within \[minReplicas, maxReplicas\]/,
  );
  assert.ok(validator.validate(policy({ fallback: { replicas: 5 } })).ok);
  assert.ok(validator.validate(policy({ fallback: { failureThreshold: 2 } })).ok);
});

test('CEL: the SLO autotune must name an AverageValue metric and ordered bounds', () => {
  const slo = { metric: 'nope', latencyQuery: 'q', objectiveSeconds: 0.2, minTarget: 5, maxTarget: 1 };
  const list = issues({ autotune: { enabled: true, slo } });
  assertIssue(list, 'spec.autotune.slo.metric', /must name a metric/);
  assertIssue(list, 'spec.autotune.slo', /minTarget must be less than or equal to maxTarget/);
  assert.ok(
    validator.validate(policy({ autotune: { enabled: true, slo: { ...slo, metric: 'rps', maxTarget: 9 } } }))
      .ok,
  );
});
