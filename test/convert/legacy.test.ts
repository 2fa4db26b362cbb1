// The behavior convert writes for an HPA without `behavior` run through the real policy engine,
// against the legacy rules of the HPA controller (horizontal.go: normalizeDesiredReplicas,
// calculateScaleUpLimit = max(2 × current, 4) per sync, the highest recommendation of 300 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { convertObjects } from '../../src/convert/index.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';
import { decide, initialState } from '../../src/policy/engine.ts';
import type { EngineState, PolicySpec } from '../../src/policy/types.ts';

const T0 = 1_700_000_000_000;
const MAX = 1000;

function legacySpec(): PolicySpec {
  const hpa = parse(`
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web, namespace: shop}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      maxReplicas: ${MAX}
      metrics: [{type: External, external: {metric: {name: rps}, target: {type: AverageValue, averageValue: "1"}}}]
  `);
  const out = convertObjects([hpa], { prometheus: 'http://prometheus:9090', queries: { rps: 'sum(rps)' } });
  const r = new PolicyValidator().validate(out.converted[0]!.policy);
  assert.ok(r.ok);
  return r.policy.spec as PolicySpec;
}

const tick = (spec: PolicySpec, state: EngineState, current: number, value: number, now: number) =>
  decide({ spec, state, currentReplicas: current, now, observations: [{ name: 'rps', ok: true, value }] });

test('scale-up is limited to max(2 × current, 4) per 15 s, as the legacy HPA, at every count but 2', () => {
  const spec = legacySpec();
  for (let c = 1; c <= 400; c++) {
    const { decision } = tick(spec, initialState(c, T0 - 15_000), c, 1e6, T0);
    const legacy = Math.min(MAX, Math.max(2 * c, 4));
    assert.equal(decision.desiredReplicas, c === 2 ? 5 : legacy, `from ${c} replicas`);
  }
});

test('a burst doubles the count every 15 s sync, as the legacy HPA: 1 → 4 → 8 → 16 → 32', () => {
  const spec = legacySpec();
  let state = initialState(1, T0 - 15_000);
  let current = 1;
  const seen = [current];
  for (let i = 0; i < 4; i++) {
    const out = tick(spec, state, current, 1e6, T0 + i * 15_000);
    state = out.state;
    current = out.decision.desiredReplicas;
    seen.push(current);
  }
  assert.deepEqual(seen, [1, 4, 8, 16, 32]);
});

test('scale-down waits for the highest recommendation of the last 300 s, then goes straight down', () => {
  const spec = legacySpec();
  let state = initialState(10, T0 - 15_000);
  let current = 10;
  const at: number[] = [];
  // 10 is recommended at T0, then the load drops to 2 replicas' worth.
  for (let s = 0; s <= 330; s += 15) {
    const out = tick(spec, state, current, s === 0 ? 10 : 2, T0 + s * 1000);
    state = out.state;
    if (out.decision.desiredReplicas !== current) at.push(s);
    current = out.decision.desiredReplicas;
  }
  assert.equal(current, 2, 'no rate limit on the way down (100 % per 15 s)');
  assert.deepEqual(at, [300], 'once the recommendation of 10 is 300 s old');
});
