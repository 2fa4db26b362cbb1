// Loading a predictive policy's forecast history from Prometheus before its first
// decision in this process, so the forecaster need not wait a season of live ticks.
import type { Logger } from 'pino';
import type { RangeResult } from '../collector/index.ts';
import type { ScalingPolicy } from '../crd/types.generated.ts';
import type { EventSpec } from '../kube/events.ts';
import { fmtDuration } from '../level5/forecast/holtwinters.ts';
import { forecastConfig, type Level5State, level5TrainForecast } from '../level5/stages.ts';
import { initialState } from '../policy/engine.ts';
import type { EngineState } from '../policy/types.ts';
import { type HistoryWindow, historyKey, historyRetryDelayMs, historyWindow } from './level5-inputs.ts';
import type { ObservationSource } from './observation-source.ts';

/** Per policy: what each metric's history was loaded for, and the last failure. */
export interface HistoryMemory {
  /** Per metric, what its forecaster's history was loaded for (historyKey); absent: not loaded yet. */
  history?: Map<string, string>;
  /** The last history load failed: why, how often in a row, and when to try again. */
  historyError?: { message: string; failures: number; retryAt: number };
}

export interface HistoryContext {
  namespace: string;
  spec: ScalingPolicy['spec'];
  current: number;
  mem: HistoryMemory;
  now: number;
  log: Logger;
  events: EventSpec[];
  source: ObservationSource;
  clock: () => number;
}

/**
 * Before a predictive policy's first decision in this process (and again when predictive is
 * switched on, or a metric's query, the address, step, season or history length changes),
 * train each metric's forecaster from Prometheus' history. A failure is logged, recorded
 * (Event, ForecastReady message) and retried with backoff; meanwhile the forecaster learns
 * from live ticks and stands aside until it has a season.
 */
export async function loadHistory(
  c: HistoryContext,
  state: EngineState | undefined,
): Promise<EngineState | undefined> {
  const { spec, mem, now } = c;
  const win = historyWindow(spec, now);
  if (!win || !forecastConfig(spec)) {
    delete mem.history;
    delete mem.historyError;
    return state;
  }
  if (!c.source.queryRange) return state;
  if (mem.historyError && now < mem.historyError.retryAt) return state;
  if (!mem.history) mem.history = new Map();
  const loaded = mem.history;
  for (const name of [...loaded.keys()]) {
    if (!spec.metrics.some((m) => m.name === name)) loaded.delete(name);
  }
  let next = state;
  for (const m of spec.metrics) {
    const key = historyKey(spec, m.name);
    if (key === undefined || loaded.get(m.name) === key) continue;
    const res = await loadOne(c, m, win);
    if (!res) return next;
    next = train(c, next, m.name, res, loaded.has(m.name));
    loaded.set(m.name, key);
  }
  delete mem.historyError;
  return next;
}

type Metric = ScalingPolicy['spec']['metrics'][number];
type Points = Extract<RangeResult, { ok: true }>['points'];

async function loadOne(c: HistoryContext, m: Metric, win: HistoryWindow): Promise<Points | undefined> {
  const started = c.clock();
  const res = await c.source.queryRange!(
    { namespace: c.namespace, spec: c.spec },
    m.query,
    win.startMs,
    win.endMs,
    win.stepSeconds,
  );
  if (!res.ok) {
    const failures = (c.mem.historyError?.failures ?? 0) + 1;
    const message = `${m.name}: ${res.error.kind}: ${res.error.message}`;
    c.mem.historyError = { message, failures, retryAt: c.now + historyRetryDelayMs(failures) };
    c.log.warn({ metric: m.name, err: message, failures }, 'loading the forecast history failed');
    c.events.push({
      type: 'Warning',
      reason: 'ForecastHistoryUnavailable',
      message: `forecast history of ${m.name} could not be loaded: ${res.error.kind}: ${res.error.message}; the forecaster learns from live ticks meanwhile`,
    });
    return undefined;
  }
  const first = res.points[0]?.[0];
  const span = first === undefined ? 0 : Math.round((win.endMs - first) / 1000);
  c.log.info(
    { metric: m.name, points: res.points.length, spanSeconds: span, ms: c.clock() - started },
    'forecast history loaded',
  );
  c.events.push({
    type: 'Normal',
    reason: 'ForecastHistoryLoaded',
    message: `forecast history of ${m.name} loaded: ${res.points.length} points over ${fmtDuration(span)} (asked for ${c.spec.predictive?.history})`,
  });
  return res.points;
}

function train(
  c: HistoryContext,
  state: EngineState | undefined,
  metric: string,
  points: Points,
  reloaded: boolean,
): EngineState {
  const next = state ?? initialState(c.current, c.now);
  let l5 = next.level5 as Level5State | undefined;
  // A different query (or address) measured something else: its old model is no guide.
  // A model without a season yet learned only ticks that Prometheus' history holds too
  // (and history older than its first tick could not be added to it): start it afresh.
  const old = l5?.forecast?.[metric];
  if (l5 && old && (reloaded || old.daily.length === 0)) {
    const { [metric]: _dropped, ...rest } = l5.forecast;
    l5 = { ...l5, forecast: rest };
  }
  return { ...next, level5: level5TrainForecast(c.spec, l5, metric, points) };
}
