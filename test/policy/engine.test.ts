// Unit tests for Tidemark's own behaviour on top of the HPA: cooldowns, fallback, scale to and
// from zero, defence against bad values, reasons, the self-tuning override and speed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, effectiveScaleDownWindow } from '../../src/policy/engine.ts';
import type { EngineInput, EngineState, MetricObservation, PolicySpec } from '../../src/policy/types.ts';
import { emptyState, failed, makeSpec, ok, T0 } from './helpers.ts';

function tick(
  spec: PolicySpec,
  state: EngineState | undefined,
  obs: MetricObservation[],
  current: number,
  now: number,
  extra: Partial<EngineInput> = {},
) {
  return decide({ spec, state, observations: obs, currentReplicas: current, now, ...extra });
}

describe('cooldowns (Tidemark addition; the HPA has none)', () => {
  const spec = makeSpec({
    maxReplicas: 20,
    scaleUp: { cooldownSeconds: 60 },
    scaleDown: { stabilizationWindowSeconds: 0, cooldownSeconds: 120 },
  });
  it('holds a scale-up until cooldownSeconds after the last scaling action', () => {
    const state = emptyState({ lastScaleTime: T0 - 30_000 });
    const d = tick(spec, state, [ok('rps', 400)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 4);
    assert.equal(d.proposedReplicas, 8);
    assert.deepEqual(d.limitedBy, ['ScaleUpCooldown']);
    assert.match(d.reason, /scale-up held at 4 by 60s cooldown \(last scaling 30s ago\)/);
  });
  it('allows the scale-up once the cooldown has passed', () => {
    const d = tick(spec, emptyState({ lastScaleTime: T0 - 60_000 }), [ok('rps', 400)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 8);
  });
  it('has a separate scale-down cooldown', () => {
    const state = emptyState({ lastScaleTime: T0 - 90_000 });
    const d = tick(spec, state, [ok('rps', 50)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 4);
    assert.deepEqual(d.limitedBy, ['ScaleDownCooldown']);
    assert.equal(
      tick(spec, emptyState({ lastScaleTime: T0 - 120_000 }), [ok('rps', 50)], 4, T0).decision
        .desiredReplicas,
      1,
    );
  });
  it('records lastScaleTime and a scale event whenever it scales', () => {
    const out = tick(spec, emptyState(), [ok('rps', 400)], 4, T0);
    assert.equal(out.state.lastScaleTime, T0);
    assert.deepEqual(out.state.scaleUpEvents, [{ t: T0, change: 4 }]);
    const held = tick(spec, out.state, [ok('rps', 800)], 8, T0 + 15_000);
    assert.equal(held.decision.desiredReplicas, 8);
    assert.equal(held.state.lastScaleTime, T0);
  });
});

describe('metric failures and fallback', () => {
  const spec = makeSpec({ minReplicas: 1, maxReplicas: 10, fallback: { failureThreshold: 3, replicas: 6 } });
  it('holds the current count while every metric fails, then applies the fallback once the threshold is reached', () => {
    let state: EngineState | undefined = emptyState();
    const seen: string[] = [];
    const desired: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = tick(spec, state, [failed('rps')], 3, T0 + i * 15_000);
      state = out.state;
      desired.push(out.decision.desiredReplicas);
      seen.push(...out.decision.events.map((e) => e.reason));
      if (i < 2) assert.deepEqual(out.decision.limitedBy, ['MetricsUnavailable']);
      if (i >= 2) {
        assert.equal(out.decision.fallbackActive, true);
        assert.deepEqual(out.decision.limitedBy, ['Fallback']);
      }
    }
    assert.deepEqual(desired, [3, 3, 6, 6]);
    assert.deepEqual(seen, ['FallbackActivated']);
    assert.equal(state?.consecutiveFailures, 4);
    const back = tick(spec, state, [ok('rps', 280)], 6, T0 + 60_000);
    assert.equal(back.decision.fallbackActive, false);
    assert.deepEqual(
      back.decision.events.map((e) => e.reason),
      ['FallbackCleared'],
    );
    assert.equal(back.state.consecutiveFailures, 0);
    assert.equal(back.state.fallbackActive, undefined);
  });
  it('a metric outage longer than the scale-down window does not let the first reading after it scale down (bench-live)', () => {
    // Live, a 48 s exporter outage under a 60 s window: the first rate() after it read 6 % low
    // (the series restarts inside the window) and the operator scaled 8→7 at once, because the
    // failed ticks recorded nothing and the window had emptied. The held count is a recommendation.
    const s = makeSpec({ maxReplicas: 20 });
    let state = tick(s, emptyState(), [ok('rps', 400)], 8, T0).state;
    for (let t = 15_000; t <= 300_000; t += 15_000) state = tick(s, state, [failed('rps')], 8, T0 + t).state;
    const first = tick(s, state, [ok('rps', 330)], 8, T0 + 315_000);
    assert.equal(first.decision.desiredReplicas, 8);
    assert.deepEqual(first.decision.limitedBy, ['ScaleDownStabilization']);
    // A lower load that lasts a whole window after the outage still scales down.
    state = first.state;
    let d = first.decision;
    for (let t = 330_000; t <= 615_000; t += 15_000)
      ({ state, decision: d } = tick(s, state, [ok('rps', 330)], 8, T0 + t));
    assert.equal(d.desiredReplicas, 7);
  });
  it('without fallback.replicas the fallback holds the current count', () => {
    const s = makeSpec({ fallback: { failureThreshold: 1 } });
    const d = tick(s, emptyState(), [failed('rps')], 4, T0).decision;
    assert.equal(d.desiredReplicas, 4);
    assert.equal(d.fallbackActive, true);
  });
  it('treats NaN, Infinity and negative values in an ok observation as failures', () => {
    for (const [value, kind] of [
      [Number.NaN, 'nan'],
      [Number.POSITIVE_INFINITY, 'infinite'],
      [-1, 'negative'],
    ] as const) {
      const d = tick(spec, emptyState(), [ok('rps', value)], 3, T0).decision;
      assert.equal(d.desiredReplicas, 3);
      assert.equal(d.metrics[0]?.error?.kind, kind);
      assert.equal(d.metrics[0]?.proposedReplicas, undefined);
    }
  });
  it('a metric missing from the observations counts as failed', () => {
    const d = tick(spec, emptyState(), [], 3, T0).decision;
    assert.equal(d.metrics[0]?.error?.kind, 'empty');
  });
});

describe('scale to and from zero (Tidemark: the HPA never acts at 0 replicas)', () => {
  const spec = makeSpec({
    minReplicas: 0,
    maxReplicas: 10,
    metrics: [
      { name: 'queue', query: 'q', target: { type: 'AverageValue', value: '10' }, activationThreshold: '5' },
    ],
    scaleUp: { policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    scaleDown: { stabilizationWindowSeconds: 0 },
  });
  it('stays at 0 while no metric exceeds its activation threshold', () => {
    const d = tick(spec, emptyState(), [ok('queue', 5)], 0, T0).decision;
    assert.equal(d.desiredReplicas, 0);
    assert.deepEqual(d.limitedBy, ['BelowActivation']);
  });
  it('wakes when a metric exceeds its threshold, to at least 1 even under a Percent-only policy', () => {
    const d = tick(spec, emptyState(), [ok('queue', 6)], 0, T0).decision;
    assert.equal(d.desiredReplicas, 1);
    assert.equal(d.direction, 'Up');
  });
  it('wakes to the proposal when the rate policies allow it', () => {
    const s = makeSpec({
      ...spec,
      minReplicas: 0,
      maxReplicas: 10,
      metrics: spec.metrics,
      scaleUp: { policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] },
    });
    assert.equal(tick(s, emptyState(), [ok('queue', 35)], 0, T0).decision.desiredReplicas, 4);
  });
  it('goes to 0 only when every metric is at or below its activation threshold', () => {
    assert.equal(tick(spec, emptyState(), [ok('queue', 5)], 3, T0).decision.desiredReplicas, 0);
    assert.equal(tick(spec, emptyState(), [ok('queue', 5.5)], 3, T0).decision.desiredReplicas, 1);
  });
  it('does not go to 0 when a metric failed', () => {
    const s = makeSpec({
      ...spec,
      minReplicas: 0,
      maxReplicas: 10,
      metrics: [...spec.metrics, { name: 'rps', query: 'q', target: { type: 'Value', value: '1' } }],
      scaleDown: { stabilizationWindowSeconds: 0 },
    });
    const d = tick(s, emptyState(), [ok('queue', 0), failed('rps')], 3, T0).decision;
    assert.equal(d.desiredReplicas, 3);
  });
  it('the scale-down stabilization still applies on the way to 0', () => {
    const s = makeSpec({ minReplicas: 0, metrics: spec.metrics });
    const d = tick(
      s,
      emptyState({ recommendations: [{ t: T0 - 60_000, replicas: 2 }] }),
      [ok('queue', 0)],
      3,
      T0,
    ).decision;
    assert.equal(d.desiredReplicas, 2);
  });
});

describe('reasons and limits', () => {
  it('names the rate policy that limited a scale-up', () => {
    const spec = makeSpec({
      maxReplicas: 20,
      scaleUp: { policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
    const d = tick(spec, emptyState(), [ok('rps', 431.2)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 8);
    assert.equal(d.proposedReplicas, 9);
    assert.deepEqual(d.limitedBy, ['ScaleUpRateLimit']);
    assert.equal(
      d.reason,
      'rps 431.2 vs 50/replica proposes 9; scale-up limited to 8 by 100%/15s policy; scaling 4→8',
    );
  });
  it('explains a scale-down held by stabilization', () => {
    const spec = makeSpec();
    const state = emptyState({ recommendations: [{ t: T0 - 100_000, replicas: 5 }] });
    const d = tick(spec, state, [ok('rps', 12)], 5, T0).decision;
    assert.equal(d.desiredReplicas, 5);
    assert.equal(
      d.reason,
      'rps 12.0 vs 50/replica proposes 1; held at 5 by scale-down stabilization (highest recommendation in 300s window is 5)',
    );
    assert.deepEqual(d.limitedBy, ['ScaleDownStabilization']);
    assert.equal(d.direction, 'None');
  });
  it('puts the limit that decided the result first', () => {
    const spec = makeSpec({
      maxReplicas: 100,
      scaleUp: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] },
    });
    const state = emptyState({ recommendations: [{ t: T0 - 30_000, replicas: 9 }] });
    const d = tick(spec, state, [ok('rps', 1000)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 6);
    assert.deepEqual(d.limitedBy, ['ScaleUpRateLimit', 'ScaleUpStabilization']);
  });
  it("reports 'None' and tolerance", () => {
    const spec = makeSpec();
    const d = tick(spec, emptyState(), [ok('rps', 205)], 4, T0).decision;
    assert.deepEqual(d.limitedBy, ['WithinTolerance']);
    assert.match(d.reason, /within 10% tolerance/);
    const e = tick(spec, emptyState(), [ok('rps', 300)], 4, T0).decision;
    assert.deepEqual(e.limitedBy, ['None']);
    assert.equal(e.direction, 'Up');
  });
  it('selectPolicy Disabled blocks the direction', () => {
    const spec = makeSpec({ scaleUp: { selectPolicy: 'Disabled' } });
    const d = tick(spec, emptyState(), [ok('rps', 400)], 2, T0).decision;
    assert.equal(d.desiredReplicas, 2);
    assert.deepEqual(d.limitedBy, ['ScaleUpDisabled']);
  });
});

describe('per-direction tolerance (v1beta1, as the HPA since KEP-4951)', () => {
  // Target 50/replica at 4 replicas: the usage ratio is value / 200.
  const spec = makeSpec({
    tolerance: 0.1,
    scaleUp: { tolerance: 0 },
    scaleDown: { tolerance: 0.3, stabilizationWindowSeconds: 0 },
  });
  it('scales up past a zero scale-up tolerance that the shared 10% would have ignored', () => {
    const d = tick(spec, emptyState(), [ok('rps', 210)], 4, T0).decision;
    assert.equal(d.desiredReplicas, 5);
    const shared = tick(makeSpec({ tolerance: 0.1 }), emptyState(), [ok('rps', 210)], 4, T0).decision;
    assert.equal(shared.desiredReplicas, 4, 'behavior.tolerance alone still holds at 4');
  });
  it('holds inside the wider scale-down band, and scales down below it', () => {
    const held = tick(spec, emptyState(), [ok('rps', 150)], 4, T0).decision;
    assert.equal(held.desiredReplicas, 4);
    assert.deepEqual(held.limitedBy, ['WithinTolerance']);
    assert.match(held.reason, /within -30%\/\+0% tolerance/);
    const down = tick(spec, emptyState(), [ok('rps', 130)], 4, T0).decision;
    assert.equal(down.desiredReplicas, 3);
  });
  it('an unset direction takes behavior.tolerance', () => {
    const upOnly = makeSpec({
      tolerance: 0.2,
      scaleUp: { tolerance: 0 },
      scaleDown: { stabilizationWindowSeconds: 0 },
    });
    assert.equal(tick(upOnly, emptyState(), [ok('rps', 170)], 4, T0).decision.desiredReplicas, 4);
    assert.equal(tick(upOnly, emptyState(), [ok('rps', 150)], 4, T0).decision.desiredReplicas, 3);
  });
});

describe('extension points', () => {
  it('effectiveScaleDownWindow prefers the tuned state field', () => {
    const spec = makeSpec();
    assert.equal(effectiveScaleDownWindow(spec, emptyState()), 300);
    assert.equal(
      effectiveScaleDownWindow(spec, emptyState({ tunedScaleDownStabilizationSeconds: 900 })),
      900,
    );
    const state = emptyState({
      tunedScaleDownStabilizationSeconds: 900,
      recommendations: [{ t: T0 - 600_000, replicas: 7 }],
    });
    assert.equal(tick(spec, state, [ok('rps', 10)], 7, T0).decision.desiredReplicas, 7);
  });
  it('an afterProposal hook can change the proposal before stabilization', () => {
    const spec = makeSpec({ maxReplicas: 20 });
    const out = decide(
      { spec, state: emptyState(), observations: [ok('rps', 150)], currentReplicas: 2, now: T0 },
      {
        afterProposal: [
          (ctx) => {
            ctx.replicas = 4;
            ctx.applied.push('Forecast');
          },
        ],
      },
    );
    assert.equal(out.decision.desiredReplicas, 4);
    assert.equal(out.state.recommendations.at(-1)?.replicas, 4);
    assert.deepEqual(out.decision.limitedBy, ['Forecast']);
  });
});

describe('speed', () => {
  it('decides 340,000 ticks (a 58-day trace at 15 s) well under the simulator budget', () => {
    const spec = makeSpec({ maxReplicas: 50 });
    let state: EngineState | undefined;
    let current = 1;
    const started = performance.now();
    for (let i = 0; i < 340_000; i++) {
      const load = 300 + 280 * Math.sin(i / 500) + ((i * 7919) % 97);
      const out = decide({
        spec,
        state,
        observations: [ok('rps', load)],
        currentReplicas: current,
        now: T0 + i * 15_000,
      });
      state = out.state;
      current = out.decision.desiredReplicas;
    }
    const ms = performance.now() - started;
    assert.ok(ms < 20_000, `took ${ms.toFixed(0)} ms`);
    assert.ok((state?.recommendations.length ?? 0) <= 21);
  });
});
