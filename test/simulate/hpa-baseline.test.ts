// The hpa-default baseline on small cases computed by hand from the upstream
// algorithm (pkg/controller/podautoscaler/horizontal.go, replica_calculator.go).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultHpaBehavior, HpaController } from '../../src/simulate/hpa-baseline.ts';
import { KedaController } from '../../src/simulate/keda-baseline.ts';

const hpa = (over: Partial<ConstructorParameters<typeof HpaController>[0]> = {}) =>
  new HpaController({ minReplicas: 1, maxReplicas: 100, target: 10, targetType: 'AverageValue', ...over });

test('tolerance: a usage ratio within [0.9, 1.1] keeps the count (inclusive, as Tolerances.isWithin)', () => {
  assert.equal(hpa().sync(0, 5, 54), 5); // ratio 1.08
  assert.equal(hpa().sync(0, 5, 55), 5); // ratio 1.1 exactly: within
  assert.equal(hpa().sync(0, 5, 56), 6); // ratio 1.12 → ceil(5.6)
  assert.equal(hpa().sync(0, 5, 45), 5); // ratio 0.9: within, and a scale-down would be held anyway
});

test('scale-up is limited to max(100%, 4 pods) per 15 s, from the replicas at the period start', () => {
  const h = hpa();
  // 2 replicas, 200 → proposes 20; limit max(2×2, 2+4) = 6.
  assert.equal(h.sync(0, 2, 200), 6);
  // 15 s later the event at t=0 is exactly one period old and no longer counts
  // (strict After): limit max(12, 10) = 12.
  assert.equal(h.sync(15, 6, 200), 12);
  assert.equal(h.sync(30, 12, 200), 20);
});

test('two syncs within one period share its budget', () => {
  const h = hpa();
  assert.equal(h.sync(0, 2, 200), 6);
  // 10 s later the +4 still counts: the period started at 2 → limit 6, no change.
  assert.equal(h.sync(10, 6, 200), 6);
});

test('scale-down waits for the 300 s window to drop every higher recommendation', () => {
  const h = hpa();
  assert.equal(h.sync(0, 10, 100), 10);
  for (let t = 15; t < 300; t += 15) assert.equal(h.sync(t, 10, 10), 10, `t=${t}`);
  // At t=300 the recommendations of 10 (t=0) are exactly 300 s old: out of the window.
  assert.equal(h.sync(300, 10, 10), 1);
});

test('a failed metric changes nothing and is not remembered as a recommendation', () => {
  const h = hpa();
  assert.equal(h.sync(0, 4, 40), 4);
  assert.equal(h.sync(15, 4, undefined), 4);
  // The window holds only the t=0 recommendations of 4; at t=300 they are gone.
  for (let t = 30; t < 300; t += 15) assert.equal(h.sync(t, 4, 10), 4);
  assert.equal(h.sync(300, 4, 10), 1);
});

test('bounds: outside [min, max] the count goes to the bound; at 0 the HPA is disabled', () => {
  assert.equal(hpa({ maxReplicas: 5 }).sync(0, 8, 80), 5);
  assert.equal(hpa({ minReplicas: 3 }).sync(0, 2, 0), 3);
  assert.equal(hpa().sync(0, 0, 500), 0);
  // maxReplicas caps a proposal below the rate limit.
  assert.equal(hpa({ maxReplicas: 3 }).sync(0, 2, 200), 3);
  // A scale-down never goes below minReplicas.
  const h = hpa({ minReplicas: 2 });
  assert.equal(h.sync(0, 4, 0), 4); // held by the window (initial recommendation 4 at t=0)
  assert.equal(h.sync(300, 4, 0), 2);
});

test('Value target multiplies the ratio by the ready pods', () => {
  const h = hpa({ targetType: 'Value', target: 100 });
  // ratio 3.0, 4 ready of 5 → ceil(12) = 12, limited to max(10, 9) = 10.
  assert.equal(h.sync(0, 5, 300, 4), 10);
});

test('custom rules: Pods 1 per 60 s for scale-down, no window', () => {
  const b = defaultHpaBehavior();
  b.scaleDown = {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
  };
  const h = hpa({ behavior: b });
  assert.equal(h.sync(0, 10, 10), 9);
  assert.equal(h.sync(15, 9, 10), 9); // the period started at 10: limit 9
  assert.equal(h.sync(45, 9, 10), 9);
  assert.equal(h.sync(60, 9, 10), 8); // the t=0 event is one period old
  // Disabled scale-down never lowers the count.
  b.scaleDown = { ...b.scaleDown, selectPolicy: 'Disabled' };
  assert.equal(hpa({ behavior: b }).sync(0, 10, 10), 10);
});

test('keda: 0↔1 activation every 30 s, cooldown 300 s, then the HPA for 1↔N', () => {
  const k = new KedaController({
    minReplicas: 0,
    maxReplicas: 20,
    target: 10,
    targetType: 'AverageValue',
    activationThreshold: 0,
  });
  assert.equal(k.sync(0, 0, 0), 0); // inactive, stays at 0
  assert.equal(k.sync(15, 0, 50), 0); // not a polling time: the HPA is disabled at 0
  // t=30: active → 1, then the HPA in the same tick: 50 at 1 replica → min(5, max(2, 5)) = 5.
  assert.equal(k.sync(30, 0, 50), 5);
  assert.equal(k.sync(45, 5, 50), 5);
  // Last active at 60; inactive from 90. Scale to zero once 60 + 300 < now: at t=390.
  assert.equal(k.sync(60, 5, 50), 5);
  let replicas = 5;
  for (let t = 75; t < 390; t += 15) {
    replicas = k.sync(t, replicas, 0);
    assert.ok(replicas >= 1, `t=${t}`);
  }
  assert.equal(k.sync(390, replicas, 0), 0);
  // A failed query neither wakes nor idles.
  assert.equal(k.sync(420, 0, undefined), 0);
});

test('keda with minReplicas ≥ 1 is the HPA', () => {
  const k = new KedaController({
    minReplicas: 1,
    maxReplicas: 20,
    target: 10,
    targetType: 'AverageValue',
    activationThreshold: 0,
  });
  const h = hpa({ maxReplicas: 20 });
  let a = 1;
  let b = 1;
  const load = [0, 0, 30, 80, 200, 5, 0, 0, 0, 40, 0];
  for (let i = 0; i < 60; i++) {
    const m = load[i % load.length]!;
    a = k.sync(i * 15, a, m);
    b = h.sync(i * 15, b, m);
    assert.equal(a, b, `tick ${i}`);
  }
});
