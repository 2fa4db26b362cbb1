import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scoreForecaster } from '../../bench/seasons.ts';
import type { ForecastConfig } from '../../src/level5/forecast/holtwinters.ts';

const SEASON_MIN = 360; // a six-hour season keeps the test fast; nothing depends on 24 h
const cfg: ForecastConfig = {
  stepSeconds: 60,
  seasonSeconds: SEASON_MIN * 60,
  weekly: false,
  leadSeconds: 75,
  lagSeconds: 37.5,
  horizon: 'max',
  maxErrorPercent: 1000,
};
const daily = (m: number) => 100 + 50 * Math.sin((2 * Math.PI * m) / SEASON_MIN);

test('the sub-daily seasons cut the error and the misses on jobs every half hour, and are used', () => {
  const requests = Array.from({ length: 8 * SEASON_MIN }, (_, m) => daily(m) + (m % 30 < 3 ? 120 : 0));
  const multi = scoreForecaster(requests, cfg);
  const plain = scoreForecaster(requests, { ...cfg, subSeasonsSeconds: [] });
  assert.ok(multi.forecasts > 6 * SEASON_MIN && plain.forecasts > 6 * SEASON_MIN);
  assert.ok(multi.readyPercent > 90, `ready on ${multi.readyPercent} %`);
  assert.ok(multi.errorPercent < 0.6 * plain.errorPercent, `${multi.errorPercent} vs ${plain.errorPercent}`);
  assert.deepEqual(Object.keys(plain.seasons), ['0']);
  assert.ok(
    multi.sizedOverLoad < plain.sizedOverLoad,
    `sized ${multi.sizedOverLoad} vs ${plain.sizedOverLoad}`,
  );
  const subShare = (multi.seasons['1800'] ?? 0) + (multi.seasons['3600'] ?? 0);
  assert.ok(subShare > 50, `a sub-daily season on ${subShare} % of the forecasts`);
});

test('on a smooth season alone both score the same and the plain model stays in use', () => {
  const requests = Array.from({ length: 4 * SEASON_MIN }, (_, m) => daily(m));
  const multi = scoreForecaster(requests, cfg);
  const plain = scoreForecaster(requests, { ...cfg, subSeasonsSeconds: [] });
  assert.deepEqual(Object.keys(multi.seasons), ['0']);
  assert.ok(
    Math.abs(multi.errorPercent - plain.errorPercent) < 0.05,
    `${multi.errorPercent} vs ${plain.errorPercent}`,
  );
  assert.ok(multi.errorPercent < 2, `error ${multi.errorPercent} %`);
  assert.ok(multi.sizedOverLoad > 0.98 && multi.sizedOverLoad < 1.05, `sized ÷ load ${multi.sizedOverLoad}`);
});
