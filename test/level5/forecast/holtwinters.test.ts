import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDurationSeconds } from '../../../src/level5/forecast/duration.ts';
import {
  type ForecastConfig,
  type ForecastResult,
  type ForecastState,
  forecastResult,
  forecastStage,
  trainForecast,
} from '../../../src/level5/forecast/holtwinters.ts';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const SEASON = 6 * 3600; // a short season keeps the tests fast; nothing depends on 24 h
const cfg: ForecastConfig = {
  stepSeconds: 60,
  seasonSeconds: SEASON,
  weekly: false,
  leadSeconds: 120,
  maxErrorPercent: 40,
};
const sine = (t: number) => 100 + 50 * Math.sin((2 * Math.PI * t) / (SEASON * 1000));

/** Deterministic noise in [-1, 1) (a linear congruential generator: tests must not use Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  };
}

function run(
  config: ForecastConfig,
  minutes: number,
  value: (t: number) => number | undefined,
  start?: ForecastState,
  from = T0,
): { state: ForecastState; results: ForecastResult[] } {
  let state = start;
  const results: ForecastResult[] = [];
  for (let m = 0; m < minutes; m++) {
    const now = from + m * MIN;
    const v = value(now);
    const out = forecastStage(
      config,
      state,
      { ...(v === undefined ? {} : { value: v }), trusted: v !== undefined },
      now,
    );
    state = out.state;
    results.push(out.result);
  }
  return { state: state as ForecastState, results };
}

describe('Holt-Winters forecaster', () => {
  it('forecasts a pure sine season within 1% after two seasons', () => {
    const steps = (3 * SEASON) / 60;
    const { results } = run(cfg, steps, sine);
    const third = results.slice((2 * SEASON) / 60);
    assert.ok(
      third.every((r) => r.ready),
      'ready throughout the third season',
    );
    const worst = Math.max(...third.map((r) => Math.abs((r.forecast?.value ?? 0) - sine(r.at)) / sine(r.at)));
    assert.ok(worst < 0.01, `worst relative error ${worst}`);
    const last = third[third.length - 1] as ForecastResult;
    assert.ok((last.errorPercent ?? 100) < 1, `tracked error ${last.errorPercent}`);
    assert.equal(last.at, T0 + (steps - 1) * MIN + 120_000);
  });

  it('stands aside with a reason while history is shorter than one season', () => {
    const { results } = run(cfg, SEASON / 60 - 10, sine);
    const r = results[results.length - 1] as ForecastResult;
    assert.equal(r.ready, false);
    assert.match(r.standAsideReason ?? '', /history shorter than one season: 5\.8h of 6h seen/);
    assert.equal(r.forecast, undefined);
  });

  it('stands aside when its recent error is above maxErrorPercent, and comes back when it falls', () => {
    const noise = lcg(7);
    // A seasonal signal buried in noise three times its size: no model can forecast it well.
    const noisy = (t: number) => Math.max(0, sine(t) / 10 + 60 * noise() + 10);
    const { results, state } = run(cfg, 3 * (SEASON / 60), noisy);
    const r = results[results.length - 1] as ForecastResult;
    assert.equal(r.ready, false);
    assert.match(r.standAsideReason ?? '', /recent error [0-9.]+% is above maxErrorPercent 40%/);
    // Loosening the bound lets it act.
    const loose = forecastResult({ ...cfg, maxErrorPercent: 1000 }, state, T0 + 3 * SEASON * 1000);
    assert.equal(loose.ready, true);
  });

  it('does not learn an outage of zeros, stands aside during it and forecasts the pattern after it', () => {
    const outageFrom = T0 + 3 * SEASON * 1000;
    const outageTo = outageFrom + (SEASON * 1000) / 2;
    const series = (t: number) => (t >= outageFrom && t < outageTo ? 0 : sine(t));
    const { results, state } = run(cfg, (5 * SEASON) / 60, series);
    const idx = (t: number) => Math.round((t - T0) / MIN);
    const during = results[idx(outageFrom + 3600_000)] as ForecastResult;
    assert.equal(during.ready, false);
    assert.match(during.standAsideReason ?? '', /no usable input for/);
    // While the outage lasts the model keeps the old pattern (not zero).
    assert.ok((during.forecast?.value ?? 0) > 40, `forecast during the outage ${during.forecast?.value}`);
    assert.ok(state.outageSteps >= SEASON / 60 / 2 - 2, `outage steps ${state.outageSteps}`);
    // An hour after it ends, the forecast is back on the sine.
    const after = results.slice(idx(outageTo + 3600_000));
    assert.ok(after.every((r) => r.ready));
    const worst = Math.max(...after.map((r) => Math.abs((r.forecast?.value ?? 0) - sine(r.at)) / sine(r.at)));
    assert.ok(worst < 0.02, `worst relative error after the outage ${worst}`);
  });

  it('trains from history with gaps, then continues online', () => {
    const history: Array<[number, number]> = [];
    for (let t = T0; t < T0 + 3 * SEASON * 1000; t += 15_000) {
      const inGap = (t - T0) % (SEASON * 1000) < 20 * MIN; // 20 minutes missing every season
      if (!inGap) history.push([t, sine(t)]);
    }
    const trained = trainForecast(cfg, undefined, history);
    const now = T0 + 3 * SEASON * 1000;
    const out = forecastStage(cfg, trained, { value: sine(now), trusted: true }, now);
    assert.equal(out.result.ready, true, out.result.standAsideReason);
    const f = out.result.forecast?.value ?? 0;
    assert.ok(Math.abs(f - sine(out.result.at)) / sine(out.result.at) < 0.01, `forecast ${f}`);
    // Bounds bracket the point.
    const b = out.result.forecast!;
    assert.ok(b.lower <= b.value && b.value <= b.upper);
  });

  it('the weekly season learns a weekday/weekend difference the daily one cannot', () => {
    const day = 3600 * 24;
    // Half a day ahead: the level alone cannot carry a weekday into a weekend.
    const daily: ForecastConfig = { ...cfg, stepSeconds: 300, seasonSeconds: day, leadSeconds: 12 * 3600 };
    const weekly: ForecastConfig = { ...daily, weekly: true };
    const series = (t: number) => {
      const dow = Math.floor(t / 1000 / day) % 7;
      return (dow >= 5 ? 40 : 100) + 30 * Math.sin((2 * Math.PI * t) / (day * 1000));
    };
    const history: Array<[number, number]> = [];
    const start = 0;
    const STEP = 5 * MIN;
    for (let t = start; t < start + 25 * day * 1000; t += STEP) history.push([t, series(t)]);
    const score = (c: ForecastConfig) => {
      let s = trainForecast(c, undefined, history);
      let err = 0;
      let n = 0;
      // Days 25 to 28 hold a weekday → weekend and a weekend → weekday change.
      for (let t = start + 25 * day * 1000; t < start + 28 * day * 1000; t += STEP) {
        const out = forecastStage(c, s, { value: series(t), trusted: true }, t);
        s = out.state;
        if (out.result.forecast) {
          err += Math.abs(out.result.forecast.value - series(out.result.at));
          n++;
        }
      }
      return err / n;
    };
    const dailyErr = score(daily);
    const weeklyErr = score(weekly);
    assert.ok(weeklyErr < dailyErr * 0.5, `weekly ${weeklyErr} vs daily ${dailyErr}`);
  });

  it('continues identically after a JSON round trip of its state', () => {
    const noise = lcg(3);
    const values = Array.from(
      { length: (2 * SEASON) / 60 + 200 },
      (_, m) => sine(T0 + m * MIN) + 5 * noise(),
    );
    let a: ForecastState | undefined;
    let b: ForecastState | undefined;
    for (let m = 0; m < values.length; m++) {
      const now = T0 + m * MIN;
      const input = { value: values[m] as number, trusted: m % 97 !== 0 };
      const oa = forecastStage(cfg, a, input, now);
      const ob = forecastStage(cfg, b === undefined ? undefined : JSON.parse(JSON.stringify(b)), input, now);
      assert.deepEqual(ob.result, oa.result);
      assert.deepEqual(ob.events, oa.events);
      a = oa.state;
      b = ob.state;
    }
    assert.ok(JSON.stringify(a).length < 12_000, `state is ${JSON.stringify(a).length} bytes`);
  });

  it('does not mutate the state it is given', () => {
    const { state } = run(cfg, 30, sine);
    const copy = structuredClone(state);
    forecastStage(cfg, state, { value: 1, trusted: true }, T0 + 40 * MIN);
    assert.deepEqual(state, copy);
  });

  it("horizon 'max' forecasts the highest value from now to now + lead + lag, lag looks further ahead", () => {
    const { state } = run(cfg, (3 * SEASON) / 60, sine);
    // The sine's phase is absolute time: the first time after the training at a given phase.
    const period = SEASON * 1000;
    const at = (phase: number) => Math.ceil((T0 + 3 * period) / period) * period + phase * period;
    // Falling half of the sine: the highest value over the next minutes is the one nearest now.
    const falling = at(0.5);
    const point = forecastResult({ ...cfg, maxErrorPercent: 1000 }, state, falling).forecast?.value ?? 0;
    const max =
      forecastResult({ ...cfg, maxErrorPercent: 1000, horizon: 'max' }, state, falling).forecast?.value ?? 0;
    assert.ok(max > point + 0.5, `max ${max} vs point ${point}`);
    assert.ok(Math.abs(max - sine(falling)) < 1.5, `max ${max} vs now ${sine(falling)}`);
    // Rising half: ten minutes of lag read the season ten minutes further on.
    const rising = at(0);
    const lagged =
      forecastResult({ ...cfg, maxErrorPercent: 1000, lagSeconds: 600 }, state, rising).forecast?.value ?? 0;
    const plain = forecastResult({ ...cfg, maxErrorPercent: 1000 }, state, rising).forecast?.value ?? 0;
    assert.ok(
      Math.abs(lagged - sine(rising + 720_000)) < 1.5,
      `lagged ${lagged} vs ${sine(rising + 720_000)}`,
    );
    assert.ok(lagged > plain + 5, `lagged ${lagged} vs plain ${plain}`);
  });

  it('parses CRD durations', () => {
    assert.equal(parseDurationSeconds('24h'), 86400);
    assert.equal(parseDurationSeconds('7d'), 604800);
    assert.equal(parseDurationSeconds('90s'), 90);
    assert.throws(() => parseDurationSeconds('1.5h'), /invalid duration/);
  });
});
