// The forecaster alone on the NASA-HTTP trace: how well it predicts the per-minute request
// count two minutes ahead, and how its stand-aside behaves across the 1–3 August outage.
// Usage: node bench/forecast.ts [--trace FILE] [--out FILE]  (runs the daily and the daily+weekly model)
// Prints the figures and writes bench/results/forecast-nasa.json.
//
// Everything uses the CRD's defaults (24h season, maxErrorPercent 40, confirmationTicks 4,
// deviationThreshold 6); nothing is fitted to this trace.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type AnomalyMetricState, anomalyStage } from '../src/level5/anomaly/detector.ts';
import {
  type ForecastConfig,
  type ForecastState,
  forecastStage,
} from '../src/level5/forecast/holtwinters.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    trace: { type: 'string', default: resolve(root, '../shared/traces/nasa_per_minute.csv') },
    out: { type: 'string', default: resolve(root, 'bench/results/forecast-nasa.json') },
  },
});
const tracePath = args.trace as string;
if (!existsSync(tracePath)) {
  console.log(`SKIP: trace ${tracePath} not found (see ../shared/traces/README.md); no figures produced`);
  process.exit(0);
}
const series = readFileSync(tracePath, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => Number(line.split(',')[1]));
const MIN = 60_000;
const SEASON_MIN = 1440;
const H = 2; // minutes ahead

// The outage: the longest run of zero minutes (reported, and excluded from the error figures).
let outage = { from: 0, to: 0 };
for (let i = 0, run = 0; i < series.length; i++) {
  run = series[i] === 0 ? run + 1 : 0;
  if (run > outage.to - outage.from) outage = { from: i - run + 1, to: i + 1 };
}
const inOutage = (m: number) => m >= outage.from && m < outage.to;

interface Stats {
  n: number;
  ape: number;
  apeN: number;
  sape: number;
  absErr: number;
  absActual: number;
}
const newStats = (): Stats => ({ n: 0, ape: 0, apeN: 0, sape: 0, absErr: 0, absActual: 0 });
function add(s: Stats, f: number, y: number): void {
  s.n++;
  s.absErr += Math.abs(f - y);
  s.absActual += Math.abs(y);
  if (y > 0) {
    s.ape += Math.abs(f - y) / y;
    s.apeN++;
  }
  if (f + y > 0) s.sape += (2 * Math.abs(f - y)) / (f + y);
}
const summary = (s: Stats) => ({
  minutes: s.n,
  mapePercent: round((100 * s.ape) / s.apeN),
  smapePercent: round((100 * s.sape) / s.n),
  wapePercent: round((100 * s.absErr) / s.absActual),
});
const round = (x: number) => Math.round(x * 100) / 100;

function runModel(weekly: boolean) {
  // Lead 60 s from the end of minute m lands in minute m + 2: two minutes past the last known one.
  const cfg: ForecastConfig = {
    stepSeconds: 60,
    seasonSeconds: 86400,
    weekly,
    leadSeconds: 60,
    maxErrorPercent: 40,
  };
  let fs: ForecastState | undefined;
  let as: AnomalyMetricState | undefined;
  const forecastFor = new Map<number, { value: number; ready: boolean }>();
  const all = newStats();
  const whenReady = newStats();
  const afterOutage = newStats();
  const categories: Record<string, number> = {};
  const timeline: Array<{ minute: number; ready: boolean; reason?: string }> = [];
  let readyMinutes = 0;
  let firstAsideInOutage: number | undefined;
  let readyAgainAfter: number | undefined;
  const t0 = performance.now();
  for (let m = 0; m < series.length; m++) {
    const y = series[m] as number;
    const due = forecastFor.get(m);
    if (due) {
      forecastFor.delete(m);
      if (m >= SEASON_MIN + H && !inOutage(m)) {
        add(all, due.value, y);
        if (due.ready) add(whenReady, due.value, y);
        if (m >= outage.to && m < outage.to + SEASON_MIN) add(afterOutage, due.value, y);
      }
    }
    const a = anomalyStage(
      { confirmationTicks: 4, deviationThreshold: 6 },
      as,
      { name: 'rps', ok: true, value: y },
      m * MIN,
    );
    as = a.state;
    const trusted = !a.result.anomalous && !a.result.held;
    fs = forecastStage(cfg, fs, { value: y, trusted }, m * MIN + 30_000).state;
    const out = forecastStage(cfg, fs, { trusted: false }, (m + 1) * MIN);
    fs = out.state;
    const r = out.result;
    if (r.forecast) forecastFor.set(m + H, { value: r.forecast.value, ready: r.ready });
    const cat = r.ready ? 'ready' : ((r.standAsideReason ?? '').split(/[:0-9]/)[0]?.trim() ?? 'aside');
    categories[cat] = (categories[cat] ?? 0) + 1;
    if (r.ready) readyMinutes++;
    if (inOutage(m) && !r.ready && firstAsideInOutage === undefined) firstAsideInOutage = m - outage.from;
    if (m >= outage.to && r.ready && readyAgainAfter === undefined) readyAgainAfter = m - outage.to;
    if (m >= outage.from - 60 && m < outage.to + 6 * 60 && (m - outage.from) % 30 === 0) {
      timeline.push({
        minute: m,
        ready: r.ready,
        ...(r.standAsideReason ? { reason: r.standAsideReason } : {}),
      });
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    model: weekly ? 'holt-winters daily+weekly' : 'holt-winters daily',
    allForecasts: summary(all),
    whenReady: summary(whenReady),
    firstDayAfterOutage: summary(afterOutage),
    readyShareOfMinutes: round(readyMinutes / series.length),
    minutesByState: categories,
    outage: {
      standingAsideAfterMinutes: firstAsideInOutage,
      readyAgainMinutesAfterEnd: readyAgainAfter,
      outageStepsSkipped: fs?.outageSteps,
      samplesNotTrusted: fs?.skipped,
      timeline,
    },
    anomaliesDetected: as?.counts,
    stateBytes: JSON.stringify(fs).length,
    runSeconds: round(seconds),
  };
}

function baselines() {
  const persistence = newStats();
  const seasonalNaive = newStats();
  for (let m = SEASON_MIN + H; m < series.length; m++) {
    if (inOutage(m) || inOutage(m - H)) continue;
    const y = series[m] as number;
    add(persistence, series[m - H] as number, y);
    if (!inOutage(m - SEASON_MIN)) add(seasonalNaive, series[m - SEASON_MIN] as number, y);
  }
  return { persistence: summary(persistence), seasonalNaive: summary(seasonalNaive) };
}

const result = {
  trace: { file: tracePath.split('/').pop(), minutes: series.length },
  horizonMinutes: H,
  outage: { fromMinute: outage.from, toMinute: outage.to, minutes: outage.to - outage.from },
  models: [runModel(false), runModel(true)],
  baselines: baselines(),
  notes:
    'mape excludes minutes with zero requests; wape = sum|error| / sum|actual| (what the forecaster tracks to decide whether to stand aside); outage minutes and the first day (warm-up) are excluded from the error figures',
};
mkdirSync(dirname(args.out as string), { recursive: true });
writeFileSync(args.out as string, `${JSON.stringify(result, null, 2)}\n`);

console.log(
  `trace ${result.trace.file}: ${series.length} minutes; outage minutes ${outage.from}–${outage.to} (${outage.to - outage.from} min)`,
);
console.log(`forecast ${H} minutes ahead (per-minute requests)`);
const row = (name: string, s: ReturnType<typeof summary>) =>
  console.log(
    `  ${name.padEnd(44)} MAPE ${String(s.mapePercent).padStart(6)}%  sMAPE ${String(s.smapePercent).padStart(6)}%  WAPE ${String(s.wapePercent).padStart(6)}%  (${s.minutes} min)`,
  );
for (const m of result.models) {
  row(`${m.model}, all forecasts`, m.allForecasts);
  row(`${m.model}, when ready`, m.whenReady);
  row(`${m.model}, first day after outage`, m.firstDayAfterOutage);
  console.log(
    `    ready ${Math.round(m.readyShareOfMinutes * 100)}% of minutes; stands aside ${m.outage.standingAsideAfterMinutes} min into the outage, ready again ${m.outage.readyAgainMinutesAfterEnd} min after it; state ${m.stateBytes} bytes; ${m.runSeconds}s`,
  );
  console.log(`    minutes by state: ${JSON.stringify(m.minutesByState)}`);
}
row('baseline: persistence (value 2 min ago)', result.baselines.persistence);
row('baseline: seasonal naive (same minute yesterday)', result.baselines.seasonalNaive);
console.log(`wrote ${args.out}`);
