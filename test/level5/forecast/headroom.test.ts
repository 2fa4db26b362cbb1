// Headroom calibrated from the forecaster's own errors towards its miss budget (headroom.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ForecastConfig,
  type ForecastState,
  forecastStage,
} from '../../../src/level5/forecast/holtwinters.ts';
import { normal, rng } from '../../support/autopilot.ts';

const T0 = 1_700_000_000_000;

/**
 * Feeds one sample per minute of `level + sd × noise` and checks each sized forecast (point +
 * headroom, made a lead ahead) against the minute it was for. Returns the share of minutes
 * above it after the warm-up, and the mean headroom.
 */
function missRate(missBudget: number, sd: number, seed: number): { rate: number; headroom: number } {
  const cfg: ForecastConfig = {
    stepSeconds: 60,
    seasonSeconds: 3600,
    weekly: false,
    leadSeconds: 60,
    maxErrorPercent: 1000,
    missBudget,
  };
  const u = rng(seed);
  const sized = new Map<number, number>();
  let state: ForecastState | undefined;
  let misses = 0;
  let checked = 0;
  let headroom = 0;
  for (let k = 0; k < 6 * 24 * 60; k++) {
    const y = Math.max(0, 200 + sd * normal(u));
    const now = T0 + k * 60_000 + 30_000;
    const out = forecastStage(cfg, state, { value: y, trusted: true }, now);
    state = out.state;
    const due = sized.get(k);
    if (due !== undefined && k > 6 * 60) {
      checked++;
      if (y > due) misses++;
      headroom += out.result.headroom;
    }
    if (out.result.forecast && (state.hr?.n ?? 0) >= 10)
      sized.set(k + 1, out.result.forecast.value + out.result.headroom);
  }
  return { rate: misses / checked, headroom: headroom / checked };
}

describe('calibrated headroom', () => {
  it('meets its miss budget on a stationary noisy series', () => {
    for (const budget of [0.05, 0.2]) {
      const { rate } = missRate(budget, 30, 11);
      assert.ok(
        Math.abs(rate - budget) < budget * 0.35,
        `budget ${budget}: missed ${(rate * 100).toFixed(1)}%`,
      );
    }
  });

  it('is thin for a smooth workload and wide for a noisy one, and widens for a tighter budget', () => {
    const smooth = missRate(0.05, 3, 5).headroom;
    const noisy = missRate(0.05, 30, 5).headroom;
    const loose = missRate(0.3, 30, 5).headroom;
    assert.ok(noisy > 5 * smooth, `noisy ${noisy.toFixed(1)} vs smooth ${smooth.toFixed(1)}`);
    assert.ok(noisy > loose, `5 % budget ${noisy.toFixed(1)} vs 30 % budget ${loose.toFixed(1)}`);
  });
});
