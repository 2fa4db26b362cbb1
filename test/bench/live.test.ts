import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hpaBehaviorFor, kedaArm, tidemarkArm } from '../../bench/live/arms.ts';
import { faultOutcome } from '../../bench/live/faults.ts';
import {
  type LoadSample,
  measure,
  type ReplicaPoint,
  reaction,
  replicaMinutes,
  reversals,
  scaleWrites,
  stateAt,
  stepsUp,
  underProvisionedMinutes,
} from '../../bench/live/measure.ts';
import {
  busyAfternoon,
  compressSeconds,
  defaultBehavior,
  liveClocks,
  scaleTo,
  stepAndFlashCrowd,
  withWarmup,
} from '../../bench/live/plan.ts';
import { compare, simulateStretch, windowFigures } from '../../bench/live/predict.ts';
import { liveSeries } from '../../bench/live/report.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';

// A history in seconds for readability: 2 replicas, a write to 4 at 10 s whose pods are
// ready at 16 s, a write down to 3 at 40 s.
const S = 1000;
const history: ReplicaPoint[] = [
  { t: 0, replicas: 2, ready: 2 },
  { t: 10 * S, replicas: 4, ready: 2 },
  { t: 16 * S, replicas: 4, ready: 4 },
  { t: 40 * S, replicas: 3, ready: 3 },
];

test('stateAt: the last point at or before t; undefined before the first', () => {
  assert.equal(stateAt(history, -1), undefined);
  assert.equal(stateAt(history, 0)?.replicas, 2);
  assert.equal(stateAt(history, 9_999)?.replicas, 2);
  assert.equal(stateAt(history, 10 * S)?.replicas, 4);
  assert.equal(stateAt(history, 1e9)?.replicas, 3);
});

test('scaleWrites: changes of spec.replicas only (a ready change is no write), inside the window', () => {
  assert.deepEqual(scaleWrites(history, { from: 0, to: 60 * S }), [
    { t: 10 * S, from: 2, to: 4 },
    { t: 40 * S, from: 4, to: 3 },
  ]);
  assert.deepEqual(scaleWrites(history, { from: 11 * S, to: 60 * S }), [{ t: 40 * S, from: 4, to: 3 }]);
});

test('reversals: each change of direction between consecutive writes', () => {
  const w = (from: number, to: number) => ({ t: 0, from, to });
  assert.equal(reversals([]), 0);
  assert.equal(reversals([w(1, 2), w(2, 5)]), 0);
  assert.equal(reversals([w(1, 2), w(2, 1), w(1, 3), w(3, 4)]), 2);
});

test('replicaMinutes: ∫ spec.replicas over the window, the state at its start carried in; scaled by the speedup', () => {
  // 0–10 s at 2, 10–40 s at 4, 40–60 s at 3: 20 + 120 + 60 = 200 replica-seconds.
  assert.equal(replicaMinutes(history, { from: 0, to: 60 * S }), 200 / 60);
  // From 20 s: 20 s at 4 then 20 s at 3 = 140 replica-seconds.
  assert.equal(replicaMinutes(history, { from: 20 * S, to: 60 * S }), 140 / 60);
  // Compressed 5×: one wall second stands for five.
  assert.equal(replicaMinutes(history, { from: 0, to: 60 * S }, 5), 1000 / 60);
});

test('underProvisionedMinutes: a minute whose load exceeds ready × capacity at some moment', () => {
  // Capacity 10 rps; the load jumps to 35 rps at 5 s (needs 4 ready; 2 until 16 s), and the
  // write down to 3 at 40 s leaves 30 rps of capacity under it until the load falls to 25 at
  // 45 s. Minutes of 12 s (speedup 5): 0–12 and 12–24 under (until 16 s), 36–48 under.
  const load: LoadSample[] = [
    { t: 0, rps: 15 },
    { t: 5 * S, rps: 35 },
    { t: 45 * S, rps: 25 },
  ];
  assert.equal(underProvisionedMinutes(history, load, { from: 0, to: 60 * S }, 10, 5), 3);
  // The load falling only at 50 s: 48–60 is under too.
  const later = load.map((s) => (s.t === 45 * S ? { ...s, t: 50 * S } : s));
  assert.equal(underProvisionedMinutes(history, later, { from: 0, to: 60 * S }, 10, 5), 4);
  // Exactly at capacity is served.
  assert.equal(underProvisionedMinutes(history, [{ t: 0, rps: 20 }], { from: 0, to: 10 * S }, 10, 5), 0);
});

test('measure: the figures together, peak of spec.replicas', () => {
  const m = measure(history, [{ t: 0, rps: 1 }], { from: 0, to: 60 * S }, 10);
  assert.deepEqual(m, {
    replicaMinutes: 3.33,
    underProvisionedMinutes: 0,
    scaleWrites: 2,
    reversals: 1,
    peakReplicas: 4,
  });
});

test('reaction: load visible (midpoint crossed) → first scale-up write → its pods ready', () => {
  const load: LoadSample[] = [
    { t: 0, rps: 15 },
    { t: 3 * S, rps: 15 },
    { t: 6 * S, rps: 35 },
  ];
  const r = reaction(history, load, { t: 5 * S, before: 15, after: 35 }, 60 * S);
  assert.equal(r.visibleAt, 6 * S);
  assert.equal(r.toFirstWriteSeconds, 4);
  assert.equal(r.toReadySeconds, 10);
  // No write before the next step: reported without times.
  const none = reaction(history, load, { t: 5 * S, before: 15, after: 35 }, 9 * S);
  assert.equal(none.firstWriteAt, undefined);
  assert.equal(none.visibleAt, 6 * S);
});

test('stepsUp: rises of at least 1.5× that need more replicas', () => {
  assert.deepEqual(stepsUp([100, 100, 400, 400, 100, 600, 650], 100), [
    { minute: 2, before: 100, after: 400 },
    { minute: 5, before: 100, after: 600 },
  ]);
  // 1.5× within one replica's worth is no step.
  assert.deepEqual(stepsUp([10, 20], 100), []);
});

test('busyAfternoon: the busiest stretch starting between 12:00 and 18:00 of any day', () => {
  const day: number[] = Array.from({ length: 2 * 1440 }, (_, m) => (m % 1440 === 3 * 60 ? 1e6 : 1));
  day[1440 + 14 * 60 + 5] = 50; // day 2, 14:05
  const start = busyAfternoon(day, 30);
  assert.ok(start >= 1440 + 13 * 60 + 36 && start <= 1440 + 14 * 60 + 5, String(start));
  assert.throws(() => busyAfternoon([1, 2, 3], 30), /no 30-minute stretch/);
});

test('plan: the step stretch, warm-up, scaling to a peak', () => {
  const s = stepAndFlashCrowd(1);
  assert.equal(s.length, 48);
  assert.equal(Math.max(...s), 6);
  assert.deepEqual(withWarmup([3, 4], 2), [3, 3, 3, 4]);
  // Peak 6 → 20 replicas of 10 rps = 12,000 per minute.
  assert.equal(Math.max(...scaleTo(s, 10, 20)), 12_000);
});

test('compressed clocks: every clock divided by the speedup, whole seconds or an error', () => {
  assert.deepEqual(liveClocks(5), {
    scrapeSeconds: 3,
    hpaSyncSeconds: 3,
    rateWindowSeconds: 12,
    kedaPollingSeconds: 6,
    podStartupSeconds: 12,
  });
  assert.throws(() => compressSeconds(15, 4), /whole number/);
  const b = defaultBehavior(5);
  assert.equal(b.scaleDown.stabilizationWindowSeconds, 60);
  assert.deepEqual(
    b.scaleUp.policies.map((p) => p.periodSeconds),
    [3, 3],
  );
  assert.deepEqual(defaultBehavior(1).scaleUp.policies[1], { type: 'Pods', value: 4, periodSeconds: 15 });
});

test('prediction: the simulator over the window after the warm-up; errors against the goals', () => {
  const stretch = {
    name: 's',
    what: '',
    perMinute: withWarmup(scaleTo(stepAndFlashCrowd(1), 10, 20), 10),
    warmupMinutes: 10,
  };
  const settings = { capacityRps: 10, targetRps: 7, minReplicas: 1, maxReplicas: 40, startupSeconds: 60 };
  const r = simulateStretch(stretch, settings, 15);
  const p = windowFigures(r, 'tidemark', 10);
  const whole = r.report.results.find((x) => x.strategy === 'tidemark')!;
  // The warm-up holds ceil(2,000 / 420) = 5 replicas for 10 minutes: the window has the rest.
  assert.ok(
    Math.abs(whole.replicaMinutes - 50 - p.replicaMinutes) < 0.5,
    `${whole.replicaMinutes} vs ${p.replicaMinutes}`,
  );
  assert.ok(p.underProvisionedMinutes > 0, 'a step with a 60 s start-up leaves minutes under-provisioned');
  // Tidemark with the HPA's default behaviour predicts what keda-default does at the same polling.
  assert.deepEqual(windowFigures(r, 'keda-default', 10).replicaMinutes, p.replicaMinutes);

  assert.deepEqual(
    compare(
      { replicaMinutes: 100, underProvisionedMinutes: 10 },
      { ...p, replicaMinutes: 104, underProvisionedMinutes: 13 },
    ),
    {
      replicaMinutesErrorPercent: 4,
      underProvisionedErrorMinutes: 3,
      replicaMinutesMet: true,
      underProvisionedMet: true,
    },
  );
  const miss = compare(
    { replicaMinutes: 100, underProvisionedMinutes: 50 },
    { ...p, replicaMinutes: 94, underProvisionedMinutes: 44 },
  );
  assert.equal(miss.replicaMinutesMet, false);
  assert.equal(miss.underProvisionedMet, false);
});

test('faultOutcome: writes from the fault until recovery; a scale-down is flagged', () => {
  const h: ReplicaPoint[] = [
    { t: 0, replicas: 8, ready: 8 },
    { t: 70 * S, replicas: 4, ready: 4 },
    { t: 200 * S, replicas: 8, ready: 8 },
  ];
  const o = faultOutcome(h, { name: 'x', what: '', from: 10 * S, to: 100 * S, recoverUntil: 160 * S });
  assert.equal(o.before, 8);
  assert.equal(o.lowest, 4);
  assert.equal(o.after, 4);
  assert.equal(o.scaledDown, true);
  assert.deepEqual(o.writes, [{ t: 70 * S, from: 8, to: 4, atSeconds: 60 }]);
  const calm = faultOutcome(h, { name: 'x', what: '', from: 80 * S, to: 100 * S, recoverUntil: 160 * S });
  assert.equal(calm.scaledDown, false);
  assert.deepEqual(calm.writes, []);
});

test('liveSeries: per-minute load (requests/minute) and time-weighted replicas for the plot', () => {
  const s = liveSeries(
    [
      {
        name: 'a',
        history,
        load: [
          { t: 0, rps: 1 },
          { t: 12 * S, rps: 2 },
        ],
      },
    ],
    { from: 0, to: 24 * S },
    12 * S,
  );
  assert.deepEqual(Array.from(s.requests), [60, 120]);
  // Minute 0 (0–12 s): 2 replicas until 10 s, then 4: samples at 0.5/12 … 11.5/12 of it.
  assert.ok(Math.abs(s.strategies[0]!.replicas[0]! - (2 * 10 + 4 * 2) / 12) < 1e-6);
  assert.ok(Math.abs(s.strategies[0]!.ready[1]! - (2 * 4 + 4 * 8) / 12) < 1e-6);
});

/** The target every arm test scales: the bench's settings at speedup 5. */
const ARM_TARGET = {
  namespace: 'ns',
  deployment: 'web',
  prometheusUrl: 'http://127.0.0.1:9090',
  query: 'sum(rate(x[12s]))',
  targetRps: 7,
  minReplicas: 1,
  maxReplicas: 40,
  speedup: 5,
};

test('the Tidemark arms: a valid ScalingPolicy polling at the compressed interval, with the compressed HPA behaviour', () => {
  const t = ARM_TARGET;
  const validator = new PolicyValidator();
  for (const [polling, live] of [
    [15, 3],
    [5, 1],
  ] as const) {
    const [policy] = tidemarkArm(polling).manifests(t) as Array<{ spec: Record<string, unknown> }>;
    const r = validator.validate(policy);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(policy!.spec.pollingIntervalSeconds, live);
    assert.deepEqual(policy!.spec.behavior, defaultBehavior(5));
  }
  const anomaly = tidemarkArm(15, { anomaly: { enabled: true } }, 'a');
  assert.equal(anomaly.id, 'tm15a');
  assert.deepEqual((anomaly.manifests(t)[0] as { spec: { anomaly: unknown } }).spec.anomaly, {
    enabled: true,
  });
});

test('the KEDA arm: a ScaledObject on the same query and threshold, KEDA defaults and the HPA behaviour compressed', () => {
  const t = ARM_TARGET;
  const arm = kedaArm();
  assert.deepEqual(arm.simulated, { strategy: 'keda-default', pollingSeconds: 15 });
  const [so] = arm.manifests(t) as Array<{
    metadata: { name: string; namespace: string };
    spec: {
      scaleTargetRef: { name: string };
      pollingInterval: number;
      cooldownPeriod: number;
      minReplicaCount: number;
      maxReplicaCount: number;
      advanced: { horizontalPodAutoscalerConfig: { behavior: Record<string, Record<string, unknown>> } };
      triggers: Array<{ type: string; metricType: string; metadata: Record<string, string> }>;
    };
  }>;
  assert.deepEqual(so!.metadata, { name: 'web', namespace: 'ns' });
  assert.equal(so!.spec.scaleTargetRef.name, 'web');
  // KEDA's defaults, 30 s and 300 s, over 5.
  assert.equal(so!.spec.pollingInterval, 6);
  assert.equal(so!.spec.cooldownPeriod, 60);
  assert.equal(so!.spec.minReplicaCount, 1);
  assert.equal(so!.spec.maxReplicaCount, 40);
  assert.deepEqual(so!.spec.triggers, [
    {
      type: 'prometheus',
      metricType: 'AverageValue',
      metadata: { serverAddress: 'http://127.0.0.1:9090', query: 'sum(rate(x[12s]))', threshold: '7' },
    },
  ]);
  const b = so!.spec.advanced.horizontalPodAutoscalerConfig.behavior;
  assert.equal(b.scaleDown!.stabilizationWindowSeconds, 60);
  assert.equal(b.scaleUp!.stabilizationWindowSeconds, 0);
  assert.deepEqual(
    (b.scaleUp!.policies as Array<{ periodSeconds: number }>).map((p) => p.periodSeconds),
    [3, 3],
  );
  // The default tolerance is the controller's flag: left out so the CRD need not know the field.
  assert.equal('tolerance' in b.scaleUp!, false);
  assert.throws(() => kedaArm().manifests({ ...t, speedup: 7 }), /not a whole number/);
});

test('hpaBehaviorFor writes a tolerance other than the controller default into each direction', () => {
  const b = defaultBehavior(1);
  const same = hpaBehaviorFor(b);
  assert.deepEqual(same.scaleDown, {
    stabilizationWindowSeconds: 300,
    selectPolicy: b.scaleDown.selectPolicy,
    policies: b.scaleDown.policies,
  });
  const tight = hpaBehaviorFor({ ...b, tolerance: 0.05 });
  assert.equal(tight.scaleUp!.tolerance, '0.05');
  assert.equal(tight.scaleDown!.tolerance, '0.05');
});
