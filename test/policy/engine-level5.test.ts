// The Level 5 wiring in decide(): off changes nothing; on, the forecast, the anomaly hold and
// the self-tuning reach the decision, its status fields and the persisted state.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { type FlapState, flapStage } from '../../src/level5/autotune/flap.ts';
import type { ShadowState } from '../../src/level5/shadow.ts';
import { type Level5State, level5TrainForecast } from '../../src/level5/stages.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineOutput, EngineState, MetricObservation, PolicySpec } from '../../src/policy/types.ts';
import { autopilotSpec } from '../support/autopilot.ts';
import { emptyState } from './helpers.ts';

const T0 = 1_700_000_000_000;
/** A shadow evaluation whose gate is open: Level 5 acts. */
const ACTING: ShadowState = {
  v: 2,
  acting: 1,
  names: ['reactive', 'forecast'],
  virt: {},
  buckets: [],
  dir: 0,
};
const TICK = 15_000;

/** The shared validated spec (target 10 per replica, max 50) with `extra` on top. */
function spec(extra: Record<string, unknown> = {}): PolicySpec {
  return autopilotSpec(extra);
}

function obs(value: number | undefined): MetricObservation[] {
  return value === undefined
    ? [{ name: 'rps', ok: false, error: { kind: 'empty', message: 'no series' } }]
    : [{ name: 'rps', ok: true, value }];
}

/** Runs the values through decide(), the replicas following each decision. */
function run(s: PolicySpec, values: Array<number | undefined>, start = 10, state?: EngineState) {
  let current = start;
  let st = state;
  const outs: EngineOutput[] = [];
  values.forEach((v, i) => {
    const out = decide({
      spec: s,
      state: st,
      observations: obs(v),
      currentReplicas: current,
      readyReplicas: current,
      now: T0 + i * TICK,
    });
    outs.push(out);
    st = out.state;
    current = out.decision.desiredReplicas;
  });
  return outs;
}

/** A bursty load with a dip to zero and a failing stretch: every mechanism has something to do. */
const LOAD: Array<number | undefined> = Array.from({ length: 120 }, (_, i) => {
  if (i >= 60 && i < 64) return undefined;
  if (i >= 80 && i < 82) return 0;
  return 100 + 60 * Math.sin(i / 5) + (i % 7) * 9;
});

describe('engine with Level 5', () => {
  it('decides exactly as before when every Level 5 mechanism is disabled', () => {
    const plain = run(spec(), LOAD);
    const disabled = run(
      spec({
        predictive: { enabled: false },
        anomaly: { enabled: false },
        autotune: { enabled: false },
      }),
      LOAD,
    );
    assert.deepEqual(disabled, plain);
    for (const o of plain) {
      assert.equal(o.decision.conditions, undefined);
      assert.equal(o.decision.status, undefined);
      assert.equal(o.state.level5, undefined);
      assert.equal(o.state.tunedScaleDownStabilizationSeconds, undefined);
    }
  });

  it('forgets its state when switched off again', () => {
    const on = run(spec({ anomaly: { enabled: true }, autotune: { enabled: true } }), LOAD.slice(0, 10));
    const state = on.at(-1)?.state;
    assert.ok(state?.level5 !== undefined);
    assert.equal(state?.tunedScaleDownStabilizationSeconds, 300);
    const off = run(spec(), [100], 10, state);
    assert.equal(off[0]?.state.level5, undefined);
    assert.equal(off[0]?.state.tunedScaleDownStabilizationSeconds, undefined);
  });

  it('raises the proposal ahead of a known season with the forecast', () => {
    const s = spec({ predictive: { enabled: true, seasonPeriod: '2h', podStartupSeconds: 600 } });
    const season = 2 * 3600_000;
    const load = (t: number) => 100 + 80 * Math.sin((2 * Math.PI * t) / season);
    // At the steepest point of the rise, 615 s ahead is well above now.
    const now = Math.ceil(T0 / season) * season;
    const history: Array<[number, number]> = [];
    for (let t = now - 3 * season; t < now; t += TICK) history.push([t, load(t)]);
    // Level 5 already earned its place in the shadow evaluation (it starts standing aside).
    const level5 = { ...level5TrainForecast(s, undefined, 'rps', history), shadow: ACTING };
    let state: EngineState = {
      version: 1,
      recommendations: [],
      scaleUpEvents: [],
      scaleDownEvents: [],
      consecutiveFailures: 0,
      level5,
    };
    let out: EngineOutput | undefined;
    const reactive = Math.ceil(load(now + TICK) / 10);
    for (const t of [now, now + TICK]) {
      out = decide({
        spec: s,
        state,
        observations: obs(load(t)),
        currentReplicas: reactive,
        readyReplicas: reactive,
        now: t,
      });
      state = out.state;
    }
    const d = out?.decision;
    assert.ok(d);
    assert.ok(d.proposedReplicas > reactive + 1, `proposal ${d.proposedReplicas} vs reactive ${reactive}`);
    assert.ok(d.desiredReplicas > reactive, `desired ${d.desiredReplicas}`);
    assert.equal(d.direction, 'Up');
    assert.ok(d.limitedBy.includes('Forecast'), d.limitedBy.join());
    assert.match(d.reason, /forecast rps [\d.]+ \([\d.]+–[\d.]+\) up to \+615s proposes \d+/);
    assert.equal(d.conditions?.find((c) => c.type === 'ForecastReady')?.status, 'True');
    const f = d.forecasts?.[0];
    assert.ok(f?.ready && f.lower <= f.value && f.value <= f.upper, JSON.stringify(f));
    assert.equal(d.status?.forecast?.standingAside, false);
    assert.equal(d.status?.forecast?.replicas, f.replicas);
    assert.ok((state.level5 as Level5State).forecast.rps !== undefined);
  });

  it('holds an anomalous drop to zero, where the plain engine scales down', () => {
    const down = { scaleDown: { stabilizationWindowSeconds: 0 } };
    const values = [...Array<number>(12).fill(100), 0, 0];
    const plain = run(spec({ behavior: down }), values);
    assert.equal(plain[12]?.decision.desiredReplicas, 1, 'without anomaly handling the drop scales down');

    const held = run(spec({ behavior: down, anomaly: { enabled: true } }), values);
    for (const o of held.slice(12)) {
      assert.equal(o.decision.desiredReplicas, 10);
      assert.ok(o.decision.limitedBy.includes('AnomalyHeld'), o.decision.limitedBy.join());
      assert.match(o.decision.reason, /rps 0 held back as anomalous/);
      assert.equal(o.decision.conditions?.find((c) => c.type === 'AnomalyDetected')?.status, 'True');
    }
    assert.equal(held[13]?.decision.anomalyCounts?.rps?.dropToZero, 1);
    assert.ok(held[12]?.decision.events.some((e) => e.reason === 'AnomalyDetected'));
  });

  it('withdraws what a spike that fell straight back proposed: the replicas come back at once', () => {
    const values = [...Array<number>(30).fill(100), 1000, 1000, 1000, 1000, ...Array<number>(4).fill(100)];
    const plain = run(spec(), values);
    assert.ok((plain[33]?.decision.desiredReplicas ?? 0) > 10, 'the spike scales up');
    assert.ok(
      (plain[35]?.decision.desiredReplicas ?? 0) > 10,
      'without anomaly handling the window keeps them',
    );
    const guarded = run(spec({ anomaly: { enabled: true } }), values);
    assert.ok((guarded[33]?.decision.desiredReplicas ?? 0) > 10, 'a rise is followed at once');
    assert.equal(guarded[34]?.decision.desiredReplicas, 10);
    const spikeAt = T0 + 30 * TICK;
    assert.ok(guarded[34]?.state.recommendations.every((r) => r.t < spikeAt || r.replicas === 10));
    assert.equal(guarded[34]?.decision.anomalyCounts?.rps?.spike, 1);
  });

  it('while the metric is blind, a ready forecast of the load now raises the replicas', () => {
    const s = spec({
      predictive: { enabled: true, seasonPeriod: '2h' },
      anomaly: { enabled: true },
    });
    const season = 2 * 3600_000;
    const load = (t: number) => 100 + 80 * Math.sin((2 * Math.PI * t) / season);
    const now = Math.ceil(T0 / season) * season;
    const history: Array<[number, number]> = [];
    for (let t = now - 3 * season; t < now; t += TICK) history.push([t, load(t)]);
    const start = emptyState({ level5: level5TrainForecast(s, undefined, 'rps', history) });
    const blind = (sp: PolicySpec) => {
      let state = start;
      let current = Math.ceil(load(now) / 10);
      let out: EngineOutput | undefined;
      for (let i = 0; i < 40; i++) {
        const t = now + i * TICK;
        out = decide({
          spec: sp,
          state,
          observations: obs(i < 4 ? load(t) : undefined),
          currentReplicas: current,
          readyReplicas: current,
          now: t,
        });
        state = out.state;
        current = out.decision.desiredReplicas;
      }
      return current;
    };
    const need = Math.ceil(load(now + 39 * TICK) / 10);
    const held = blind(spec({ predictive: { enabled: true, seasonPeriod: '2h' } }));
    assert.ok(held <= 11, `the failure hold alone keeps ${held}`);
    const raised = blind(s);
    assert.ok(raised >= need - 1, `blind: ${raised} replicas, the load needs ${need}`);
  });

  it('never scales down on missing data, and records the tuned window with autotune on', () => {
    const s = spec({ anomaly: { enabled: true }, autotune: { enabled: true } });
    const outs = run(s, [...Array<number>(12).fill(100), ...Array<undefined>(30).fill(undefined)]);
    for (const o of outs.slice(12)) assert.ok(o.decision.desiredReplicas >= 10);
    const last = outs.at(-1)?.decision;
    assert.equal(last?.status?.tuned?.scaleDownStabilizationSeconds, 300);
    assert.equal(last?.conditions?.find((c) => c.type === 'AnomalyDetected')?.status, 'True');
    assert.equal(last?.anomalyCounts?.rps?.missing, 1);
  });

  it('continues identically from a state that went through JSON', () => {
    const s = spec({
      predictive: { enabled: true, seasonPeriod: '10m' },
      anomaly: { enabled: true },
      autotune: { enabled: true },
    });
    const all = run(s, LOAD);
    for (const cut of [20, 61, 81, 100]) {
      const mid = all[cut - 1]?.state;
      const roundTrip = JSON.parse(JSON.stringify(mid)) as EngineState;
      let current = all[cut - 1]?.decision.desiredReplicas ?? 0;
      let a = mid as EngineState;
      let b = roundTrip;
      for (let i = cut; i < LOAD.length; i++) {
        const input = {
          spec: s,
          observations: obs(LOAD[i]),
          currentReplicas: current,
          readyReplicas: current,
          now: T0 + i * TICK,
        };
        const oa = decide({ ...input, state: a });
        const ob = decide({ ...input, state: b });
        assert.deepEqual(ob.decision, oa.decision, `tick ${i} after a round trip at ${cut}`);
        assert.equal(JSON.stringify(ob.state), JSON.stringify(oa.state));
        a = oa.state;
        b = ob.state;
        current = oa.decision.desiredReplicas;
      }
    }
  });

  it('does not mutate the state it is given', () => {
    const s = spec({ predictive: { enabled: true, seasonPeriod: '10m' }, anomaly: { enabled: true } });
    const outs = run(s, LOAD.slice(0, 90));
    const state = outs.at(-1)?.state as EngineState;
    const before = JSON.stringify(state);
    decide({ spec: s, state, observations: obs(500), currentReplicas: 10, now: T0 + 90 * TICK });
    decide({ spec: s, state, observations: obs(0), currentReplicas: 10, now: T0 + 95 * TICK });
    assert.equal(JSON.stringify(state), before);
  });
});

// Regressions found by test/fuzz/engine.fuzz.test.ts once Level 5 was wired in.
describe('engine with Level 5: state and input hygiene', () => {
  const ALL = {
    predictive: { enabled: true, seasonPeriod: '10m' },
    anomaly: { enabled: true },
    autotune: { enabled: true },
  };

  /** JSON drops undefined keys and turns -0 into 0 and NaN into null: any of them breaks a restart. */
  function assertJsonStable(v: unknown, what: string): void {
    assert.ok(isDeepStrictEqual(JSON.parse(JSON.stringify(v)), v), `${what} changes through JSON`);
  }

  it('keeps no undefined keys in the forecast state (warm-up tables, closed bucket)', () => {
    // The fuzz counterexample: a 2-minute season (seasonPeriod 0s) fills its warm-up within a
    // few ticks; the values and target are the extreme ones it used.
    const s = spec({
      maxReplicas: 1,
      metrics: [{ name: 'rps', query: 'q', target: { type: 'AverageValue', value: '.1' } }],
      predictive: { enabled: true, seasonPeriod: '0s' },
    });
    const outs = run(s, [1e15, 0, 1e15, 0, 0, 1e15, 0, 1e15, 0], 1);
    for (const [i, o] of outs.entries()) assertJsonStable(o.state, `state after tick ${i}`);
    const f = (outs.at(-1)?.state.level5 as Level5State | undefined)?.forecast.rps;
    assert.ok(f !== undefined && f.daily.length > 0, 'the forecaster initialised');
  });

  it('keeps no undefined keys in the anomaly, ineffective-scaling and flap states', () => {
    // Missing data that comes back, a held drop to zero that recovers, scale-ups and downs.
    const s = spec({
      ...ALL,
      metrics: [{ name: 'rps', query: 'q', target: { type: 'Value', value: '500' } }],
    });
    for (const o of run(s, LOAD, 3)) assertJsonStable(o.state, `state at ${o.decision.reason}`);
    const missingThenBack = run(spec(ALL), [100, undefined, 100]);
    assertJsonStable(missingThenBack[2]?.state, 'state after a missing metric came back');
  });

  it('keeps no undefined reason in the flap state once the spec window passes the tuned one', () => {
    const cfg = { baseSeconds: 300, maxSeconds: 3600, reversalThreshold: 2, windowSeconds: 600 };
    let state: FlapState | undefined;
    // 5 → 6 → 5 → 6: two reversals widen the window to 600 s.
    [5, 6, 5, 6].forEach((currentReplicas, i) => {
      state = flapStage(cfg, state, { currentReplicas }, T0 + i * TICK).state;
    });
    assert.equal(state?.tunedSeconds, 600);
    const out = flapStage({ ...cfg, baseSeconds: 900 }, state, { currentReplicas: 6 }, T0 + 4 * TICK);
    assert.equal(out.result.scaleDownStabilizationSeconds, 900);
    assertJsonStable(out.state, 'flap state');
  });

  it('gives Level 5 a hostile ok value as the failure it is, not as a value', () => {
    const s = spec(ALL);
    const warm = run(s, LOAD.slice(0, 45)).at(-1) as EngineOutput;
    const kinds: Array<[number, 'nan' | 'infinite' | 'negative' | 'too-large']> = [
      [Number.NaN, 'nan'],
      [Number.POSITIVE_INFINITY, 'infinite'],
      [Number.NEGATIVE_INFINITY, 'infinite'],
      [-1, 'negative'],
      [2e15, 'too-large'],
      [1e308, 'too-large'],
    ];
    for (const [value, kind] of kinds) {
      const input = {
        spec: s,
        state: warm.state,
        currentReplicas: 10,
        readyReplicas: 10,
        now: T0 + 45 * TICK,
      };
      const got = decide({ ...input, observations: [{ name: 'rps', ok: true, value }] });
      const ref = decide({
        ...input,
        observations: [{ name: 'rps', ok: false, error: { kind, message: 'x' } }],
      });
      assert.deepEqual(got.state, ref.state, `${value}`);
      assert.equal(got.decision.desiredReplicas, ref.decision.desiredReplicas);
      assert.deepEqual(got.decision.limitedBy, ref.decision.limitedBy);
      assertJsonStable(got.state, `state after ${value}`);
    }
  });

  it('gives Level 5 the observation the engine used when a metric name repeats', () => {
    const s = spec(ALL);
    const warm = run(s, LOAD.slice(0, 45)).at(-1) as EngineOutput;
    const input = { spec: s, state: warm.state, currentReplicas: 10, readyReplicas: 10, now: T0 + 45 * TICK };
    const first = decide({ ...input, observations: obs(100) });
    const repeated = decide({ ...input, observations: [...obs(100), ...obs(0)] });
    assert.deepEqual(repeated, first);
  });

  it('treats an ok value of -0 as 0, in the HPA part and in Level 5', () => {
    for (const s of [spec(), spec(ALL)]) {
      const input = { spec: s, state: undefined, currentReplicas: 10, readyReplicas: 10, now: T0 };
      const neg = decide({ ...input, observations: [{ name: 'rps', ok: true, value: -0 }] });
      assertJsonStable(neg.state, 'state');
      assertJsonStable(neg.decision, 'decision');
      assert.deepEqual(neg, decide({ ...input, observations: obs(0) }));
    }
  });

  it('ignores readyReplicas 0 in the forecast proposal, as the reactive one does', () => {
    // Every pod restarting must not let a ready Full-mode forecast propose 0 replicas.
    const s = spec({
      metrics: [{ name: 'rps', query: 'q', target: { type: 'Value', value: '100' } }],
      predictive: { enabled: true, seasonPeriod: '1h', mode: 'Full' },
    });
    const now = T0;
    const history: Array<[number, number]> = [];
    for (let t = now - 3 * 3600_000; t < now; t += TICK) history.push([t, 1000]);
    const state: EngineState = {
      version: 1,
      recommendations: [],
      scaleUpEvents: [],
      scaleDownEvents: [],
      consecutiveFailures: 0,
      level5: level5TrainForecast(s, undefined, 'rps', history),
    };
    const input = { spec: s, state, observations: obs(1000), currentReplicas: 10, now };
    const allReady = decide({ ...input, readyReplicas: 10 });
    const noneReady = decide({ ...input, readyReplicas: 0 });
    assert.equal(allReady.decision.forecasts?.[0]?.ready, true, 'the forecast is ready');
    assert.equal(noneReady.decision.forecasts?.[0]?.replicas, allReady.decision.forecasts?.[0]?.replicas);
    assert.equal(noneReady.decision.desiredReplicas, allReady.decision.desiredReplicas);
    assert.equal(noneReady.decision.direction, 'Up');
  });
});
