// spec.metrics[].target.capacity (v1beta1): a positive decimal like target.value, at least the
// value, on AverageValue targets only; v1alpha1 has no such field and carries it in the
// annotation, so a v1alpha1 client's read-and-write keeps it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyValidator, type ValidationIssue } from '../../src/crd/validate.ts';
import {
  BETA_FIELDS_ANNOTATION,
  capacityKey,
  convertPolicy,
  V1ALPHA1,
  V1BETA1,
} from '../../src/crd/version-conversion.ts';

const validator = new PolicyValidator();

type Target = Record<string, unknown>;

function policy(target: Target, apiVersion = V1BETA1): Record<string, unknown> {
  return {
    apiVersion,
    kind: 'ScalingPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      maxReplicas: 10,
      prometheus: { address: 'http://prometheus:9090' },
      metrics: [
        { name: 'rps', query: 'sum(rate(x[1m]))', target },
        { name: 'queue', query: 'q', target: { type: 'Value', value: '5' } },
      ],
    },
  };
}

function issuesOf(target: Target, apiVersion = V1BETA1): ValidationIssue[] {
  const r = validator.validate(policy(target, apiVersion));
  assert.equal(r.ok, false, `expected ${JSON.stringify(target)} to be rejected`);
  return r.ok ? [] : r.issues;
}

const AT = 'spec.metrics[0].target.capacity';

describe('target.capacity in the CRD', () => {
  it('accepts a capacity at or above the value, as a number or a decimal string', () => {
    for (const [value, capacity] of [
      ['50', '80'],
      ['50', 50],
      [50, '50.0'],
      ['0.5', '.75'],
      [3, '3.000001'],
    ] as const) {
      const r = validator.validate(policy({ type: 'AverageValue', value, capacity }));
      assert.ok(r.ok, `${JSON.stringify({ value, capacity })}: ${JSON.stringify(!r.ok && r.issues)}`);
      assert.equal(r.policy.spec.metrics[0]?.target.capacity, capacity);
    }
  });

  it('rejects a capacity below the value, with a sentence', () => {
    for (const [value, capacity] of [
      ['50', '49.9'],
      [50, 49],
      ['0.5', '.4'],
    ] as const) {
      assert.deepEqual(issuesOf({ type: 'AverageValue', value, capacity }), [
        { path: AT, message: 'Invalid value: target.capacity must be greater than or equal to target.value' },
      ]);
    }
  });

  it('rejects a capacity on a Value target, with a sentence', () => {
    assert.deepEqual(issuesOf({ type: 'Value', value: '50', capacity: '80' }), [
      {
        path: AT,
        message:
          'Invalid value: target.capacity applies only to AverageValue targets (a Value metric is not divided by the replica count)',
      },
    ]);
  });

  it('rejects a capacity that is not a positive decimal, at the field', () => {
    for (const capacity of [0, -1, '0', 'abc', '1e3', '']) {
      const issues = issuesOf({ type: 'AverageValue', value: '50', capacity });
      assert.ok(issues.length > 0 && issues.every((i) => i.path === AT), JSON.stringify(issues));
    }
  });

  it('is unknown to v1alpha1', () => {
    const issues = issuesOf({ type: 'AverageValue', value: '50', capacity: '80' }, V1ALPHA1);
    assert.deepEqual(issues, [{ path: AT, message: `unknown field "${AT}"` }]);
  });
});

describe('target.capacity through v1alpha1', () => {
  const beta = policy({ type: 'AverageValue', value: '50', capacity: '80' });

  it('travels in the annotation by metric name, and comes back', () => {
    const alpha = convertPolicy(beta, V1ALPHA1);
    const spec = alpha.spec as { metrics: { target: Target }[] };
    assert.deepEqual(spec.metrics[0]?.target, { type: 'AverageValue', value: '50' });
    const annotations = (alpha.metadata as { annotations: Record<string, string> }).annotations;
    assert.deepEqual(JSON.parse(annotations[BETA_FIELDS_ANNOTATION]!).fields, { [capacityKey('rps')]: '80' });
    assert.deepEqual(convertPolicy(alpha, V1BETA1), beta);
  });

  it('follows its metric when a v1alpha1 client reorders the metrics', () => {
    const alpha = convertPolicy(beta, V1ALPHA1);
    const spec = alpha.spec as { metrics: unknown[] };
    spec.metrics.reverse();
    const back = convertPolicy(alpha, V1BETA1).spec as { metrics: { name: string; target: Target }[] };
    assert.deepEqual(
      back.metrics.map((m) => [m.name, m.target.capacity]),
      [
        ['queue', undefined],
        ['rps', '80'],
      ],
    );
  });

  it('reaches the storage version when a v1alpha1 object is validated', () => {
    const r = validator.validate(convertPolicy(beta, V1ALPHA1));
    assert.ok(r.ok);
    assert.equal(r.policy.apiVersion, V1BETA1);
    assert.equal(r.policy.spec.metrics[0]?.target.capacity, '80');
  });
});
