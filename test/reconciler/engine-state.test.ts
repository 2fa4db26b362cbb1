// The stored engine state: its size with every Level 5 mechanism on, and its versions (v1 of
// the first release read with its forecaster tables dropped, v1 written in a form that release
// reads, a newer v2 read for what this release knows and never written back at a lower
// version, an unreadable one announced and left as stored).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, ENGINE_STATE_VERSION } from '../../src/policy/engine.ts';
import type { EngineInput, EngineOutput, EngineState, PolicySpec } from '../../src/policy/types.ts';
import {
  compactState,
  persistState,
  readStoredState,
  roundFraction,
} from '../../src/reconciler/engine-state.ts';
import { restorePersisted, statusChanged } from '../../src/reconciler/status.ts';
import { mergePatch, statusPatch } from '../../src/reconciler/tick-report.ts';
import { simulate } from '../../src/simulate/simulate.ts';
import { synthTrace } from '../../src/trace/synth.ts';
import { policySpec } from '../simulate/helpers.ts';
import { mergePatch as applyMergePatch } from './fake-kube.ts';
import { harness, policy } from './helpers.ts';

const T0 = 1_700_000_000_000;
const LIMIT = 4096;
const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));

const level5Spec = (extra: Record<string, unknown> = {}): PolicySpec =>
  policySpec({
    predictive: { enabled: true, seasonPeriod: '24h', weeklySeason: true },
    anomaly: { enabled: true },
    autotune: { enabled: true },
    ...extra,
  });

/** The engine's state after `days` of a synthetic seasonal trace run through the simulator. */
function simulatedState(spec: PolicySpec, days: number): EngineState {
  let last: EngineState | undefined;
  const engine = (input: EngineInput): EngineOutput => {
    const out = decide(input);
    last = out.state;
    return out;
  };
  const requests = Float64Array.from(synthTrace({ shape: 'seasonal', days, seed: 7 }));
  simulate({
    trace: { requests, firstMinute: 0 },
    traceName: 'seasonal',
    spec,
    capacity: 14,
    startupSeconds: 60,
    startTime: T0,
    engine,
  });
  assert.ok(last, 'the engine ran');
  return last;
}

/** Two metrics and SLO mode too (the simulator feeds no latency): the engine driven by hand. */
function sloState(days: number): EngineState {
  const spec = level5Spec({
    metrics: [
      { name: 'requests', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '14' } },
      { name: 'queue', query: 'sum(q)', target: { type: 'AverageValue', value: '20' } },
    ],
    autotune: {
      enabled: true,
      slo: { metric: 'requests', latencyQuery: 'lat', objectiveSeconds: 0.2, minTarget: 5, maxTarget: 40 },
    },
  });
  const perMinute = synthTrace({ shape: 'flash-crowd', days, seed: 11 });
  let state: EngineState | undefined;
  let current = 2;
  for (let tick = 0; tick < days * 1440 * 4; tick++) {
    const now = T0 + tick * 15_000;
    const rate = perMinute[Math.floor(tick / 4)]! / 6;
    const out = decide({
      spec,
      state,
      observations: [
        { name: 'requests', ok: true, value: rate, sampledAt: now },
        { name: 'queue', ok: true, value: rate * 1.3, sampledAt: now },
      ],
      currentReplicas: current,
      readyReplicas: current,
      latencySeconds: 0.05 + (0.01 * rate) / current,
      now,
    });
    state = out.state;
    current = out.decision.desiredReplicas;
  }
  return state!;
}

/** What the first release (v0.1.0) stored: version 1, compacted, with the forecaster's tables. */
function asVersion1(state: EngineState): EngineState {
  return { ...structuredClone(state), recommendations: compactState(state).recommendations, version: 1 };
}

describe('stored engine state size', () => {
  it(`is at most ${LIMIT} bytes per policy after days with predictive, anomaly and autotune on`, () => {
    const state = simulatedState(level5Spec(), 3);
    const before = bytes(asVersion1(state));
    const after = bytes(persistState(state));
    console.log(`engineState bytes, Level 5 on (simulated 3 days): version 1 ${before}, stored now ${after}`);
    assert.ok(
      (state.level5 as { forecast: Record<string, unknown> }).forecast.requests,
      'the forecaster ran',
    );
    assert.ok(after <= LIMIT, `${after} bytes`);
  });

  it(`is at most ${LIMIT} bytes with two metrics and SLO mode too`, () => {
    const state = sloState(3);
    const after = bytes(persistState(state));
    console.log(
      `engineState bytes, Level 5 on with SLO and 2 metrics: version 1 ${bytes(asVersion1(state))}, stored now ${after}`,
    );
    assert.ok((state.level5 as { slo?: unknown }).slo, 'SLO mode ran');
    assert.ok(after <= LIMIT, `${after} bytes`);
  });

  it('stays small with Level 5 off', () => {
    const after = bytes(persistState(simulatedState(policySpec(), 1)));
    console.log(`engineState bytes, Level 5 off: ${after}`);
    assert.ok(after <= 512, `${after} bytes`);
  });
});

describe('stored numbers', () => {
  it('keeps six significant digits of a fraction, every digit of an epoch ms, and integers exactly', () => {
    assert.equal(roundFraction(3.333333333333333), 3.33333);
    assert.equal(roundFraction(0.0005567615539638818), 0.000556762);
    assert.equal(roundFraction(1_700_259_200_000.5), 1_700_259_200_001);
    assert.equal(roundFraction(123_456.78), 123_457);
    assert.equal(roundFraction(1_700_259_185_000), 1_700_259_185_000);
    assert.equal(roundFraction(42), 42);
  });
});

/**
 * What v0.1.0 (the first release) accepts as its stored state, as its restoreState and level5
 * stage read it (git show v0.1.0:src/reconciler/status.ts, src/level5/stages.ts): version 1,
 * the four core fields, and a level5 of v 1 with anomaly and forecast objects. Anything else
 * it drops and starts the windows afresh.
 */
function readableByV010(x: unknown): boolean {
  const s = x as Record<string, unknown>;
  const l5 = s.level5 as Record<string, unknown> | undefined;
  const obj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  return (
    s.version === 1 &&
    Array.isArray(s.recommendations) &&
    Array.isArray(s.scaleUpEvents) &&
    Array.isArray(s.scaleDownEvents) &&
    typeof s.consecutiveFailures === 'number' &&
    (l5 === undefined || (l5.v === 1 && obj(l5.anomaly) && obj(l5.forecast)))
  );
}

describe('stored times for people', () => {
  const at = (ms: number) => new Date(ms).toISOString();
  const state: EngineState = {
    version: 1,
    recommendations: [
      { t: T0, replicas: 4 },
      { t: T0 + 15_000, replicas: 6 },
    ],
    scaleUpEvents: [{ t: T0 + 15_000, change: 2 }],
    scaleDownEvents: [],
    lastScaleTime: T0 + 15_000,
    consecutiveFailures: 0,
  };

  it('stores an RFC 3339 form beside each epoch ms that kubectl describe shows', () => {
    const written = persistState(state) as Record<string, unknown>;
    assert.deepEqual(written.times, {
      lastScaleTime: at(T0 + 15_000),
      recommendations: [at(T0), at(T0 + 15_000)],
      scaleUpEvents: [at(T0 + 15_000)],
    });
    assert.equal(written.lastScaleTime, T0 + 15_000, 'the epoch ms stay what every release reads');
    assert.ok(readableByV010(JSON.parse(JSON.stringify(written))));
  });

  it('reads them as derived: dropped on reading, not worth a write on their own', () => {
    const written = JSON.parse(JSON.stringify(persistState(state)));
    const read = readStoredState(written);
    assert.equal(read.kind, 'read');
    assert.equal((read as { state: EngineState }).state.times, undefined);
    const stale = { ...written, times: { lastScaleTime: at(T0) } };
    const spec = { fallback: undefined };
    assert.equal(statusChanged({ engineState: written }, { engineState: stale }, spec), false);
  });
});

describe('engine state across versions', () => {
  const state = simulatedState(level5Spec(), 2);

  it('stores a state v0.1.0 reads, so a downgrade or a v0.1.0 replica in a rolling upgrade keeps the windows', () => {
    for (const [name, s] of [
      ['Level 5 on', state],
      ['Level 5 off', simulatedState(policySpec(), 1)],
    ] as const) {
      const written = JSON.parse(JSON.stringify(persistState(s)));
      assert.ok(readableByV010(written), `${name}: ${JSON.stringify(written).slice(0, 300)}`);
      assert.deepEqual(written.level5?.forecast ?? {}, {}, `${name}: the tables are still not stored`);
    }
  });
  const v1 = asVersion1(state);

  it("reads v0.1.0's state: tables dropped, windows, events, tuned values and scores kept", () => {
    const r = restorePersisted(structuredClone(v1), T0 + 3 * 86_400_000, 15);
    assert.equal(r.note, undefined, 'the same version: nothing to announce');
    const s = r.state!;
    assert.equal(s.version, ENGINE_STATE_VERSION);
    const l5 = s.level5 as Record<string, unknown>;
    assert.deepEqual(l5.forecast, {});
    const old = v1.level5 as Record<string, unknown>;
    for (const k of ['shadow', 'flap', 'startup', 'ineffective', 'anomaly'])
      assert.deepEqual(l5[k], old[k], k);
    assert.deepEqual(s.scaleUpEvents, v1.scaleUpEvents);
    assert.deepEqual(s.scaleDownEvents, v1.scaleDownEvents);
    assert.equal(s.tunedScaleDownStabilizationSeconds, v1.tunedScaleDownStabilizationSeconds);
    assert.equal(s.recommendations.length, v1.recommendations.length);
  });

  it("writes v0.1.0's state back as version 1 with empty tables, and the merge patch empties the stored ones", () => {
    const read = readStoredState(structuredClone(v1));
    assert.equal(read.kind, 'read');
    const written = persistState((read as { state: EngineState }).state, v1);
    assert.equal(written.version, 1);
    assert.deepEqual((written.level5 as Record<string, unknown>).forecast, {});
    const patch = statusPatch({ engineState: v1 }, { engineState: written });
    const stored = applyMergePatch({ engineState: v1 }, patch) as { engineState: unknown };
    assert.deepEqual(stored.engineState, JSON.parse(JSON.stringify(written)));
  });

  it('reads back what it wrote, with the shadow scores and the windows', () => {
    const { times: _derived, ...written } = JSON.parse(JSON.stringify(persistState(state)));
    const r = restorePersisted(written, T0, 15);
    assert.equal(r.note, undefined);
    assert.deepEqual(r.state, written);
  });

  const v2 = () => ({
    ...JSON.parse(JSON.stringify(persistState(state))),
    version: 2,
    futureField: { kept: [1, 2, 3] },
    level5: { ...JSON.parse(JSON.stringify(persistState(state).level5)), futureModel: 'x' },
  });

  it('reads a newer version for the fields it knows and writes it back at that version, unknown fields kept', () => {
    const stored = v2();
    const r = restorePersisted(structuredClone(stored), T0, 15);
    assert.equal(r.note?.reason, 'EngineStateNewer');
    assert.deepEqual(r.state!.scaleUpEvents, stored.scaleUpEvents);
    const next = { ...r.state!, consecutiveFailures: 2, level5: { ...(r.state!.level5 as object) } };
    const written = persistState(next, stored) as Record<string, unknown>;
    assert.equal(written.version, 2, 'never a lower version over a newer one');
    assert.equal(written.writtenBy, ENGINE_STATE_VERSION);
    assert.deepEqual(written.futureField, { kept: [1, 2, 3] });
    assert.equal((written.level5 as Record<string, unknown>).futureModel, 'x');
    assert.equal(written.consecutiveFailures, 2, 'the known fields are this release’s');
  });

  it('announces a newer state it cannot read and leaves it as stored', () => {
    const stored = { ...v2(), recommendations: { format: 'changed by v2' } };
    const r = restorePersisted(structuredClone(stored), T0, 15);
    assert.equal(r.state, undefined);
    assert.equal(r.note?.level, 'warn');
    assert.equal(r.note?.reason, 'EngineStateUnreadable');
    assert.match(r.note!.message, /version 2.*recommendations.*left as stored/);
    const fresh = decide({
      spec: level5Spec(),
      state: undefined,
      observations: [],
      currentReplicas: 3,
      now: T0,
    }).state;
    assert.deepEqual(persistState(fresh, stored), stored);
    assert.deepEqual(mergePatch(stored, persistState(fresh, stored)), {});
  });

  it('announces a corrupt state of its own version and replaces it', () => {
    const r = restorePersisted({ version: 1, recommendations: 'x' }, T0, 15);
    assert.equal(r.note?.reason, 'EngineStateUnreadable');
    const fresh = decide({
      spec: policySpec(),
      state: undefined,
      observations: [],
      currentReplicas: 3,
      now: T0,
    }).state;
    assert.equal(persistState(fresh, { version: 1, recommendations: 'x' }).version, 1);
  });

  it('the reconciler says so in an Event when the stored state cannot be read, and keeps it', async () => {
    const p = policy();
    const stored = { version: 2, recommendations: 'new shape', scaleUpEvents: [], scaleDownEvents: [] };
    p.status = { engineState: stored };
    const h = harness(p, 4);
    h.collector.values.rps = 200;
    await h.tick();
    await h.tick();
    const ev = h.kube.events.filter((e) => e.reason === 'EngineStateUnreadable');
    assert.equal(ev.length, 1, 'one Event');
    assert.equal(ev[0]!.type, 'Warning');
    assert.deepEqual(h.kube.policy!.status?.engineState, stored, 'the newer state is not overwritten');
  });

  it("the reconciler empties the tables of v0.1.0's state on its first write", async () => {
    const p = policy({
      anomaly: { enabled: true },
      autotune: { enabled: true },
      predictive: { enabled: true },
    });
    const seeded = asVersion1(state);
    p.status = { engineState: seeded };
    const h = harness(p, 4);
    h.clock.t = T0 + 2 * 86_400_000 + 60_000;
    h.collector.values.rps = 200;
    await h.tick();
    const es = h.kube.policy!.status?.engineState as Record<string, unknown>;
    assert.equal(es.version, 1);
    assert.deepEqual((es.level5 as Record<string, unknown>).forecast, {}, 'the tables are gone from storage');
    assert.ok(h.kube.events.every((e) => e.reason !== 'EngineStateUnreadable'));
  });
});
