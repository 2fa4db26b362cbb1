// What the shadow gate judges and what it does not (issue 19's defects): input guards (the
// anomaly hold, the ineffective-scaling cap) apply whether or not Level 5 may act; every bet
// (forecast, tuned window, SLO target, operating point) is judged, whichever switches are on,
// and the virtual Level 5 path is computed at its own replica count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyLevel5Plan,
  type Level5State,
  level5Stage,
  level5TrainForecast,
} from '../../src/level5/stages.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineOutput, EngineState, MetricResult, PolicySpec } from '../../src/policy/types.ts';
import { emptyState } from '../policy/helpers.ts';
import { autopilotSpec, closedLoop, resultOf } from '../support/autopilot.ts';

const T0 = 1_700_000_000_000;
const TICK = 15_000;
const NO_DOWN_WINDOW = { scaleDown: { stabilizationWindowSeconds: 0 } };

/** Runs fixed values through decide(), the replicas following each decision. */
function run(spec: PolicySpec, values: number[], start = 10, state?: EngineState): EngineOutput[] {
  let current = start;
  let st = state;
  return values.map((v, i) => {
    const out = decide({
      spec,
      state: st,
      observations: [{ name: 'rps', ok: true, value: v }],
      currentReplicas: current,
      readyReplicas: current,
      now: T0 + i * TICK,
    });
    st = out.state;
    current = out.decision.desiredReplicas;
    return out;
  });
}

describe('the shadow gate: guards apply, bets are judged', () => {
  it('holds an anomalous drop to zero while Level 5 stands aside (predictive on, gate closed)', () => {
    const s = autopilotSpec({
      behavior: NO_DOWN_WINDOW,
      anomaly: { enabled: true },
      predictive: { enabled: true, seasonPeriod: '1h' },
    });
    const outs = run(s, [...Array<number>(12).fill(100), 0, 0]);
    for (const o of outs.slice(12)) {
      assert.equal(o.decision.evaluation?.acting, false, 'the gate is closed (nothing scored yet)');
      assert.equal(o.decision.desiredReplicas, 10, o.decision.reason);
      assert.ok(o.decision.limitedBy.includes('AnomalyHeld'), o.decision.limitedBy.join());
    }
  });

  it('caps ineffective scale-ups while Level 5 stands aside (predictive on, gate closed)', () => {
    // Two replicas more every 5 minutes, each judged before the next.
    const slow = { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 300 }] } };
    const s = autopilotSpec({
      behavior: slow,
      anomaly: { enabled: true, maxIneffectiveScaleUps: 0 },
      predictive: { enabled: true, seasonPeriod: '1h' },
    });
    const plain = autopilotSpec({ behavior: slow });
    // The load grows with the replicas: per-replica load stays at twice the target.
    const loop = (spec: PolicySpec) => {
      let current = 2;
      let state: EngineState | undefined;
      let last: EngineOutput | undefined;
      for (let i = 0; i < 120; i++) {
        last = decide({
          spec,
          state,
          observations: [{ name: 'rps', ok: true, value: current * 20 }],
          currentReplicas: current,
          readyReplicas: current,
          now: T0 + i * TICK,
        });
        state = last.state;
        current = last.decision.desiredReplicas;
      }
      return { current, last: last as EngineOutput };
    };
    const capped = loop(s);
    const uncapped = loop(plain);
    assert.equal(capped.last.decision.evaluation?.acting, false, 'the gate is closed');
    assert.equal(
      capped.last.decision.conditions?.find((c) => c.type === 'ScalingIneffective')?.status,
      'True',
    );
    assert.ok(
      capped.current < uncapped.current,
      `scale-ups went on to ${capped.current} (${uncapped.current} without the cap) although ScalingIneffective was raised`,
    );
  });

  it('shows NotBeneficial in ForecastOnly mode while the forecast has not shown it would pay', () => {
    const s = autopilotSpec({ predictive: { enabled: true, seasonPeriod: '1h', mode: 'ForecastOnly' } });
    const season = 3600_000;
    const load = (t: number) => 100 + 80 * Math.sin((2 * Math.PI * t) / season);
    const history: Array<[number, number]> = [];
    for (let t = T0 - 3 * season; t < T0; t += TICK) history.push([t, load(t)]);
    const state = emptyState({ level5: level5TrainForecast(s, undefined, 'rps', history) });
    const d = decide({
      spec: s,
      state,
      observations: [{ name: 'rps', ok: true, value: load(T0) }],
      currentReplicas: 10,
      readyReplicas: 10,
      now: T0,
    }).decision;
    assert.ok(d.forecasts?.[0]?.ready, 'the forecast is ready');
    assert.equal(d.evaluation?.acting, false, 'nothing scored yet');
    const ready = d.conditions?.find((c) => c.type === 'ForecastReady');
    assert.equal(ready?.reason, 'NotBeneficial', JSON.stringify(ready));
    assert.match(ready?.message ?? '', /^standing aside until scored .*; ForecastOnly: rps /);
  });

  it('computes the virtual Level 5 path’s hold at that path’s count, not the acting one’s', () => {
    const s = autopilotSpec({ anomaly: { enabled: true } });
    let state: Level5State | undefined;
    let plan: ReturnType<typeof level5Stage>['plan'] | undefined;
    // 430 on 40 replicas is inside the tolerance (1.075): the acting path keeps 40; a path at 20
    // replicas must size the held load as 430 / 10 = 43.
    for (let i = 0; i < 14; i++) {
      const value = i < 12 ? 430 : 0;
      const metric: MetricResult = { name: 'rps', value, target: 10, targetType: 'AverageValue' };
      const out = level5Stage({
        spec: s,
        metrics: [metric],
        proposal: i < 12 ? 40 : 1,
        observations: [{ name: 'rps', ok: true, value }],
        currentReplicas: 40,
        readyReplicas: 40,
        now: T0 + i * TICK,
        state,
      });
      state = out.state;
      plan = out.plan;
    }
    assert.ok(plan?.held !== undefined, 'the drop is held');
    assert.equal(applyLevel5Plan(plan, 1, { current: 40, ready: 40 }).proposal, 40);
    assert.equal(applyLevel5Plan(plan, 1, { current: 20, ready: 20 }).proposal, 43);
  });

  it('standing aside with an SLO-tuned target decides exactly as with Level 5 off', () => {
    const slo = { metric: 'rps', latencyQuery: 'lat', objectiveSeconds: 0.2, minTarget: 5, maxTarget: 40 };
    const s = autopilotSpec({
      behavior: NO_DOWN_WINDOW,
      autotune: { enabled: true, slo },
      predictive: { enabled: true, seasonPeriod: '1h' },
    });
    const plain = autopilotSpec({ behavior: NO_DOWN_WINDOW });
    const learned: Level5State = {
      v: 1,
      anomaly: {},
      forecast: {},
      slo: { key: 'x', samples: [], breaches: [], target: 20 },
    };
    const state = emptyState({ level5: learned });
    const input = {
      state,
      observations: [{ name: 'rps', ok: true as const, value: 100 }],
      currentReplicas: 10,
      readyReplicas: 10,
      latencySeconds: 0.1,
      now: T0,
    };
    const tuned = decide({ ...input, spec: s }).decision;
    const off = decide({ ...input, spec: plain, state: { ...state, level5: undefined } }).decision;
    assert.equal(tuned.evaluation?.acting, false, 'the gate has scored nothing yet');
    assert.equal(tuned.desiredReplicas, off.desiredReplicas, tuned.reason);
    assert.equal(tuned.metrics[0]?.target, 10);
  });

  it('keeps the flap-tuned window acting through the gate when the forecast does not pay', () => {
    // The gate passed the self-tuning alone (variant "tuned", the forecast left out): the
    // widened window is in effect although the forecast's variant is not acting.
    const s = autopilotSpec({
      autotune: { enabled: true },
      predictive: { enabled: true, seasonPeriod: '1h' },
    });
    const level5 = (acting: number): Level5State => ({
      v: 1,
      anomaly: {},
      forecast: {},
      flap: { prevReplicas: 10, reversals: [], tunedSeconds: 600, changedAt: T0 },
      shadow: { v: 2, acting, names: ['reactive', 'forecast', 'tuned'], virt: {}, buckets: [], dir: 0 },
    });
    const tick = (acting: number) =>
      decide({
        spec: s,
        state: emptyState({ level5: level5(acting) }),
        observations: [{ name: 'rps', ok: true, value: 100 }],
        currentReplicas: 10,
        readyReplicas: 10,
        now: T0 + TICK,
      });
    const tuned = tick(2);
    assert.equal(tuned.decision.evaluation?.variant, 'tuned');
    assert.equal(tuned.state.tunedScaleDownStabilizationSeconds, 600);
    assert.equal(tick(0).state.tunedScaleDownStabilizationSeconds, 300, 'standing aside: the spec window');
  });

  it('judges the self-tuning and anomaly mechanisms without predictive: the gate exists', () => {
    const s = autopilotSpec({ anomaly: { enabled: true }, autotune: { enabled: true } });
    const outs = run(
      s,
      Array.from({ length: 40 }, (_, i) => (i % 8 < 4 ? 150 : 40)),
    );
    for (const o of outs) assert.ok(o.decision.evaluation !== undefined, 'a shadow evaluation on every tick');
  });

  it('self-tuning that costs replicas for nothing stands aside: no worse than hpa-default beyond the bound', () => {
    // Short bursts every 8 minutes: each scale-down is regretted, so the flap tuner widens the
    // window, holding the burst's replicas through every gap; misses do not fall with it.
    const windowSeconds = 1800;
    const s = autopilotSpec({ autotune: { enabled: true }, predictive: undefined });
    const loads = Array.from({ length: 8 * 60 }, (_, m) => (m % 8 === 0 ? 300 : 30));
    const sim = closedLoop({ ...s }, loads);
    const t = resultOf(sim, 'tidemark');
    const h = resultOf(sim, 'hpa-default');
    const bound = (windowSeconds / 60) * 50;
    assert.ok(
      t.replicaMinutes - h.replicaMinutes <= bound / 24,
      `tidemark ${t.replicaMinutes} vs hpa-default ${h.replicaMinutes} replica-minutes`,
    );
    assert.ok(t.underProvisionedMinutes <= h.underProvisionedMinutes, `${t.underProvisionedMinutes} misses`);
  });
});
