import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type ForecastConfig,
  type ForecastResult,
  type ForecastState,
  forecastStage,
  subSeasonPeriods,
} from '../../../src/level5/forecast/holtwinters.ts';

const T0 = 1_699_999_200_000; // a whole hour, so minute-of-hour 0 is on the hour
const MIN = 60_000;
const SEASON = 6 * 3600; // a short season keeps the tests fast; nothing depends on 24 h
const cfg: ForecastConfig = {
  stepSeconds: 60,
  seasonSeconds: SEASON,
  weekly: false,
  leadSeconds: 120,
  maxErrorPercent: 1000,
};

/** Deterministic noise in [-1, 1) (a linear congruential generator: tests must not use Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  };
}

const daily = (t: number) => 100 + 50 * Math.sin((2 * Math.PI * (t - T0)) / (SEASON * 1000));
/** Jobs on the hour and the half hour: +120 for three minutes from :00 and from :30. */
const surges = (t: number) => daily(t) + (Math.floor((t - T0) / MIN) % 30 < 3 ? 120 : 0);

function run(config: ForecastConfig, minutes: number, value: (t: number) => number) {
  let state: ForecastState | undefined;
  const results: ForecastResult[] = [];
  for (let m = 0; m < minutes; m++) {
    const out = forecastStage(config, state, { value: value(T0 + m * MIN), trusted: true }, T0 + m * MIN);
    state = out.state;
    results.push(out.result);
  }
  return { state: state as ForecastState, results };
}

/** Mean |forecast − actual| over the results of the last season, at the minutes they were for. */
function lastSeasonError(results: ForecastResult[], value: (t: number) => number): number {
  const tail = results.slice(-SEASON / 60).filter((r) => r.forecast !== undefined);
  return tail.reduce((a, r) => a + Math.abs((r.forecast?.value ?? 0) - value(r.at)), 0) / tail.length;
}

describe('sub-daily seasons chosen by held-back error', () => {
  it('learns surges on the hour and the half hour and halves the error of the daily model alone', () => {
    const minutes = (6 * SEASON) / 60;
    const withSub = run(cfg, minutes, surges);
    const plain = run({ ...cfg, subSeasonsSeconds: [] }, minutes, surges);
    const last = withSub.results[withSub.results.length - 1] as ForecastResult;
    assert.ok(
      last.subSeasonSeconds === 1800 || last.subSeasonSeconds === 3600,
      `picked ${last.subSeasonSeconds}`,
    );
    assert.equal(plain.results[plain.results.length - 1]?.subSeasonSeconds, undefined);
    const e1 = lastSeasonError(withSub.results, surges);
    const e0 = lastSeasonError(plain.results, surges);
    assert.ok(e1 < 0.5 * e0, `error with sub-daily seasons ${e1}, daily only ${e0}`);
  });

  it('forecasts the surge minute itself: the value two minutes ahead of :00 is near the surge', () => {
    const { state, results } = run(cfg, (6 * SEASON) / 60, surges);
    assert.ok(state.pick, 'a sub-daily season is in use');
    // Forecasts made at :58 are for :00, the first minute of a surge.
    const onTheHour = results.slice(-SEASON / 60).filter((r) => Math.floor((r.at - T0) / MIN) % 30 === 0);
    assert.ok(onTheHour.length >= 10);
    for (const r of onTheHour) {
      const err = Math.abs((r.forecast?.value ?? 0) - surges(r.at));
      assert.ok(
        err < 30,
        `forecast for ${new Date(r.at).toISOString()}: ${r.forecast?.value} vs ${surges(r.at)}`,
      );
    }
  });

  it('keeps the plain model on a daily rhythm with noise and no sub-daily pattern', () => {
    const noise = lcg(7);
    const values = new Map<number, number>();
    const noisy = (t: number) => {
      let v = values.get(t);
      if (v === undefined) {
        v = daily(t) + 15 * noise();
        values.set(t, v);
      }
      return v;
    };
    const { state, results } = run(cfg, (6 * SEASON) / 60, noisy);
    assert.equal(
      state.pick ?? 0,
      0,
      `picked ${state.pick}; errors ${state.baseErr} vs ${state.sub?.map((c) => `${c.p}: ${c.e}`)}`,
    );
    assert.equal(results[results.length - 1]?.subSeasonSeconds, undefined);
  });

  it('continues a state from before the candidates existed (no sub, two-element pending entries)', () => {
    const { state } = run({ ...cfg, subSeasonsSeconds: [] }, (2 * SEASON) / 60, surges);
    assert.equal(state.sub, undefined);
    const old = JSON.parse(JSON.stringify(state)) as ForecastState;
    const now = T0 + ((2 * SEASON) / 60) * MIN;
    const out = forecastStage(cfg, old, { value: surges(now), trusted: true }, now);
    const next = forecastStage(cfg, out.state, { value: surges(now + MIN), trusted: true }, now + MIN);
    assert.deepEqual(
      next.state.sub?.map((c) => [c.p, c.t.length]),
      [
        [1800, 30],
        [3600, 60],
      ],
    );
    assert.equal(next.result.ready, out.result.ready);
  });

  it('keeps only candidate periods of at least four steps that divide the season', () => {
    assert.deepEqual(
      subSeasonPeriods({ ...cfg, subSeasonsSeconds: [3600, 120, 1800, 7000, 3600] }, 60, 86400),
      [1800, 3600],
    );
    assert.deepEqual(subSeasonPeriods({ ...cfg, subSeasonsSeconds: [3600] }, 900, 86400), [3600]);
    assert.deepEqual(subSeasonPeriods({ ...cfg, subSeasonsSeconds: [1800] }, 900, 86400), []);
    assert.deepEqual(subSeasonPeriods(cfg, 60, 86400), [1800, 3600]);
  });
});

describe('sub-daily seasons: properties', () => {
  const SHORT = 2 * 3600; // two-hour seasons keep each run to a few hundred steps
  const small: ForecastConfig = { ...cfg, seasonSeconds: SHORT, subSeasonsSeconds: [600, 1800] };
  /** Random series: a level, a season, jobs every k minutes and noise, with some samples missing. */
  const series = fc.record({
    level: fc.integer({ min: 0, max: 500 }),
    amplitude: fc.integer({ min: 0, max: 200 }),
    every: fc.constantFrom(10, 15, 30, 45),
    job: fc.integer({ min: 0, max: 300 }),
    noise: fc.integer({ min: 0, max: 80 }),
    seed: fc.nat(),
    missingEvery: fc.integer({ min: 0, max: 20 }),
  });
  const valuesOf = (p: Parameters<typeof sample>[0]) => sample(p);
  function sample(p: {
    level: number;
    amplitude: number;
    every: number;
    job: number;
    noise: number;
    seed: number;
    missingEvery: number;
  }): Array<number | undefined> {
    const rnd = lcg(p.seed);
    return Array.from({ length: (4 * SHORT) / 60 }, (_, m) => {
      const v =
        p.level +
        p.amplitude * Math.sin((2 * Math.PI * m * 60) / SHORT) +
        (m % p.every < 2 ? p.job : 0) +
        p.noise * rnd();
      return p.missingEvery > 0 && m % p.missingEvery === 0 ? undefined : Math.max(0, v);
    });
  }

  it('never changes the plain model: level, trend and seasons are those of a forecaster without candidates', () => {
    fc.assert(
      fc.property(series, (p) => {
        const values = valuesOf(p);
        let a: ForecastState | undefined;
        let b: ForecastState | undefined;
        for (const [m, v] of values.entries()) {
          const input = { ...(v === undefined ? {} : { value: v }), trusted: v !== undefined };
          a = forecastStage(small, a, input, T0 + m * MIN).state;
          b = forecastStage({ ...small, subSeasonsSeconds: [] }, b, input, T0 + m * MIN).state;
        }
        const plain = (s: ForecastState | undefined) => [s?.level, s?.trend, s?.daily, s?.weekly, s?.resid];
        assert.deepEqual(plain(a), plain(b));
      }),
      { seed: 19, numRuns: 25 },
    );
  });

  it('the season in use is always within the switching margin of the lowest held-back error', () => {
    fc.assert(
      fc.property(series, (p) => {
        let s: ForecastState | undefined;
        for (const [m, v] of valuesOf(p).entries()) {
          const input = { ...(v === undefined ? {} : { value: v }), trusted: v !== undefined };
          s = forecastStage(small, s, input, T0 + m * MIN).state;
          if ((s.subChecked ?? 0) < 10 || !s.sub) continue;
          const errs = [s.baseErr ?? 0, ...s.sub.map((c) => c.e)];
          const inUse = s.pick ? (s.sub.find((c) => c.p === s?.pick)?.e ?? Infinity) : (s.baseErr ?? 0);
          assert.ok(inUse <= Math.min(...errs) / 0.95 + 1e-9, `in use ${inUse}, errors ${errs}`);
        }
      }),
      { seed: 19, numRuns: 25 },
    );
  });
});
