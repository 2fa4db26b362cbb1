import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AnomalyConfig,
  type AnomalyMetricState,
  anomalyStage,
} from '../../../src/level5/anomaly/detector.ts';
import type { EngineEvent, MetricObservation } from '../../../src/policy/types.ts';

const T0 = 1_700_000_000_000;
const cfg: AnomalyConfig = { confirmationTicks: 4, deviationThreshold: 6 };
const ok = (value: number, sampledAt?: number): MetricObservation => ({
  name: 'rps',
  ok: true,
  value,
  ...(sampledAt === undefined ? {} : { sampledAt }),
});
const failed: MetricObservation = {
  name: 'rps',
  ok: false,
  error: { kind: 'timeout', message: 'query timed out' },
};

/** Deterministic noise in [-1, 1). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  };
}

/** Feeds observations one tick (15 s) apart; returns the results, events and final state. */
function feed(obs: MetricObservation[], start?: AnomalyMetricState, c = cfg) {
  let state = start;
  const results = [];
  const events: EngineEvent[][] = [];
  for (const [i, o] of obs.entries()) {
    const out = anomalyStage(c, state, o, T0 + i * 15_000);
    state = out.state;
    results.push(out.result);
    events.push(out.events);
  }
  return { results, events, state: state as AnomalyMetricState };
}

const noise = lcg(11);
const steady = Array.from({ length: 30 }, () => ok(100 + 5 * noise()));

describe('anomaly detector', () => {
  it('raises nothing on a noisy but normal series', () => {
    const n = lcg(5);
    const { events, results } = feed(Array.from({ length: 300 }, () => ok(100 + 10 * n())));
    assert.deepEqual(events.flat(), []);
    assert.ok(results.every((r) => !r.held && !r.anomalous));
  });

  it('holds a drop to zero back for confirmationTicks ticks, then accepts it', () => {
    const { results, events, state } = feed([...steady, ...Array.from({ length: 6 }, () => ok(0))]);
    const drop = results.slice(30);
    for (let i = 0; i < 4; i++) {
      assert.equal(drop[i]?.held, true, `tick ${i + 1} held`);
      assert.ok((drop[i]?.value ?? 0) > 90, 'the last good value stands in');
      assert.equal(drop[i]?.observed, 0);
      assert.equal(drop[i]?.kind, 'dropToZero');
    }
    assert.equal(drop[4]?.held, false);
    assert.equal(drop[4]?.value, 0);
    assert.equal(drop[5]?.value, 0);
    assert.ok(
      drop.every((r) => r.dropout),
      'an outage is marked so it is not learned',
    );
    const ev = events.slice(30).flat();
    assert.deepEqual(
      ev.map((e) => e.reason),
      ['AnomalyDetected', 'AnomalyCleared'],
    );
    assert.match(
      ev[0]?.message ?? '',
      /rps fell to 0 from a median of .* held back until confirmed over 4 tick/,
    );
    assert.match(ev[1]?.message ?? '', /confirmed over 4 tick/);
    assert.equal(state.counts.dropToZero, 1);
  });

  it('a transient drop that recovers is never acted on', () => {
    const { results, events } = feed([...steady, ok(3), ok(2), ok(101), ok(99)]);
    assert.equal(results[30]?.held, true);
    assert.equal(results[31]?.held, true);
    assert.equal(results[32]?.held, false);
    assert.equal(results[32]?.value, 101);
    assert.equal(results[32]?.dropout, false);
    assert.ok(
      events[32]?.some((e) =>
        /recovered to 101.0 after a 2-tick drop that was never acted on/.test(e.message),
      ),
      JSON.stringify(events[32]),
    );
  });

  it('lets a surge through at once, with one event per surge', () => {
    const { results, events, state } = feed([...steady, ok(400), ok(420), ok(410)]);
    assert.equal(results[30]?.held, false);
    assert.equal(results[30]?.value, 400);
    assert.equal(results[30]?.kind, 'surge');
    assert.equal(results[30]?.anomalous, false, 'a surge is real load and may be learned');
    assert.equal(events.slice(30).flat().length, 1);
    assert.match(events[30]?.[0]?.message ?? '', /surged to 400.0 .* acted on at once/);
    assert.equal(state.counts.surge, 1);
  });

  it('records a missing metric once per gap and clears when it returns', () => {
    const { results, events, state } = feed([...steady, failed, failed, failed, ok(100)]);
    assert.ok(results.slice(30, 33).every((r) => r.anomalous && r.kind === 'missing' && !r.held));
    assert.deepEqual(
      events
        .slice(30)
        .flat()
        .map((e) => e.reason),
      ['AnomalyDetected', 'AnomalyCleared'],
    );
    assert.match(events[33]?.[0]?.message ?? '', /back after 3 tick\(s\) missing/);
    assert.equal(state.counts.missing, 1);
  });

  it('flags a stale sample by its timestamp', () => {
    const c = { ...cfg, staleAfterSeconds: 60 };
    const obs = [...steady, ok(100, T0 + 30 * 15_000 - 120_000)];
    const { results, state } = feed(obs, undefined, c);
    assert.equal(results[30]?.kind, 'stale');
    assert.equal(state.counts.stale, 1);
  });

  it('a gap followed by zeros is still held back', () => {
    const { results } = feed([...steady, failed, failed, ok(0), ok(0)]);
    assert.equal(results[32]?.held, true);
    assert.ok((results[32]?.value ?? 0) > 90);
  });

  it('continues identically after a JSON round trip', () => {
    const obs = [...steady, ok(0), ok(0), failed, ok(0), ok(0), ok(0), ok(300), ok(100)];
    const direct = feed(obs);
    let state: AnomalyMetricState | undefined;
    for (const [i, o] of obs.entries()) {
      const out = anomalyStage(
        cfg,
        state === undefined ? undefined : JSON.parse(JSON.stringify(state)),
        o,
        T0 + i * 15_000,
      );
      assert.deepEqual(out.result, direct.results[i]);
      assert.deepEqual(out.events, direct.events[i]);
      state = out.state;
    }
  });
});
