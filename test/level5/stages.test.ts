import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { averageValueProposal } from '../../src/core/hpa-arithmetic.ts';
import {
  type Level5Input,
  type Level5Output,
  type Level5State,
  level5Stage,
  level5Targets,
  level5TrainForecast,
  metricLagSeconds,
} from '../../src/level5/stages.ts';
import type { MetricObservation, MetricResult, PolicySpec } from '../../src/policy/types.ts';
import { autopilotSpec } from '../support/autopilot.ts';

const T0 = 1_700_000_000_000;
const TICK = 15_000;

/** The shared validated spec (target 10 per replica, max 50) with `extra` on top. */
function spec(extra: Record<string, unknown> = {}): PolicySpec {
  return autopilotSpec(extra);
}

/** The engine's side of a tick: the reactive proposal for one AverageValue metric (target 10), or a failure. */
function tick(
  s: PolicySpec,
  state: Level5State | undefined,
  value: number | undefined,
  current: number,
  now: number,
  extra: Partial<Level5Input> = {},
): Level5Output {
  const obs: MetricObservation =
    value === undefined
      ? { name: 'rps', ok: false, error: { kind: 'empty', message: 'no series' } }
      : { name: 'rps', ok: true, value };
  const p =
    value === undefined ? undefined : averageValueProposal(value, 10, current, s.behavior.tolerance).replicas;
  const metric: MetricResult = {
    name: 'rps',
    target: 10,
    targetType: 'AverageValue',
    ...(value === undefined
      ? { error: { kind: 'empty', message: 'no series' } }
      : { value, proposedReplicas: p }),
  };
  return level5Stage({
    spec: s,
    metrics: [metric],
    proposal: p ?? current,
    observations: [obs],
    currentReplicas: current,
    readyReplicas: current,
    now,
    state,
    ...extra,
  });
}

function steady(s: PolicySpec, n: number, value: number, current: number, start?: Level5State) {
  let state = start;
  for (let i = 0; i < n; i++) state = tick(s, state, value, current, T0 + i * TICK).state;
  return state as Level5State;
}

describe('level 5 stage', () => {
  it('changes nothing and sets no condition when every mechanism is off', () => {
    const s = spec({});
    const out = tick(s, undefined, 0, 10, T0);
    assert.equal(out.proposal, 0, 'the reactive proposal, unchanged (clamping is left to the engine)');
    assert.deepEqual(out.limitedBy, []);
    assert.deepEqual(out.conditions, []);
    assert.equal(out.scaleDownStabilizationSeconds, undefined);
  });

  it('holds a drop for confirmationTicks ticks, then lets it scale down', () => {
    const s = spec({ anomaly: { enabled: true } });
    let state = steady(s, 12, 100, 10);
    const proposals: number[] = [];
    for (let i = 0; i < 6; i++) {
      const out = tick(s, state, 30, 10, T0 + (12 + i) * TICK);
      state = out.state;
      proposals.push(out.proposal);
      if (i < 4) {
        assert.deepEqual(out.limitedBy, ['AnomalyHeld']);
        assert.equal(out.conditions.find((c) => c.type === 'AnomalyDetected')?.status, 'True');
        assert.match(
          out.reasons[0] ?? '',
          /rps 30.0 held back as anomalous \(\d\/4 ticks\), using 100.0 which proposes 10/,
        );
      }
    }
    assert.deepEqual(proposals, [10, 10, 10, 10, 3, 3]);
    assert.equal(state.anomaly.rps?.counts.drop, 1);
  });

  it('lets a surge scale up at once', () => {
    const s = spec({ anomaly: { enabled: true } });
    const state = steady(s, 12, 100, 10);
    const out = tick(s, state, 400, 10, T0 + 12 * TICK);
    assert.equal(out.proposal, 40);
    assert.deepEqual(out.limitedBy, []);
    assert.equal(out.anomalyCounts.rps?.surge, 1);
    assert.ok(out.events.some((e) => e.reason === 'AnomalyDetected' && /acted on at once/.test(e.message)));
  });

  it('forecasts ahead in ScaleUpOnly mode once a season is learned, and stands aside before', () => {
    const s = spec({ predictive: { enabled: true, seasonPeriod: '2h', podStartupSeconds: 600 } });
    const season = 2 * 3600_000;
    // Load ramps up through each season: ahead of a rise the forecast asks for more than now.
    const load = (t: number) => 100 + 80 * Math.sin((2 * Math.PI * t) / season);
    const before = tick(s, undefined, load(T0), 10, T0);
    const cond = before.conditions.find((c) => c.type === 'ForecastReady');
    assert.equal(cond?.status, 'False');
    assert.match(cond?.message ?? '', /rps: history shorter than one season/);
    assert.equal(before.status.forecast?.standingAside, true);

    // At the steepest point of the rise (phase 0), 615 s ahead is well above now.
    const now = Math.ceil(T0 / season) * season;
    const history: Array<[number, number]> = [];
    for (let t = now - 3 * season; t < now; t += TICK) history.push([t, load(t)]);
    const trained = level5TrainForecast(s, undefined, 'rps', history);
    let out = tick(s, trained, load(now), 10, now);
    out = tick(s, out.state, load(now + TICK), 10, now + TICK);
    assert.equal(
      out.conditions.find((c) => c.type === 'ForecastReady')?.status,
      'True',
      JSON.stringify(out.conditions),
    );
    const reactive = Math.ceil(load(now + TICK) / 10);
    const ahead = Math.ceil(load(now + TICK + 615_000) / 10);
    assert.ok(ahead > reactive + 1, 'the test case rises enough');
    assert.ok(
      out.proposal >= ahead - 1 && out.proposal <= ahead + 1,
      `proposal ${out.proposal}, ahead ${ahead}`,
    );
    assert.deepEqual(out.limitedBy, ['Forecast']);
    assert.match(out.reasons[0] ?? '', /forecast rps [0-9.]+ \([0-9.]+–[0-9.]+\) up to \+615s proposes \d+/);
    const f = out.status.forecast;
    assert.equal(f?.standingAside, false);
    assert.equal(f?.model, 'holt-winters');
    assert.equal(f?.at, new Date(now + TICK + 615_000).toISOString());
    assert.ok(Number(f?.lower) <= Number(f?.value) && Number(f?.value) <= Number(f?.upper));
    assert.equal(out.forecasts[0]?.metric, 'rps');
  });

  it('does not teach the forecaster held-back samples', () => {
    const s = spec({ anomaly: { enabled: true }, predictive: { enabled: true, seasonPeriod: '1h' } });
    let state = steady(s, 12, 100, 10);
    for (let i = 0; i < 3; i++) state = tick(s, state, 0, 10, T0 + (12 + i) * TICK).state;
    assert.equal(state.forecast.rps?.skipped, 3);
  });

  it('caps scale-ups once scaling is ineffective', () => {
    const s = spec({ anomaly: { enabled: true, maxIneffectiveScaleUps: 0 } });
    // The load grows with the replicas: per-replica load stays at 20 (twice the target).
    let state: Level5State | undefined;
    let t = T0;
    let out: Level5Output | undefined;
    for (const replicas of [2, 4, 8]) {
      for (let i = 0; i < 16; i++) {
        out = tick(s, state, replicas * 20, replicas, t);
        state = out.state;
        t += TICK;
      }
    }
    assert.ok(out);
    assert.equal(out.conditions.find((c) => c.type === 'ScalingIneffective')?.status, 'True');
    assert.equal(out.proposal, 8);
    assert.deepEqual(out.limitedBy, ['ScalingIneffective']);
    assert.equal(out.ineffectiveCount, 1);
  });

  it('widens the scale-down window when the replica count flaps, and reports it in status', () => {
    const s = spec({ autotune: { enabled: true } });
    let state: Level5State | undefined;
    let out: Level5Output | undefined;
    // Only a scale-up soon after a scale-down counts (a regretted scale-down): three of them
    // widen 300 → 600, three more 600 → 1200.
    for (let i = 0; i < 14; i++) {
      out = tick(s, state, 50, i % 2 === 0 ? 5 : 6, T0 + i * 60_000);
      state = out.state;
    }
    assert.ok(out);
    assert.equal(out.scaleDownStabilizationSeconds, 1200);
    assert.equal(out.status.tuned?.scaleDownStabilizationSeconds, 1200);
    assert.match(out.status.tuned?.reason ?? '', /widened after 3 direction reversals/);
  });

  /** Peaks every `period` s, 3 min long (rps 200, else 50), the count held 300 s after each as the HPA would. */
  function peaks(s: PolicySpec, period: number, cycles: number) {
    let state: Level5State | undefined;
    const outs = new Map<number, Level5Output>();
    for (let t = 0; t < period * cycles; t += TICK / 1000) {
      const phase = t % period;
      const out = tick(s, state, phase < 180 ? 200 : 50, phase < 480 ? 20 : 5, T0 + t * 1000);
      state = out.state;
      outs.set(t, out);
    }
    return outs;
  }

  it('holds the short lulls of a policy that flaps and lets its long ones go at once', () => {
    const s = spec({ autotune: { enabled: true } });
    // Peaks every 7 min: the lull after one ends within the spec window, so it is held.
    const short = peaks(s, 420, 8);
    assert.ok((short.get(7 * 420 + 60)?.scaleDownStabilizationSeconds ?? 0) > 300);
    assert.match(short.get(7 * 420 + 60)?.status.tuned?.reason ?? '', /peaks every 420s/);
    // Peaks every 15 min: the lull lasts 12, so waiting out the window buys nothing.
    const long = peaks(s, 900, 6);
    assert.equal(long.get(5 * 900 + 180 + 90)?.scaleDownStabilizationSeconds, 150);
  });

  it('hands the SLO-learned target to the engine', () => {
    const s = spec({
      autotune: {
        enabled: true,
        slo: { metric: 'rps', latencyQuery: 'lat', objectiveSeconds: 0.2, minTarget: 5, maxTarget: 60 },
      },
    });
    let state: Level5State | undefined;
    for (let i = 0; i < 800; i++) {
      const perReplica = 5 + (i % 50);
      const latency = perReplica > 30 ? 0.5 : 0.1;
      state = tick(s, state, perReplica * 4, 4, T0 + i * TICK, { latencySeconds: latency }).state;
    }
    const targets = level5Targets(s, state);
    assert.ok((targets.rps ?? 0) >= 20 && (targets.rps ?? 0) <= 30, `target ${targets.rps}`);
  });

  it('continues identically after a JSON round trip of its state', () => {
    const s = spec({
      anomaly: { enabled: true },
      predictive: { enabled: true, seasonPeriod: '1h' },
      autotune: { enabled: true },
    });
    const values = Array.from({ length: 400 }, (_, i) =>
      i % 53 === 7 ? undefined : i % 97 > 90 ? 0 : 100 + 40 * Math.sin(i / 30),
    );
    let a: Level5State | undefined;
    let b: Level5State | undefined;
    let replicas = 10;
    for (const [i, v] of values.entries()) {
      const now = T0 + i * TICK;
      const oa = tick(s, a, v, replicas, now);
      const ob = tick(s, b === undefined ? undefined : JSON.parse(JSON.stringify(b)), v, replicas, now);
      assert.deepEqual(ob, { ...oa, state: ob.state });
      assert.deepEqual(JSON.parse(JSON.stringify(ob.state)), JSON.parse(JSON.stringify(oa.state)));
      a = oa.state;
      b = ob.state;
      replicas = Math.max(1, Math.min(50, oa.proposal));
    }
  });
});

describe('metric lag', () => {
  it('is half the longest range window plus half a polling interval', () => {
    assert.equal(metricLagSeconds('sum(rate(http_requests_total[1m])) * 60', 15), 37.5);
    assert.equal(metricLagSeconds('max_over_time(rate(x[30s])[5m:1m])', 30), 165);
    assert.equal(metricLagSeconds('sum(increase(x[1h30m]))', 10), 2705);
    assert.equal(metricLagSeconds('queue_depth{app="a"}', 15), 7.5);
  });
});
