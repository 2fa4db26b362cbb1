// The forecaster alone, with and without its sub-daily seasons, on a trace: how far its point
// forecast is from the load it was for, and how often the load beat the forecast plus its
// calibrated headroom (what the replicas are sized for). Shows what the seasons add where the
// engine's table cannot (the gate may keep Level 5 aside). Pure, so it is unit-tested.
import {
  type ForecastConfig,
  type ForecastState,
  forecastStage,
} from '../src/level5/forecast/holtwinters.ts';
import { loadAhead } from '../src/simulate/foresight.ts';

export interface SeasonScore {
  /** Forecasts made once the model had a season (ready or standing aside: all are scored). */
  forecasts: number;
  /** Share of them made while the forecaster was ready (its error under maxErrorPercent), in percent. */
  readyPercent: number;
  /** Σ |point forecast − the load's highest minute over the lead| ÷ Σ that load, in percent. */
  errorPercent: number;
  /** Share of forecasts the load exceeded forecast + headroom, in percent. */
  missPercent: number;
  /** Σ (forecast + headroom) ÷ Σ load: what the sizing holds over the load (a sum, so quiet nights do not dominate). */
  sizedOverLoad: number;
  /** Share of forecasts made with each sub-daily season (0: the plain model), in percent. */
  seasons: Record<string, number>;
}

/**
 * Feeds the trace once a minute (the minute's requests, as the metric shows them) and scores
 * each forecast, ready or not (the quality of the model is the question, not the gate's), against the load's highest minute from then to lead + lag ahead, the
 * stretch the forecaster's 'max' horizon sizes for.
 */
export function scoreForecaster(requests: ArrayLike<number>, cfg: ForecastConfig): SeasonScore {
  const ahead = cfg.leadSeconds + (cfg.lagSeconds ?? 0);
  let state: ForecastState | undefined;
  let n = 0;
  let ready = 0;
  let absErr = 0;
  let load = 0;
  let misses = 0;
  let sizedSum = 0;
  const seasons = new Map<number, number>();
  for (let m = 0; m < requests.length; m++) {
    const out = forecastStage(cfg, state, { value: requests[m] as number, trusted: true }, m * 60_000);
    state = out.state;
    const f = out.result.forecast;
    if (!f) continue;
    const actual = loadAhead(requests, m * 60, ahead);
    const sized = f.value + out.result.headroom;
    n++;
    if (out.result.ready) ready++;
    absErr += Math.abs(f.value - actual);
    load += actual;
    if (actual > sized) misses++;
    sizedSum += sized;
    const s = out.result.subSeasonSeconds ?? 0;
    seasons.set(s, (seasons.get(s) ?? 0) + 1);
  }
  const pct = (x: number) => (n > 0 ? (100 * x) / n : 0);
  return {
    forecasts: n,
    readyPercent: pct(ready),
    errorPercent: load > 0 ? (100 * absErr) / load : 0,
    missPercent: pct(misses),
    sizedOverLoad: load > 0 ? sizedSum / load : 0,
    seasons: Object.fromEntries(
      [...seasons].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), pct(v)]),
    ),
  };
}
