// spec.behavior.scaleToZeroDelaySeconds (v1beta1, issue 18): an integer from 0 to 86400, only
// with minReplicas 0 (a CEL rule rejects it otherwise); v1alpha1 has no such field and carries
// it in the annotation, so a v1alpha1 client's read-and-write keeps it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rootSchema } from '../../src/crd/schema.ts';
import { PolicyValidator, type ValidationIssue } from '../../src/crd/validate.ts';
import {
  BETA_FIELDS_ANNOTATION,
  convertPolicy,
  HIDDEN_BOUNDS,
  V1ALPHA1,
  V1BETA1,
} from '../../src/crd/version-conversion.ts';
import { schemaAt } from '../fuzz/arbitraries.ts';

const validator = new PolicyValidator();
const DELAY = 'spec.behavior.scaleToZeroDelaySeconds';

type Obj = Record<string, unknown>;

function policy(minReplicas: number, behavior: Obj, apiVersion = V1BETA1): Obj {
  return {
    apiVersion,
    kind: 'ScalingPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas,
      maxReplicas: 10,
      prometheus: { address: 'http://prometheus:9090' },
      metrics: [{ name: 'rps', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '50' } }],
      behavior,
    },
  };
}

function issuesOf(p: Obj): ValidationIssue[] {
  const r = validator.validate(p);
  assert.equal(r.ok, false, `expected ${JSON.stringify((p.spec as Obj).behavior)} to be rejected`);
  return r.ok ? [] : r.issues;
}

function specOf(o: Obj): Obj {
  return o.spec as Obj;
}

describe('spec.behavior.scaleToZeroDelaySeconds', () => {
  it('is valid with minReplicas 0 and has no default (unset keeps today’s behaviour)', () => {
    const r = validator.validate(policy(0, { scaleToZeroDelaySeconds: 600 }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.policy.spec.behavior.scaleToZeroDelaySeconds, 600);
    const unset = validator.validate(policy(0, {}));
    assert.ok(unset.ok);
    assert.equal(Object.hasOwn(unset.policy.spec.behavior, 'scaleToZeroDelaySeconds'), false);
  });

  it('is rejected with minReplicas above 0, saying why', () => {
    const list = issuesOf(policy(1, { scaleToZeroDelaySeconds: 600 }));
    assert.ok(
      list.some((i) => i.path === `${DELAY}` && /applies only with minReplicas 0/.test(i.message)),
      JSON.stringify(list),
    );
  });

  it('is an integer from 0 to 86400', () => {
    for (const bad of [-1, 86401, 1.5, '60']) {
      const list = issuesOf(policy(0, { scaleToZeroDelaySeconds: bad }));
      assert.ok(
        list.some((i) => i.path === DELAY),
        `${JSON.stringify(bad)}: ${JSON.stringify(list)}`,
      );
    }
    const node = schemaAt(DELAY, rootSchema(undefined, 'v1beta1')) ?? assert.fail(`no ${DELAY}`);
    assert.deepEqual(
      { minimum: node.minimum, maximum: node.maximum },
      { ...HIDDEN_BOUNDS.scaleToZeroDelaySeconds },
    );
  });

  it('is not a v1alpha1 field', () => {
    const list = issuesOf(policy(0, { scaleToZeroDelaySeconds: 600 }, V1ALPHA1));
    assert.ok(
      list.some((i) => i.path === DELAY),
      JSON.stringify(list),
    );
  });

  it('travels through v1alpha1 in the annotation and comes back exactly, each step valid', () => {
    const beta = policy(0, { tolerance: 0.1, scaleToZeroDelaySeconds: 600 });
    const alpha = convertPolicy(beta, V1ALPHA1);
    assert.equal(Object.hasOwn(specOf(alpha).behavior as Obj, 'scaleToZeroDelaySeconds'), false);
    const text = ((alpha.metadata as Obj).annotations as Obj)[BETA_FIELDS_ANNOTATION];
    assert.equal(text, JSON.stringify({ fields: { [DELAY]: 600 }, seen: {} }));
    assert.ok(validator.validate(alpha).ok);
    assert.deepEqual(convertPolicy(alpha, V1BETA1), beta);
  });

  it('travels beside per-direction tolerances, which keep their own rules', () => {
    const beta = policy(0, {
      tolerance: 0.1,
      scaleUp: { tolerance: 0.05 },
      scaleDown: {},
      scaleToZeroDelaySeconds: 0,
    });
    const alpha = convertPolicy(beta, V1ALPHA1);
    assert.deepEqual(convertPolicy(alpha, V1BETA1), beta);
    // A v1alpha1 write changing behavior.tolerance drops the tolerances, not the delay.
    (specOf(alpha).behavior as Obj).tolerance = 0.3;
    const dropped: string[] = [];
    const back = convertPolicy(alpha, V1BETA1, dropped);
    assert.deepEqual(specOf(back).behavior, {
      tolerance: 0.3,
      scaleUp: {},
      scaleDown: {},
      scaleToZeroDelaySeconds: 0,
    });
    assert.equal(dropped.length, 1);
    assert.match(dropped[0] as string, /^spec\.behavior\.scaleUp\.tolerance dropped/);
  });

  it('is dropped, with a reason, when a v1alpha1 write raised minReplicas above 0', () => {
    const alpha = convertPolicy(policy(0, { scaleToZeroDelaySeconds: 600 }), V1ALPHA1);
    specOf(alpha).minReplicas = 2;
    const dropped: string[] = [];
    const back = convertPolicy(alpha, V1BETA1, dropped);
    assert.deepEqual(specOf(back).behavior, {});
    assert.deepEqual(dropped, [
      `${DELAY} dropped: minReplicas is 2 (changed through v1alpha1), and the delay applies only with minReplicas 0`,
    ]);
    assert.ok(validator.validate(back).ok);
  });

  it("drops a carried value outside v1beta1's bounds, saying why", () => {
    for (const bad of [-5, 1e9, 2.5, '60']) {
      const alpha = convertPolicy(policy(0, { scaleToZeroDelaySeconds: 600 }), V1ALPHA1);
      const annotations = (alpha.metadata as Obj).annotations as Obj;
      annotations[BETA_FIELDS_ANNOTATION] = JSON.stringify({ fields: { [DELAY]: bad }, seen: {} });
      const dropped: string[] = [];
      const back = convertPolicy(alpha, V1BETA1, dropped);
      assert.deepEqual(specOf(back).behavior, {});
      assert.deepEqual(dropped, [
        `${DELAY} dropped: ${JSON.stringify(bad)} is not an integer from 0 to 86400`,
      ]);
    }
  });
});
