// The `tidemark` strategy: the real policy engine, fed what the operator would
// feed it (one MetricObservation per tick, now = epoch ms of simulated time, the
// target's spec and ready replicas) with its state carried from tick to tick.

import { forecastConfig } from '../level5/stages.ts';
import { decide } from '../policy/engine.ts';
import type {
  EngineInput,
  EngineOutput,
  EngineState,
  MetricObservation,
  PolicySpec,
} from '../policy/types.ts';

export interface TidemarkStrategyConfig {
  spec: PolicySpec;
  /** Epoch ms of simulated second 0. */
  startTime: number;
  engine?: (input: EngineInput) => EngineOutput;
  /** Trace length: with predictive on, the forecast is collected per minute for the plot. */
  minutes?: number;
}

/** The forecast of the metric per trace minute it was made for (NaN where there was none). */
export interface ForecastSeries {
  point: Float32Array;
  lower: Float32Array;
  upper: Float32Array;
}

export class TidemarkStrategy {
  readonly #spec: PolicySpec;
  readonly #start: number;
  readonly #engine: (input: EngineInput) => EngineOutput;
  readonly #metric: string;
  #state: EngineState | undefined;
  readonly #limitedBy = new Map<string, number>();
  #ticks = 0;
  #fallbackTicks = 0;
  #failedTicks = 0;
  /** Ticks on which the shadow evaluation let Level 5 act (predictive on). */
  #actingTicks = 0;
  readonly #forecast: ForecastSeries | undefined;
  readonly #leadSeconds: number;

  constructor(cfg: TidemarkStrategyConfig) {
    this.#spec = cfg.spec;
    this.#start = cfg.startTime;
    this.#engine = cfg.engine ?? decide;
    this.#metric = cfg.spec.metrics[0]!.name;
    const fc = forecastConfig(cfg.spec);
    this.#leadSeconds = fc?.leadSeconds ?? 0;
    if (fc && cfg.minutes !== undefined) {
      const n = cfg.minutes;
      this.#forecast = {
        point: new Float32Array(n).fill(Number.NaN),
        lower: new Float32Array(n).fill(Number.NaN),
        upper: new Float32Array(n).fill(Number.NaN),
      };
    }
  }

  /** Per-minute forecast (for the minute it forecasts), when predictive is on. */
  get forecast(): ForecastSeries | undefined {
    return this.#forecast;
  }

  /** One tick at simulated second t; `metric` undefined means the query returned no sample. */
  decide(t: number, current: number, ready: number, metric: number | undefined, scrapedAt: number): number {
    const observation: MetricObservation =
      metric === undefined
        ? {
            name: this.#metric,
            ok: false,
            error: { kind: 'empty', message: 'the query returned no sample (simulated metric outage)' },
          }
        : { name: this.#metric, ok: true, value: metric, sampledAt: this.#start + scrapedAt * 1000 };
    const out = this.#engine({
      spec: this.#spec,
      state: this.#state,
      observations: [observation],
      currentReplicas: current,
      readyReplicas: ready,
      now: this.#start + t * 1000,
    });
    this.#state = out.state;
    const d = out.decision;
    this.#ticks++;
    if (metric === undefined) this.#failedTicks++;
    if (d.fallbackActive) this.#fallbackTicks++;
    if (d.evaluation?.acting) this.#actingTicks++;
    const f = d.forecasts?.[0];
    if (f && this.#forecast) {
      // Placed at the minute it is for, so the band lines up with the load it predicted.
      const m = Math.floor((t + this.#leadSeconds) / 60);
      if (m < this.#forecast.point.length) {
        this.#forecast.point[m] = f.value;
        this.#forecast.lower[m] = f.lower;
        this.#forecast.upper[m] = f.upper;
      }
    }
    const main = d.limitedBy[0] ?? 'None';
    this.#limitedBy.set(main, (this.#limitedBy.get(main) ?? 0) + 1);
    return d.desiredReplicas;
  }

  /** Counts for the report's extra section: how often each limit shaped a decision. */
  summary() {
    return {
      ticks: this.#ticks,
      failedMetricTicks: this.#failedTicks,
      fallbackTicks: this.#fallbackTicks,
      ...(this.#spec.predictive?.enabled ? { autopilotActingTicks: this.#actingTicks } : {}),
      limitedBy: Object.fromEntries([...this.#limitedBy].sort((a, b) => b[1] - a[1])),
    };
  }
}
