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

  it('holds a drop to zero back for zeroHoldSeconds (at least confirmationTicks ticks), then accepts it', () => {
    const c = { ...cfg, zeroHoldSeconds: 600 };
    const { results, events, state } = feed(
      [...steady, ...Array.from({ length: 42 }, () => ok(0))],
      undefined,
      c,
    );
    const drop = results.slice(30);
    for (let i = 0; i < 40; i++) {
      assert.equal(drop[i]?.held, true, `tick ${i + 1} held`);
      assert.ok((drop[i]?.value ?? 0) > 90, 'the last good value stands in');
      assert.equal(drop[i]?.observed, 0);
      assert.equal(drop[i]?.kind, 'dropToZero');
    }
    assert.equal(drop[40]?.held, false);
    assert.equal(drop[40]?.value, 0);
    assert.equal(drop[41]?.value, 0);
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
    assert.match(ev[1]?.message ?? '', /confirmed over 40 tick/);
    assert.equal(state.counts.dropToZero, 1);
  });

  it('holds a drop that is not to zero for confirmationTicks ticks only', () => {
    const { results } = feed([...steady, ...Array.from({ length: 6 }, () => ok(30))]);
    assert.ok(results.slice(30, 34).every((r) => r.held && r.kind === 'drop'));
    assert.equal(results[34]?.held, false);
    assert.equal(results[34]?.value, 30);
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

/** A smooth series: 100 drifting slowly, the way a rate over a 1-minute window moves tick to tick. */
const smooth = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ok(100 + 0.2 * (from + i)));

describe('anomaly detector: faults a real Prometheus shows', () => {
  it('a spike that falls straight back is withdrawn, and the next rise waits to settle', () => {
    const obs = [...steady, ok(1000), ok(1000), ok(1000), ok(1000), ok(101), ok(800), ok(102)];
    const { results, events, state } = feed(obs);
    for (let i = 30; i < 34; i++) {
      assert.equal(results[i]?.value, 1000, `tick ${i}: followed at once`);
      assert.equal(results[i]?.replaced ?? false, false);
    }
    assert.equal(results[34]?.value, 101);
    assert.equal(results[34]?.retractSince, T0 + 30 * 15_000, 'what the spike proposed is withdrawn');
    assert.ok(
      events[34]?.some((e) => /spike .* withdrawn/.test(e.message)),
      JSON.stringify(events[34]),
    );
    assert.equal(results[35]?.replaced, true, 'a rise right after a spike is held');
    assert.ok((results[35]?.value ?? 0) < 120, `stand-in ${results[35]?.value}`);
    assert.equal(results[36]?.replaced ?? false, false);
    assert.equal(state.counts.spike, 1);
  });

  it('an exporter gone mad is held at the last good value once it jumps back down', () => {
    const mad = [1500, 300, 1800, 20, 900, 1400, 250, 1900, 700, 1100, 60, 1600];
    const { results, state } = feed([...steady, ...mad.map((v) => ok(v)), ...steady.slice(0, 8)]);
    assert.equal(results[30]?.value, 1500, 'the first jump is followed: it could be a flash crowd');
    for (let i = 31; i < 30 + mad.length; i++) {
      assert.ok(
        (results[i]?.value ?? 0) < 120,
        `tick ${i}: ${results[i]?.value} stands in for ${mad[i - 30]}`,
      );
      assert.ok(results[i]?.anomalous, `tick ${i} is not learned`);
    }
    assert.equal(results[31]?.retractSince, T0 + 30 * 15_000);
    assert.equal(state.counts.erratic, 1);
    assert.ok(results.slice(30 + mad.length + 4).every((r) => !r.replaced && !r.held));
  });

  it('a genuine surge, ramping up through the rate window and staying, is followed on every tick', () => {
    const ramp = [325, 550, 775, 1000].map((v) => ok(v));
    const n = lcg(3);
    const top = Array.from({ length: 40 }, () => ok(1000 + 30 * n()));
    const down = [775, 550, 325, 100].map((v) => ok(v));
    const obs = [...steady, ...ramp, ...top, ...down, ...steady];
    const { results } = feed(obs);
    for (let i = 30; i < obs.length; i++) {
      assert.equal(results[i]?.replaced ?? false, false, `tick ${i}`);
      assert.equal(results[i]?.retractSince, undefined, `tick ${i}`);
      if (!results[i]?.held) assert.equal(results[i]?.value, (obs[i] as { value: number }).value);
    }
  });

  it('a series that doubles in one tick and stays doubled is halved, then restored when it halves back', () => {
    const doubled = smooth(20, 30).map((o) => ok(2 * (o as { value: number }).value));
    const obs = [...smooth(30), ...doubled, ...smooth(10, 50)];
    const { results, events, state } = feed(obs);
    assert.equal(
      results[30]?.value,
      (obs[30] as { value: number }).value,
      'a step is followed until it proves a duplicate',
    );
    const confirmed = results.findIndex((r, i) => i >= 30 && r.replaced === true);
    assert.ok(confirmed > 30 && confirmed <= 33, `confirmed at ${confirmed}`);
    assert.equal(results[confirmed]?.retractSince, T0 + 30 * 15_000);
    for (let i = confirmed; i < 50; i++) {
      assert.ok(Math.abs((results[i]?.value ?? 0) - 100 - 0.2 * i) < 0.01, `tick ${i}: ${results[i]?.value}`);
      assert.ok(results[i]?.anomalous);
    }
    for (let i = 50; i < 60; i++) assert.equal(results[i]?.value, (obs[i] as { value: number }).value);
    assert.ok(events.flat().some((e) => /doubled/.test(e.message)));
    assert.equal(state.counts.doubled, 1);
  });

  it('a flash crowd that doubles over the rate window is not taken for a duplicate series', () => {
    const obs = [
      ...smooth(30),
      ok(200),
      ok(300),
      ok(400),
      ok(500),
      ...Array.from({ length: 10 }, () => ok(500)),
    ];
    const { results } = feed(obs);
    assert.ok(
      results.every((r) => !r.replaced),
      JSON.stringify(results.slice(30).map((r) => r.value)),
    );
  });

  it('a value that doubles as the replicas double, or stays as they halve, is not a duplicate series', () => {
    const run = (values: MetricObservation[], replicas: number[]) => {
      let state: AnomalyMetricState | undefined;
      return values.map((o, i) => {
        const r = anomalyStage(cfg, state, o, T0 + i * 15_000, replicas[i] ?? replicas.at(-1));
        state = r.state;
        return r.result;
      });
    };
    const doubling = [...smooth(30), ...smooth(10, 30).map((x) => ok(2 * (x as { value: number }).value))];
    const sum = run(doubling, [...Array<number>(30).fill(4), 8]);
    assert.ok(
      sum.every((r) => !r.replaced),
      'a sum over pods doubles with them',
    );
    const flat = run(smooth(40), [...Array<number>(30).fill(8), 4]);
    assert.ok(
      flat.every((r) => !r.replaced),
      'per replica, a halving count looks like a doubling',
    );
  });

  it('a series frozen on one value is stale; one that repeats by nature is not', () => {
    const frozen = feed([...steady, ...Array.from({ length: 16 }, () => ok(104.25)), ok(99)]);
    assert.equal(frozen.results[36]?.kind, undefined, 'a few repeats are not yet a frozen series');
    assert.equal(frozen.results[43]?.kind, 'stale');
    assert.equal(frozen.results[43]?.anomalous, true);
    assert.equal(frozen.results[43]?.held, true, 'no scale-down from a frozen value');
    assert.equal(frozen.state.counts.stale, 1);
    assert.ok(frozen.events[46]?.some((e) => e.reason === 'AnomalyCleared'));
    const stepped = Array.from({ length: 80 }, (_, i) => ok(10 + Math.floor(i / 12)));
    assert.ok(feed(stepped).results.every((r) => r.kind !== 'stale'));
  });

  it('holds a collapse to zero for zeroHoldSeconds even past confirmationTicks', () => {
    const zeros = Array.from({ length: 44 }, () => ok(0));
    const { results } = feed([...steady, ...zeros], undefined, { ...cfg, zeroHoldSeconds: 600 });
    assert.ok(
      results.slice(30, 70).every((r) => r.held),
      'held while the zeros last under ten minutes',
    );
    assert.equal(results[71]?.held, false, 'accepted after ten minutes');
    assert.equal(results[71]?.value, 0);
  });
});
