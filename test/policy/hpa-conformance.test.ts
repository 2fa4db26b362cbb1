// HPA conformance: inputs and expected replica counts ported from the Kubernetes HPA
// controller's unit tests (kubernetes/kubernetes, pkg/controller/podautoscaler:
// horizontal_test.go and replica_calculator_test.go). Each row names its upstream test and
// case. Rows marked `differs` are where Tidemark deliberately departs from the HPA; they
// assert Tidemark's behaviour and say why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replicasChangeInPeriod, scaleDownLimit, scaleUpLimit } from '../../src/core/hpa-arithmetic.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineState, MetricObservation, PolicySpec } from '../../src/policy/types.ts';
import { emptyState, failed, makeSpec, ok, rules, T0, uniformEvents } from './helpers.ts';

type Dir = Partial<PolicySpec['behavior']['scaleUp']>;

// A metric whose proposal is exactly `desired`: AverageValue with target 1 and tolerance 0, so
// the pipeline after the proposal (stabilization, rate limits, bounds) is what is under test.
function viaProposal(o: {
  current: number;
  desired: number;
  min: number;
  max: number;
  up?: Dir;
  down?: Dir;
  state?: EngineState;
}) {
  const spec = makeSpec({
    minReplicas: o.min,
    maxReplicas: o.max,
    tolerance: 0,
    metrics: [{ name: 'desired', query: 'q', target: { type: 'AverageValue', value: '1' } }],
    ...(o.up ? { scaleUp: o.up } : {}),
    ...(o.down ? { scaleDown: o.down } : {}),
  });
  return decide({
    spec,
    state: o.state ?? emptyState(),
    observations: [ok('desired', o.desired)],
    currentReplicas: o.current,
    now: T0,
  }).decision;
}

describe('HPA conformance: horizontal_test.go TestScalingWithRules (convertDesiredReplicasWithBehaviorRate)', () => {
  const ev = uniformEvents;
  const rows: Array<{
    name: string;
    current: number;
    desired: number;
    min: number;
    max: number;
    up?: Dir;
    down?: Dir;
    upEvents?: Array<{ t: number; change: number }>;
    downEvents?: Array<{ t: number; change: number }>;
    expected: number;
    limit?: string;
  }> = [
    {
      name: 'prenormalized desired replicas within range',
      current: 5,
      desired: 7,
      min: 3,
      max: 8,
      expected: 7,
    },
    {
      name: 'prenormalized desired replicas < minReplicas',
      current: 3,
      desired: 1,
      min: 2,
      max: 8,
      expected: 2,
      limit: 'MinReplicas',
    },
    {
      name: 'prenormalized desired replicas within range when minReplicas is 0',
      current: 1,
      desired: 0,
      min: 0,
      max: 10,
      expected: 0,
    },
    {
      name: 'maxReplicas is the limit because maxReplicas < scaleUpLimit',
      current: 20,
      desired: 1000,
      min: 1,
      max: 10,
      expected: 10,
      limit: 'MaxReplicas',
    },
    {
      name: 'desired replica count is more than the maximum replica count',
      current: 100,
      desired: 1000,
      min: 100,
      max: 150,
      expected: 150,
      limit: 'MaxReplicas',
    },
    {
      name: 'scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies',
      current: 3,
      desired: 1000,
      min: 1,
      max: 2000,
      up: rules(0, 0, 1, 60, 0),
      expected: 4,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies (skipped upstream via testThis)',
      current: 1000,
      desired: 3,
      min: 3,
      max: 2000,
      down: rules(20, 60, 0, 0, 0),
      expected: 980,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleUp with default behavior',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      expected: 20,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with pods policy larger than percent policy',
      current: 10,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(100, 60, 100, 60, 0),
      expected: 110,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with percent policy larger than pods policy',
      current: 10,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(2, 60, 100, 60, 0),
      expected: 20,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with spec MaxReplicas limitation with large pod policy',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(100, 60, 0, 0, 0),
      expected: 50,
    },
    {
      name: 'scaleUp with spec MaxReplicas limitation with large percent policy',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(10000, 60, 0, 0, 0),
      expected: 50,
    },
    {
      name: 'scaleUp with pod policy limitation',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(30, 60, 0, 0, 0),
      expected: 40,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with percent policy limitation',
      current: 10,
      desired: 50,
      min: 1,
      max: 1000,
      up: rules(0, 0, 200, 60, 0),
      expected: 30,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleDown with percent policy larger than pod policy',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(20, 60, 1, 60, 300),
      expected: 80,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with pod policy larger than percent policy',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(2, 60, 1, 60, 300),
      expected: 98,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with spec MinReplicas=nil limitation with large pod policy',
      current: 10,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(100, 60, 0, 0, 300),
      expected: 1,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with spec MinReplicas limitation with large pod policy',
      current: 10,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(100, 60, 0, 0, 300),
      expected: 1,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with spec MinReplicas limitation with large percent policy',
      current: 10,
      desired: 2,
      min: 5,
      max: 1000,
      down: rules(0, 0, 100, 60, 300),
      expected: 5,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with pod policy limitation',
      current: 10,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(5, 60, 0, 0, 300),
      expected: 5,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with percent policy limitation',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(0, 0, 50, 60, 300),
      expected: 5,
    },
    {
      name: 'scaleUp with spec MaxReplicas limitation with large pod policy and events',
      current: 100,
      desired: 500,
      min: 1,
      max: 200,
      up: rules(300, 60, 0, 0, 0),
      upEvents: ev([1, 5, 9], 120),
      expected: 200,
      limit: 'MaxReplicas',
    },
    {
      name: 'scaleUp with spec MaxReplicas limitation with large percent policy and events',
      current: 100,
      desired: 500,
      min: 1,
      max: 200,
      up: rules(0, 0, 10000, 60, 0),
      upEvents: ev([1, 5, 9], 120),
      expected: 200,
      limit: 'MaxReplicas',
    },
    {
      name: 'scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(5, 120, 0, 0, 0),
      upEvents: ev([1, 5, 9], 120),
      expected: 100,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with pod policy and previous scale up events',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(150, 120, 0, 0, 0),
      upEvents: ev([1, 5, 9], 120),
      expected: 235,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleUp with percent policy and previous scale up events',
      current: 100,
      desired: 500,
      min: 1,
      max: 1000,
      up: rules(0, 0, 200, 120, 0),
      upEvents: ev([1, 5, 9], 120),
      expected: 255,
      limit: 'ScaleUpRateLimit',
    },
    {
      name: 'scaleDown with default policy and previous events',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      downEvents: ev([1, 5, 9], 120),
      expected: 5,
    },
    {
      name: 'scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(115, 120, 0, 0, 300),
      downEvents: ev([1, 5, 9], 120),
      expected: 1,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with spec MinReplicas limitation with large pod policy and previous events',
      current: 100,
      desired: 0,
      min: 5,
      max: 1000,
      down: rules(130, 120, 0, 0, 300),
      downEvents: ev([1, 5, 9], 120),
      expected: 5,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with spec MinReplicas limitation with large percent policy and previous events',
      current: 100,
      desired: 2,
      min: 5,
      max: 1000,
      down: rules(0, 0, 100, 120, 300),
      downEvents: ev([1, 5, 9], 120),
      expected: 5,
      limit: 'MinReplicas',
    },
    {
      name: 'scaleDown with pod policy limitation and previous events',
      current: 100,
      desired: 2,
      min: 1,
      max: 1000,
      down: rules(5, 120, 0, 0, 300),
      downEvents: ev([1, 5, 9], 120),
      expected: 100,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with percent policy limitation and previous events',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(0, 0, 50, 120, 300),
      downEvents: ev([2, 4, 6], 120),
      expected: 56,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with previous events preventing further scale down',
      current: 100,
      desired: 0,
      min: 1,
      max: 1000,
      down: rules(0, 0, 10, 120, 300),
      downEvents: ev([10, 10, 10], 120),
      expected: 100,
      limit: 'ScaleDownRateLimit',
    },
    {
      name: 'scaleDown with with previous events still allowing more scale down',
      current: 10,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(0, 0, 1000, 120, 300),
      downEvents: ev([10, 10, 10], 120),
      expected: 5,
    },
    {
      name: "check 'outdated' flag for events for one behavior for up",
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 60, 0, 0, 0),
      upEvents: ev([8, 12, 9, 11], 120),
      expected: 200,
    },
    {
      name: "check that events were not marked 'outdated' for two different policies in the behavior for up",
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 120, 100, 60, 0),
      upEvents: ev([8, 12, 9, 11], 120),
      expected: 200,
    },
    {
      name: "check that events were marked 'outdated' for two different policies in the behavior for up",
      current: 100,
      desired: 200,
      min: 1,
      max: 1000,
      up: rules(1000, 30, 100, 60, 0),
      upEvents: ev([8, 12, 9, 11], 120),
      expected: 200,
    },
    {
      name: "check 'outdated' flag for events for one behavior for down",
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 60, 0, 0, 300),
      downEvents: ev([8, 12, 9, 11], 120),
      expected: 5,
    },
    {
      name: "check that events were not marked 'outdated' for two different policies in the behavior for down",
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 120, 100, 60, 300),
      downEvents: ev([8, 12, 9, 11], 120),
      expected: 5,
    },
    {
      name: "check that events were marked 'outdated' for two different policies in the behavior for down",
      current: 100,
      desired: 5,
      min: 1,
      max: 1000,
      down: rules(1000, 30, 100, 60, 300),
      downEvents: ev([8, 12, 9, 11], 120),
      expected: 5,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const d = viaProposal({
        ...r,
        state: emptyState({ scaleUpEvents: r.upEvents ?? [], scaleDownEvents: r.downEvents ?? [] }),
      });
      assert.equal(d.desiredReplicas, r.expected);
      if (r.limit) assert.equal(d.limitedBy[0], r.limit);
    });
  }
});

describe('HPA conformance: horizontal_test.go TestNormalizeDesiredReplicasWithBehavior (stabilizeRecommendationWithBehaviors)', () => {
  const ago = (min: number) => T0 - min * 60_000;
  // Rate policies wide enough not to interfere, so only the stabilization is exercised.
  const wideUp = (w: number): Dir => ({
    stabilizationWindowSeconds: w,
    policies: [{ type: 'Pods', value: 100000, periodSeconds: 15 }],
  });
  const wideDown = (w: number): Dir => ({
    stabilizationWindowSeconds: w,
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  });
  const rows: Array<{
    name: string;
    recs: Array<[number, number]>;
    current: number;
    desired: number;
    expected: number;
    up?: number;
    down?: number;
  }> = [
    { name: 'empty recommendations for scaling down', recs: [], current: 100, desired: 5, expected: 5 },
    {
      name: 'simple scale down stabilization',
      recs: [
        [4, 2],
        [5, 1],
      ],
      current: 100,
      desired: 3,
      expected: 5,
      down: 180,
    },
    {
      name: 'simple scale up stabilization',
      recs: [
        [4, 2],
        [5, 1],
      ],
      current: 1,
      desired: 7,
      expected: 4,
      up: 300,
    },
    {
      name: 'no scale down stabilization',
      recs: [
        [1, 2],
        [2, 1],
      ],
      current: 100,
      desired: 3,
      expected: 3,
      up: 300,
    },
    {
      name: 'no scale up stabilization',
      recs: [
        [4, 2],
        [5, 1],
      ],
      current: 1,
      desired: 3,
      expected: 3,
      down: 300,
    },
    {
      name: 'no scale down stabilization, reuse recommendation element',
      recs: [
        [10, 10],
        [9, 9],
      ],
      current: 100,
      desired: 3,
      expected: 3,
    },
    {
      name: 'no scale up stabilization, reuse recommendation element',
      recs: [
        [10, 10],
        [9, 9],
      ],
      current: 1,
      desired: 100,
      expected: 100,
    },
    {
      name: 'scale down stabilization, reuse one of obsolete recommendation element',
      recs: [
        [10, 10],
        [4, 1],
        [5, 2],
        [9, 9],
      ],
      current: 100,
      desired: 3,
      expected: 5,
      down: 180,
    },
    {
      name: 'scale up stabilization, reuse one of obsolete recommendation element',
      recs: [
        [10, 100],
        [6, 1],
        [5, 2],
        [9, 3],
      ],
      current: 1,
      desired: 100,
      expected: 5,
      up: 300,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const state = emptyState({
        recommendations: r.recs.map(([replicas, min]) => ({ t: ago(min), replicas })),
      });
      const spec = makeSpec({
        minReplicas: 1,
        maxReplicas: 1000,
        tolerance: 0,
        metrics: [{ name: 'desired', query: 'q', target: { type: 'AverageValue', value: '1' } }],
        scaleUp: wideUp(r.up ?? 0),
        scaleDown: wideDown(r.down ?? 0),
      });
      const out = decide({
        spec,
        state,
        observations: [ok('desired', r.desired)],
        currentReplicas: r.current,
        now: T0,
      });
      assert.equal(out.decision.desiredReplicas, r.expected);
      // The history stores the unstabilized recommendation (upstream expectedRecommendations ends with it).
      assert.deepEqual(out.state.recommendations.at(-1), { t: T0, replicas: r.desired });
      // The input state is not mutated.
      assert.equal(state.recommendations.length, r.recs.length);
    });
  }
});

describe('HPA conformance: horizontal_test.go TestNormalizeDesiredReplicas (downscale stabilization, 5 min window)', () => {
  const ago = (min: number) => T0 - min * 60_000;
  const rows: Array<{ name: string; recs: Array<[number, number]>; desired: number; expected: number }> = [
    { name: 'empty log', recs: [], desired: 5, expected: 5 },
    {
      name: 'stabilize',
      recs: [
        [4, 2],
        [5, 1],
      ],
      desired: 3,
      expected: 5,
    },
    {
      name: 'no stabilize',
      recs: [
        [1, 2],
        [2, 1],
      ],
      desired: 3,
      expected: 3,
    },
    {
      name: 'no stabilize - old recommendations',
      recs: [
        [10, 10],
        [9, 9],
      ],
      desired: 3,
      expected: 3,
    },
    {
      name: 'stabilize - old recommendations',
      recs: [
        [10, 10],
        [4, 1],
        [5, 2],
        [9, 9],
      ],
      desired: 3,
      expected: 5,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const d = viaProposal({
        current: 10,
        desired: r.desired,
        min: 1,
        max: 100,
        state: emptyState({ recommendations: r.recs.map(([replicas, min]) => ({ t: ago(min), replicas })) }),
      });
      assert.equal(d.desiredReplicas, r.expected);
      if (r.expected !== r.desired) assert.equal(d.limitedBy[0], 'ScaleDownStabilization');
    });
  }
});

describe('HPA conformance: horizontal_test.go scale-limit functions', () => {
  it('TestCalculateScaleUpLimitWithScalingRules: Min of 2 pods/60s and 50%/60s from 1 is 2', () => {
    const r = scaleUpLimit(
      1,
      [],
      [],
      {
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 2, periodSeconds: 60 },
          { type: 'Percent', value: 50, periodSeconds: 60 },
        ],
      },
      T0,
    );
    assert.equal(r.limit, 2);
    const d = viaProposal({
      current: 1,
      desired: 10,
      min: 1,
      max: 100,
      up: {
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 2, periodSeconds: 60 },
          { type: 'Percent', value: 50, periodSeconds: 60 },
        ],
      },
    });
    assert.equal(d.desiredReplicas, 2);
  });
  it('TestCalculateScaleDownLimitWithBehaviors: Min of 2 pods/60s and 50%/60s from 5 is 3', () => {
    const r = scaleDownLimit(
      5,
      [],
      [],
      {
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 2, periodSeconds: 60 },
          { type: 'Percent', value: 50, periodSeconds: 60 },
        ],
      },
      T0,
    );
    assert.equal(r.limit, 3);
    const d = viaProposal({
      current: 5,
      desired: 1,
      min: 1,
      max: 100,
      down: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 2, periodSeconds: 60 },
          { type: 'Percent', value: 50, periodSeconds: 60 },
        ],
      },
    });
    assert.equal(d.desiredReplicas, 3);
  });
});

describe('HPA conformance: horizontal_test.go TestStoreScaleEvents (getReplicasChangePerPeriod over 60 s, storing)', () => {
  const s = (sec: number) => T0 - sec * 1000;
  // differs (storage only): the HPA keeps outdated events flagged for reuse and stores nothing
  // without a behavior; Tidemark drops events older than the longest period and always stores
  // (its behavior is always defaulted). The sums the rate limits see are the same.
  const rows: Array<{
    name: string;
    prev: Array<[number, number]>;
    expectedChange: number;
    periods?: [number, number];
    kept: number[];
  }> = [
    {
      name: 'empty entries with default behavior (differs: Tidemark stores the event)',
      prev: [],
      expectedChange: 0,
      kept: [5],
    },
    {
      name: 'empty entries with two-policy-behavior',
      prev: [],
      expectedChange: 0,
      periods: [60, 60],
      kept: [5],
    },
    {
      name: 'one outdated entry to be kept untouched without behavior (differs: Tidemark drops it)',
      prev: [[7, 61]],
      expectedChange: 0,
      kept: [5],
    },
    {
      name: 'one outdated entry to be replaced with behavior',
      prev: [[7, 61]],
      expectedChange: 0,
      periods: [60, 60],
      kept: [5],
    },
    {
      name: 'one actual entry to be not touched with behavior',
      prev: [[7, 58]],
      expectedChange: 7,
      periods: [60, 60],
      kept: [7, 5],
    },
    {
      name: 'two entries, one of them to be replaced',
      prev: [
        [7, 61],
        [6, 59],
      ],
      expectedChange: 6,
      periods: [60, 60],
      kept: [6, 5],
    },
    {
      name: 'replace one entry, use policies with different periods',
      prev: [
        [8, 29],
        [6, 59],
        [7, 61],
        [9, 61],
      ],
      expectedChange: 14,
      periods: [60, 30],
      kept: [8, 6, 5],
    },
    {
      name: 'two entries, both actual',
      prev: [
        [7, 58],
        [6, 59],
      ],
      expectedChange: 13,
      periods: [120, 30],
      kept: [7, 6, 5],
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const prev = r.prev.map(([change, sec]) => ({ t: s(sec), change }));
      assert.equal(replicasChangeInPeriod(prev, 60, T0), r.expectedChange);
      // Store a scale-up by 5 (10 → 15) through decide(); rate policies from the upstream rules
      // (or the defaults, whose 15 s period keeps no 58 s-old event), made wide enough to allow it.
      const [p1, p2] = r.periods ?? [15, 15];
      const wide: Dir = {
        policies: [
          { type: 'Pods', value: 1000, periodSeconds: p1 },
          { type: 'Percent', value: 1000, periodSeconds: p2 },
        ],
      };
      const spec = makeSpec({
        minReplicas: 1,
        maxReplicas: 100,
        tolerance: 0,
        scaleUp: wide,
        scaleDown: { policies: [{ type: 'Percent', value: 100, periodSeconds: Math.min(p1, p2) }] },
        metrics: [{ name: 'd', query: 'q', target: { type: 'AverageValue', value: '1' } }],
      });
      const out = decide({
        spec,
        state: emptyState({ scaleUpEvents: prev }),
        observations: [ok('d', 15)],
        currentReplicas: 10,
        now: T0,
      });
      assert.equal(out.decision.desiredReplicas, 15);
      assert.deepEqual(
        out.state.scaleUpEvents.map((e) => e.change),
        r.periods ? r.kept : [5],
      );
    });
  }
});

describe('HPA conformance: replica_calculator_test.go (external and object metrics, Value and AverageValue targets)', () => {
  const rows: Array<{
    name: string;
    type: 'Value' | 'AverageValue';
    target: number;
    value: number;
    current: number;
    ready?: number;
    expected: number;
  }> = [
    {
      name: 'TestReplicaCalcScaleUpCMObject',
      type: 'Value',
      target: 15000,
      value: 20000,
      current: 3,
      expected: 4,
    },
    {
      name: 'TestReplicaCalcScaleUpCMPerPodObject',
      type: 'AverageValue',
      target: 5000,
      value: 20000,
      current: 3,
      expected: 4,
    },
    {
      name: 'TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods (readyReplicas 1)',
      type: 'Value',
      target: 10000,
      value: 50000,
      current: 3,
      ready: 1,
      expected: 5,
    },
    {
      name: 'TestReplicaCalcScaleUpCMExternal',
      type: 'Value',
      target: 4400,
      value: 8600,
      current: 1,
      expected: 2,
    },
    {
      name: 'TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods (readyReplicas 1)',
      type: 'Value',
      target: 4400,
      value: 8600,
      current: 3,
      ready: 1,
      expected: 2,
    },
    {
      name: 'TestReplicaCalcScaleUpCMExternalNoLabels',
      type: 'Value',
      target: 4400,
      value: 8600,
      current: 1,
      expected: 2,
    },
    {
      name: 'TestReplicaCalcScaleUpPerPodCMExternal',
      type: 'AverageValue',
      target: 2150,
      value: 8600,
      current: 3,
      expected: 4,
    },
    {
      name: 'TestReplicaCalcScaleDownCMObject',
      type: 'Value',
      target: 20000,
      value: 12000,
      current: 5,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcScaleDownPerPodCMObject',
      type: 'AverageValue',
      target: 2000,
      value: 6000,
      current: 5,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcScaleDownCMExternal',
      type: 'Value',
      target: 14334,
      value: 8600,
      current: 5,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcScaleDownPerPodCMExternal',
      type: 'AverageValue',
      target: 2867,
      value: 8600,
      current: 5,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcToleranceCMObject',
      type: 'Value',
      target: 20000,
      value: 20666,
      current: 3,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcTolerancePerPodCMObject',
      type: 'AverageValue',
      target: 5000,
      value: 20166,
      current: 4,
      expected: 4,
    },
    {
      name: 'TestReplicaCalcToleranceCMExternal',
      type: 'Value',
      target: 8888,
      value: 8600,
      current: 3,
      expected: 3,
    },
    {
      name: 'TestReplicaCalcTolerancePerPodCMExternal',
      type: 'AverageValue',
      target: 2900,
      value: 8600,
      current: 3,
      expected: 3,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const spec = makeSpec({
        minReplicas: 1,
        maxReplicas: 100,
        metrics: [{ name: 'qps', query: 'q', target: { type: r.type, value: String(r.target) } }],
        scaleDown: { stabilizationWindowSeconds: 0 },
      });
      const d = decide({
        spec,
        state: emptyState(),
        observations: [ok('qps', r.value)],
        currentReplicas: r.current,
        ...(r.ready !== undefined ? { readyReplicas: r.ready } : {}),
        now: T0,
      }).decision;
      assert.equal(d.metrics[0]?.proposedReplicas, r.expected);
      assert.equal(d.desiredReplicas, r.expected);
      if (r.expected === r.current) assert.deepEqual(d.limitedBy, ['WithinTolerance']);
    });
  }
});

describe('HPA conformance: horizontal_test.go controller cases', () => {
  // CPU utilisation cases are expressed as AverageValue metrics with the same usage ratio
  // (total millicores vs the per-pod target in millicores).
  const cpu = { name: 'cpu', query: 'q', target: { type: 'AverageValue' as const, value: '300' } };
  const qps = { name: 'qps', query: 'q', target: { type: 'Value' as const, value: '0.1' } };
  function run(o: {
    min: number;
    max: number;
    current: number;
    metrics: PolicySpec['metrics'];
    obs: MetricObservation[];
    state?: EngineState;
  }) {
    return decide({
      spec: makeSpec({ minReplicas: o.min, maxReplicas: o.max, metrics: o.metrics }),
      state: o.state,
      observations: o.obs,
      currentReplicas: o.current,
      now: T0,
    }).decision;
  }
  it('TestScaleUpOneMetricEmpty: cpu proposes 4 from 3, the failing external metric allows the scale-up', () => {
    const d = run({ min: 2, max: 6, current: 3, metrics: [cpu, qps], obs: [ok('cpu', 1200), failed('qps')] });
    assert.equal(d.desiredReplicas, 4);
  });
  it('TestNoScaleDownOneMetricEmpty: cpu proposes 3 from 5, a failed metric holds 5', () => {
    const c = { ...cpu, target: { type: 'AverageValue' as const, value: '500' } };
    const d = run({ min: 2, max: 6, current: 5, metrics: [c, qps], obs: [ok('cpu', 1400), failed('qps')] });
    assert.equal(d.desiredReplicas, 5);
    assert.equal(d.limitedBy[0], 'MetricFailureHoldsScaleDown');
  });
  it('TestNoScaleDownOneMetricInvalid: an invalid metric value (NaN) also holds 5', () => {
    const c = { ...cpu, target: { type: 'AverageValue' as const, value: '500' } };
    const d = run({
      min: 2,
      max: 6,
      current: 5,
      metrics: [c, qps],
      obs: [ok('cpu', 1400), ok('qps', Number.NaN)],
    });
    assert.equal(d.desiredReplicas, 5);
  });
  it('TestTooFewReplicas: 2 below minReplicas 3 goes to 3', () => {
    assert.equal(run({ min: 3, max: 5, current: 2, metrics: [cpu], obs: [ok('cpu', 0)] }).desiredReplicas, 3);
  });
  it('TestTooManyReplicas: 10 above maxReplicas 5 goes to 5', () => {
    const d = run({ min: 3, max: 5, current: 10, metrics: [cpu], obs: [ok('cpu', 0)] });
    assert.equal(d.desiredReplicas, 5);
    assert.deepEqual(d.limitedBy, ['MaxReplicas']);
  });
  it('TestMaxReplicas: cpu far above target from 3 is capped at maxReplicas 5', () => {
    const c = { ...cpu, target: { type: 'AverageValue' as const, value: '900' } };
    assert.equal(
      run({ min: 2, max: 5, current: 3, metrics: [c], obs: [ok('cpu', 18500)] }).desiredReplicas,
      5,
    );
  });
  it('TestZeroReplicas (differs): the HPA leaves a target at 0 with minReplicas 3 alone; Tidemark raises it to 3', () => {
    const d = run({ min: 3, max: 5, current: 0, metrics: [cpu], obs: [ok('cpu', 0)] });
    assert.equal(d.desiredReplicas, 3);
    assert.deepEqual(d.limitedBy, ['MinReplicas']);
  });
  it('recordInitialRecommendation: the first tick holds a scale-down for the window (state undefined)', () => {
    const d = run({ min: 1, max: 10, current: 5, metrics: [cpu], obs: [ok('cpu', 300)] });
    assert.equal(d.proposedReplicas, 1);
    assert.equal(d.desiredReplicas, 5);
    assert.equal(d.limitedBy[0], 'ScaleDownStabilization');
  });
});
