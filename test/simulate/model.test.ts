// The workload model on tiny traces, with every expectation computed by hand in
// the comments (capacity 10 requests/minute per replica, target 10 per replica).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type StrategyResult, simulate } from '../../src/simulate/simulate.ts';
import { policySpec, trace } from './helpers.ts';

const spec = policySpec({
  minReplicas: 1,
  maxReplicas: 10,
  metrics: [{ name: 'requests', query: 'q', target: { type: 'AverageValue', value: '10' } }],
});

function run(
  requests: number[],
  startupSeconds: number,
  extra: Partial<Parameters<typeof simulate>[0]> = {},
) {
  const r = simulate({
    trace: trace(...requests),
    traceName: 't.csv',
    spec,
    capacity: 10,
    startupSeconds,
    ...extra,
  });
  return Object.fromEntries(r.report.results.map((x) => [x.strategy, x])) as Record<string, StrategyResult>;
}

// Trace [10, 10, 30, 30, 10]. The metric (mean rate over the 60 s before the tick):
// minute 2 ticks 120/135/150/165 see 10, 15, 20, 25; minute 3 sees 30; minute 4 sees
// 30, 25, 20, 15. HPA from 1 replica: t=135 ratio 1.5 → 2; t=150 ratio 1.0 → 2;
// t=165 ratio 1.25 → ceil(2.5) = 3; minute 4 proposes 3, 2, 2 but the 300 s
// scale-down window holds 3.
test('instant start-up: the HPA misses part of the ramp, the oracle none', () => {
  const r = run([10, 10, 30, 30, 10], 0);
  // Minute 2: [120,135) 1 ready short 20/min, [135,165) 2 ready short 10/min:
  // (20×15 + 10×30)/60 = 10 unserved. Replica-seconds: 60+60+(15+60+45)+180+180 = 600.
  assert.deepEqual(r['hpa-default'], {
    strategy: 'hpa-default',
    replicaMinutes: 10,
    underProvisionedMinutes: 1,
    unservedRequests: 10,
    scaleEvents: 2,
    directionReversals: 0,
    peakReplicas: 3,
  });
  // The oracle needs [1, 1, 3, 3, 1] and, with no start-up delay, steps at 120 s and 240 s.
  assert.deepEqual(r.oracle, {
    strategy: 'oracle',
    replicaMinutes: 9,
    underProvisionedMinutes: 0,
    unservedRequests: 0,
    scaleEvents: 2,
    directionReversals: 1,
    peakReplicas: 3,
  });
  assert.deepEqual({ ...r['keda-default'], strategy: 'x' }, { ...r['hpa-default'], strategy: 'x' });
});

test('60 s start-up: the same decisions are ready a minute later', () => {
  const r = run([10, 10, 30, 30, 10], 60);
  // Replicas requested at 135 and 165 are ready at 195 and 225. Minute 2: 1 ready all
  // minute, 20 unserved. Minute 3: (20×15 + 10×30)/60 = 10 unserved. Replicas are paid
  // for from the request, so replica-minutes stay 10.
  assert.deepEqual(r['hpa-default'], {
    strategy: 'hpa-default',
    replicaMinutes: 10,
    underProvisionedMinutes: 2,
    unservedRequests: 30,
    scaleEvents: 2,
    directionReversals: 0,
    peakReplicas: 3,
  });
  // The oracle requests the two extra replicas at t=60 (ready at 120) and keeps them
  // until 240: [1, 3, 3, 3, 1] → 11 replica-minutes.
  assert.deepEqual(r.oracle, {
    strategy: 'oracle',
    replicaMinutes: 11,
    underProvisionedMinutes: 0,
    unservedRequests: 0,
    scaleEvents: 2,
    directionReversals: 1,
    peakReplicas: 3,
  });
});

test('a start-up that is not a multiple of the tick splits the interval', () => {
  // Same decisions; ready at 135+20 = 155 and 165+20 = 185. Minute 2: [120,155) 1 ready
  // short 20 → 700, [155,180) 2 ready short 10 → 250. Minute 3: [180,185) short 10 → 50.
  // (700 + 250 + 50)/60 = 16.67.
  const r = run([10, 10, 30, 30, 10], 20);
  assert.equal(r['hpa-default']!.unservedRequests, 16.67);
  assert.equal(r['hpa-default']!.underProvisionedMinutes, 2);
  assert.equal(r.oracle!.underProvisionedMinutes, 0);
});

test('scaling down removes replicas at once; the initial count fits the first minute', () => {
  // Initial replicas: ceil(50/10) = 5, all ready. The load drops to 10 at minute 1; the
  // metric sees 50 up to t=60, then 40, 30, 20 at t=75/90/105 and 10 from t=120, proposing
  // 4, 3, 2, 1. The 300 s scale-down window holds 5 while a recommendation of 5 is in it
  // (the last at t=60, gone once the window is (60, 360]); then one step per tick as the
  // proposals of 4 (t=75), 3 (t=90), 2 (t=105) leave the window: 5→4 at 360, →3 at 375,
  // →2 at 390, →1 at 405. Replica-minutes: 6×5 + 0.25×(4+3+2) + 1.25×1 = 33.5.
  const r = run([50, 10, 10, 10, 10, 10, 10, 10], 0);
  assert.deepEqual(r['hpa-default'], {
    strategy: 'hpa-default',
    replicaMinutes: 33.5,
    underProvisionedMinutes: 0,
    unservedRequests: 0,
    scaleEvents: 4,
    directionReversals: 0,
    peakReplicas: 5,
  });
  // Oracle: 5 for minute 0 then 1: [5,1,1,...] → 5 + 7 = 12.
  assert.equal(r.oracle!.replicaMinutes, 12);
});

test('a metric outage freezes the HPA and is reported', () => {
  // The ramp happens during an outage covering minutes 2–3: no sample, no action.
  const r = simulate({
    trace: trace(10, 10, 30, 30, 30, 30),
    traceName: 't.csv',
    spec,
    capacity: 10,
    startupSeconds: 0,
    outages: [{ startMinute: 2, lengthMinutes: 2 }],
  });
  const hpa = r.report.results.find((x) => x.strategy === 'hpa-default')!;
  // No decision until t=240 (metric 30 → 3): minutes 2 and 3 at 1 replica, 20 short each.
  assert.equal(hpa.underProvisionedMinutes, 2);
  assert.equal(hpa.unservedRequests, 40);
  assert.deepEqual(r.report.extra.scaleDownsDuringOutage, {
    tidemark: 0,
    'hpa-default': 0,
    'keda-default': 0,
  });
  const tm = r.report.extra.tidemark as { failedMetricTicks: number };
  assert.equal(tm.failedMetricTicks, 8);
});

test('the per-minute series add up to the report', () => {
  const requests = [10, 10, 30, 30, 10];
  const r = simulate({
    trace: trace(...requests),
    traceName: 't.csv',
    spec,
    capacity: 10,
    startupSeconds: 60,
  });
  for (const s of r.series.strategies) {
    const total = s.replicas.reduce((a, b) => a + b, 0);
    const reported = r.report.results.find((x) => x.strategy === s.strategy)!.replicaMinutes;
    assert.ok(Math.abs(total - reported) < 1e-6, `${s.strategy}: ${total} vs ${reported}`);
  }
  assert.equal(r.series.requests.length, requests.length);
});

test('rejects a policy with more than one metric and a bad model', () => {
  const two = policySpec({
    metrics: [
      { name: 'a', query: 'q', target: { type: 'AverageValue', value: '10' } },
      { name: 'b', query: 'q', target: { type: 'AverageValue', value: '10' } },
    ],
  });
  assert.throws(
    () => simulate({ trace: trace(1), traceName: 't', spec: two, capacity: 10, startupSeconds: 0 }),
    /exactly one/,
  );
  assert.throws(
    () => simulate({ trace: trace(1), traceName: 't', spec, capacity: 0, startupSeconds: 0 }),
    /capacity must be a positive number/,
  );
  assert.throws(
    () => simulate({ trace: trace(1), traceName: 't', spec, capacity: 1, startupSeconds: 1.5 }),
    /startup-seconds must be a non-negative integer/,
  );
});
