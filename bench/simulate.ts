// `make bench`: Level 5 as a new user would switch it on, on every trace there is, each at its
// own scale by one rule, against the HPA with its defaults.
//
// Traces: every `*.csv` in the traces folder (default ../shared/traces; where a trace its
// README names is missing, the public dataset's name and where to put it are printed and the
// run goes on), plus seeded synthetic traces (src/trace/synth.ts: seasonal, trending, flat,
// flash-crowd), which nothing in the engine was tuned on.
//
// Scale rule, the same for every trace: capacity = peak minute / 25 (so the peak needs 25
// replicas), target 70 % of capacity (AverageValue), start-up 60 s (then 30 s and 180 s for the
// worst rows), min 1, max 100. Policy: `predictive`, `anomaly` and `autotune` enabled and
// nothing else set. One table, a row per trace with tidemark ÷ hpa-default for replica-minutes,
// under-provisioned minutes and direction reversals, and a last row with the worst ratio of
// each column; plus the shadow property per trace: no 24 h stretch (hourly steps) where Level 5
// has both more replica-minutes and more under-provisioned minutes than hpa-default by more
// than 5 %. Written to bench/results/simulate-suite.{json,md}.
//
// Then each Level 5 pillar where it should win (issue 19), at the first start-up: forecasting
// against perfect foresight (the engine with Level 5 off fed the true load over the lead
// start-up + tick + the metric's lag) and the reactive line (the HPA at lower targets); anomaly
// handling on a fault suite (the same traces with metric faults, every strategy reading the
// same faulty values); self-tuning on a workload that makes the HPA's defaults flap.
// `--faults-only` runs only the clean tables and the fault suite at the first start-up (about a
// fifth of the time), into bench/results/simulate-faults.{json,md}.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ForecastConfig } from '../src/level5/forecast/holtwinters.ts';
import { forecastLeadSeconds, metricLagSeconds } from '../src/level5/forecast/lag.ts';
import { forecastConfig } from '../src/level5/stages.ts';
import type { PolicySpec } from '../src/policy/types.ts';
import {
  FAULT_KINDS,
  type Fault,
  type FaultKind,
  faultedMetric,
  faultSchedule,
} from '../src/simulate/faults.ts';
import { foresightEngine } from '../src/simulate/foresight.ts';
import { validatedPolicySpec } from '../src/simulate/policy.ts';
import { autopilotActing } from '../src/simulate/render-report.ts';
import {
  type Report,
  type SimulationResult,
  type StrategyResult,
  simulate,
} from '../src/simulate/simulate.ts';
import { parseTrace, type Trace } from '../src/simulate/trace.ts';
import { mulberry32, type Shape, synthTrace } from '../src/trace/synth.ts';
import { type AgainstLine, againstLine, type TradePoint } from './frontier.ts';
import {
  costRatio,
  type FaultCost,
  faultCosts,
  type MinuteSeries,
  type OnOff,
  onOffLoad,
  reachableShare,
  totalCost,
} from './pillars.ts';
import { type SeasonScore, scoreForecaster } from './seasons.ts';

const { values } = parseArgs({
  options: {
    traces: { type: 'string', default: '../shared/traces' },
    out: { type: 'string', default: 'bench/results' },
    'no-synthetic': { type: 'boolean', default: false },
    startups: { type: 'string', default: '60,30,180' },
    /** Only the traces with these names (comma-separated, e.g. clarknet,synthetic-surges), for a quick look. */
    only: { type: 'string' },
    /** Sets predictive.missCostReplicaSeconds (the exchange rate) for an extra look; not the headline. */
    'miss-cost': { type: 'string' },
    /** The exchange rate of the trade-off section's Level 5 run (first start-up only); 0 skips the section. */
    'trade-miss-cost': { type: 'string', default: '900' },
    /**
     * Only what the fault suite needs and what it must not cost: the clean runs (with and without
     * a capacity) and the fault suite at the first start-up, into simulate-faults.{md,json}.
     */
    'faults-only': { type: 'boolean', default: false },
  },
});

/** The public datasets the traces README names, for the message when one is missing. */
const NAMED: Record<string, string> = {
  'nasa_per_minute.csv': 'NASA-HTTP (Internet Traffic Archive, July–August 1995), per-minute request counts',
  'clarknet_per_minute.csv':
    'ClarkNet-HTTP (Internet Traffic Archive, 28 Aug–10 Sep 1995), per-minute request counts',
};

const SYNTHETIC: Array<{ shape: Shape; days: number; seed: number }> = [
  { shape: 'seasonal', days: 28, seed: 20240601 },
  { shape: 'trending', days: 21, seed: 7_654_321 },
  { shape: 'flat', days: 14, seed: 4242 },
  { shape: 'flash-crowd', days: 21, seed: 31337 },
  { shape: 'surges', days: 21, seed: 1800 },
  { shape: 'batches', days: 7, seed: 900 },
];
/** The trace that makes the HPA's defaults flap, for the self-tuning section. */
const FLAPPING = 'synthetic-batches';
/** The second flapping workload, of another rhythm (bench/pillars.ts onOffLoad): only in the self-tuning section. */
const SESSIONS = {
  name: 'synthetic-sessions',
  base: { shape: 'flat' as Shape, days: 7, seed: 2718 },
  rhythm: { onMinutes: [6, 10], offMinutes: [5, 9], factor: 2 } as OnOff,
};

function sessionsTrace(): NamedTrace {
  const base = synthTrace(SESSIONS.base);
  const requests = onOffLoad(base, SESSIONS.rhythm, mulberry32(SESSIONS.base.seed));
  return { name: SESSIONS.name, trace: { requests, firstMinute: 0 } };
}

const PEAK_REPLICAS = 25;
const TARGET_SHARE = 0.7;
const RATIOS = ['replicaMinutes', 'underProvisionedMinutes', 'directionReversals'] as const;
type Ratio = (typeof RATIOS)[number];

interface NamedTrace {
  name: string;
  trace: Trace;
}

function realTraces(dir: string): NamedTrace[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.csv')) : [];
  const readme = existsSync(join(dir, 'README.md')) ? readFileSync(join(dir, 'README.md'), 'utf8') : '';
  for (const [file, dataset] of Object.entries(NAMED)) {
    if ((readme === '' || readme.includes(file)) && !files.includes(file))
      process.stdout.write(
        `missing ${join(dir, file)}: ${dataset}; put it there (columns minute,requests) to include it\n`,
      );
  }
  return files.sort().map((f) => ({
    name: basename(f, '.csv').replace(/_per_minute$/, ''),
    trace: parseTrace(readFileSync(join(dir, f), 'utf8'), f),
  }));
}

function syntheticTraces(): NamedTrace[] {
  return SYNTHETIC.map(({ shape, days, seed }) => ({
    name: `synthetic-${shape}`,
    trace: { requests: Float64Array.from(synthTrace({ shape, days, seed })), firstMinute: 0 },
  }));
}

const HEADLINE_MISS_COST = values['miss-cost'] === undefined ? undefined : Number(values['miss-cost']);
const FAULTS_ONLY = values['faults-only'] === true;
const TRADE_MISS_COST = FAULTS_ONLY ? 0 : Number(values['trade-miss-cost']);
/** Targets (share of capacity) below the user's at which the HPA traces the reactive trade-off line. */
const LOWER_TARGETS = [0.65, 0.6, 0.55, 0.5];

function rpsMetric(target: number, capacity?: number) {
  const decimal = (x: number) => String(Number(x.toFixed(3)));
  return {
    name: 'rps',
    query: 'sum(rate(http_requests_total[1m])) * 60',
    target: {
      type: 'AverageValue',
      value: decimal(target),
      ...(capacity === undefined ? {} : { capacity: decimal(capacity) }),
    },
  };
}

/** The user-like policy: the three switches on, nothing else set (bar an exchange rate for a look). */
function userPolicy(target: number, missCost = HEADLINE_MISS_COST, capacity?: number): PolicySpec {
  return validatedPolicySpec(
    {
      maxReplicas: 100,
      metrics: [rpsMetric(target, capacity)],
      predictive: { enabled: true, ...(missCost === undefined ? {} : { missCostReplicaSeconds: missCost }) },
      anomaly: { enabled: true },
      autotune: { enabled: true },
    },
    'bench',
  );
}

function get(r: Report, s: string): StrategyResult {
  const x = r.results.find((y) => y.strategy === s);
  if (!x) throw new Error(`no ${s} in the report`);
  return x;
}

function ratio(a: number, b: number): number {
  return b > 0 ? a / b : a === 0 ? 1 : Number.POSITIVE_INFINITY;
}

/** 24 h stretches (hourly steps) where tidemark has > 5 % more replica-minutes AND under-provisioned minutes. */
function shadowViolations(sim: SimulationResult): {
  stretches: number;
  worst?: { startMinute: number; rm: number; up: number };
} {
  const t = sim.series.strategies.find((s) => s.strategy === 'tidemark');
  const h = sim.series.strategies.find((s) => s.strategy === 'hpa-default');
  if (!t?.under || !h?.under) return { stretches: 0 };
  const n = t.replicas.length;
  let stretches = 0;
  let worst: { startMinute: number; rm: number; up: number } | undefined;
  for (let start = 0; start + 1440 <= n || (start === 0 && n > 0); start += 60) {
    const end = Math.min(n, start + 1440);
    let rmT = 0;
    let rmH = 0;
    let upT = 0;
    let upH = 0;
    for (let i = start; i < end; i++) {
      rmT += t.replicas[i] as number;
      rmH += h.replicas[i] as number;
      upT += t.under[i] as number;
      upH += h.under[i] as number;
    }
    if (rmT > 1.05 * rmH && upT > 1.05 * upH) {
      stretches++;
      if (!worst || upT / Math.max(1, upH) > worst.up)
        worst = { startMinute: start, rm: rmT / rmH, up: upT / Math.max(1, upH) };
    }
    if (end === n) break;
  }
  return worst ? { stretches, worst } : { stretches };
}

interface Row {
  trace: string;
  minutes: number;
  capacity: number;
  startupSeconds: number;
  ratios: Record<Ratio, number>;
  tidemark: StrategyResult;
  hpa: StrategyResult;
  oracle: StrategyResult;
  shadow: ReturnType<typeof shadowViolations>;
  level5: Record<string, unknown>;
  /** The share of ticks on which the shadow evaluation let Level 5 act, in percent. */
  actingPercent?: number;
  seconds: number;
  /** tidemark's and hpa-default's per-minute series (first start-up only, for the fault suite). */
  series?: { tidemark: MinuteSeries; hpa: MinuteSeries };
}

/** A row for the JSON: the per-minute series are for the fault suite, not the results file. */
function withoutSeries(r: Row): Omit<Row, 'series'> {
  const { series: _, ...rest } = r;
  return rest;
}

function minuteSeries(sim: SimulationResult, name: string): MinuteSeries {
  const x = sim.series.strategies.find((s) => s.strategy === name);
  if (!x?.under) throw new Error(`no ${name} series`);
  return { replicas: x.replicas, under: x.under };
}

function capacityOf(t: NamedTrace): number {
  let peak = 0;
  for (const x of t.trace.requests) if (x > peak) peak = x;
  return Math.max(1e-6, peak / PEAK_REPLICAS);
}

/** capacityStated: the policy also says where a miss starts (`target.capacity`, what a replica serves). */
function runOne(t: NamedTrace, startupSeconds: number, keepSeries = false, capacityStated = false): Row {
  const capacity = capacityOf(t);
  const started = performance.now();
  const sim = simulate({
    trace: t.trace,
    traceName: t.name,
    spec: userPolicy(TARGET_SHARE * capacity, HEADLINE_MISS_COST, capacityStated ? capacity : undefined),
    capacity,
    startupSeconds,
  });
  const seconds = (performance.now() - started) / 1000;
  const tm = get(sim.report, 'tidemark');
  const acting = autopilotActing(sim.report);
  const hpa = get(sim.report, 'hpa-default');
  const ratios = Object.fromEntries(RATIOS.map((k) => [k, ratio(tm[k], hpa[k])])) as Record<Ratio, number>;
  return {
    trace: t.name,
    minutes: sim.report.trace.minutes,
    capacity: Number(capacity.toFixed(3)),
    startupSeconds,
    ratios,
    tidemark: tm,
    hpa,
    oracle: get(sim.report, 'oracle'),
    shadow: shadowViolations(sim),
    level5: sim.report.extra.tidemark as Record<string, unknown>,
    ...(acting === undefined ? {} : { actingPercent: acting.percent }),
    seconds: Number(seconds.toFixed(2)),
    ...(keepSeries
      ? { series: { tidemark: minuteSeries(sim, 'tidemark'), hpa: minuteSeries(sim, 'hpa-default') } }
      : {}),
  };
}

interface TradeRow {
  trace: string;
  /** The HPA at each of LOWER_TARGETS, ÷ hpa-default at the user's target. */
  line: Array<TradePoint & { targetShare: number }>;
  /** Level 5 with predictive.missCostReplicaSeconds = TRADE_MISS_COST, ÷ hpa-default. */
  level5: TradePoint;
  /** The share of ticks Level 5 acted on in that run, in percent. */
  level5ActingPercent: number;
  /** Level 5's cost ÷ the line's at Level 5's misses (undefined off the line's range). */
  againstLine?: AgainstLine;
}

const point = (r: StrategyResult, hpa: StrategyResult): TradePoint => ({
  cost: ratio(r.replicaMinutes, hpa.replicaMinutes),
  miss: ratio(r.underProvisionedMinutes, hpa.underProvisionedMinutes),
});

/** The policy with Level 5 off: the reactive engine at `share` of capacity. */
const plainPolicy = (target: number) =>
  validatedPolicySpec({ maxReplicas: 100, metrics: [rpsMetric(target)] }, 'bench');

/** The reactive way to fewer misses: the HPA at each of LOWER_TARGETS, ÷ hpa-default at the user's. */
function reactiveLine(t: NamedTrace, startupSeconds: number, hpa: StrategyResult): TradeRow['line'] {
  const capacity = capacityOf(t);
  return LOWER_TARGETS.map((share) => {
    const sim = simulate({
      trace: t.trace,
      traceName: t.name,
      spec: plainPolicy(share * capacity),
      capacity,
      startupSeconds,
    });
    return { targetShare: share, ...point(get(sim.report, 'hpa-default'), hpa) };
  });
}

/** Where Level 5 with an exchange rate lands against the reactive line. */
function tradeOne(
  t: NamedTrace,
  startupSeconds: number,
  hpa: StrategyResult,
  line: TradeRow['line'],
): TradeRow {
  const capacity = capacityOf(t);
  const run = (spec: PolicySpec) =>
    simulate({ trace: t.trace, traceName: t.name, spec, capacity, startupSeconds }).report;
  const withRate = run(userPolicy(TARGET_SHARE * capacity, TRADE_MISS_COST));
  const level5 = point(get(withRate, 'tidemark'), hpa);
  const level5ActingPercent = autopilotActing(withRate)?.percent ?? 0;
  const vs = againstLine([{ cost: 1, miss: 1 }, ...line], level5);
  return {
    trace: t.name,
    line,
    level5,
    level5ActingPercent,
    ...(vs === undefined ? {} : { againstLine: vs }),
  };
}

const vsLine = (a: AgainstLine | undefined) =>
  a === undefined ? 'n/a' : `${a.atMost ? '≤ ' : ''}${f3(a.ratio)}`;

function tradeLines(rows: TradeRow[], startupSeconds: number): string[] {
  if (rows.length === 0) return [];
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  return [
    `## Trade-off: fewer misses for more replicas (start-up ${startupSeconds} s)`,
    '',
    `Without a forecast, the way to miss fewer minutes is a lower target. The HPA at ${LOWER_TARGETS.map(pct).join(', ')} of capacity traces that line; Level 5 with \`predictive.missCostReplicaSeconds: ${TRADE_MISS_COST}\` (it may then trade replicas for misses) is read against it. Each cell is replica-min / under-prov min, ÷ hpa-default at ${pct(TARGET_SHARE)}. "vs line" is Level 5's replica-minutes ÷ the line's at Level 5's misses (below 1: cheaper than lowering the target; "≤": fewer misses than the line's lowest target reaches, so a bound against that point; n/a: off the line's range).`,
    '',
    `| trace | ${LOWER_TARGETS.map((x) => `HPA at ${pct(x)}`).join(' | ')} | Level 5, exchange rate ${TRADE_MISS_COST} | it acted on | vs line |`,
    `|---|${LOWER_TARGETS.map(() => '---:').join('|')}|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.trace} | ${r.line.map((p) => `${f3(p.cost)} / ${f3(p.miss)}`).join(' | ')} | ${f3(r.level5.cost)} / ${f3(r.level5.miss)} | ${r.level5ActingPercent.toFixed(1)} % of ticks | ${vsLine(r.againstLine)} |`,
    ),
    '',
  ];
}

function worst(rows: Row[]): Record<Ratio, number> {
  return Object.fromEntries(RATIOS.map((k) => [k, Math.max(...rows.map((r) => r.ratios[k]))])) as Record<
    Ratio,
    number
  >;
}

function mean(rows: Row[], k: Ratio): number {
  return rows.reduce((a, r) => a + r.ratios[k], 0) / Math.max(1, rows.length);
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'inf');

const actingShare = (r: Row) => (r.actingPercent === undefined ? 'n/a' : `${r.actingPercent.toFixed(1)} %`);

function tableLines(rows: Row[]): string[] {
  const w = worst(rows);
  return [
    '| trace | minutes | capacity/replica | replica-min ÷ hpa | under-prov min ÷ hpa | reversals ÷ hpa | under-prov min (tidemark / hpa) | shadow-property stretches | Level 5 acting |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.trace} | ${r.minutes} | ${r.capacity} | ${f3(r.ratios.replicaMinutes)} | ${f3(r.ratios.underProvisionedMinutes)} | ${f3(r.ratios.directionReversals)} | ${r.tidemark.underProvisionedMinutes} / ${r.hpa.underProvisionedMinutes} | ${r.shadow.stretches} | ${actingShare(r)} |`,
    ),
    `| **worst** | | | **${f3(w.replicaMinutes)}** | **${f3(w.underProvisionedMinutes)}** | **${f3(w.directionReversals)}** | | **${Math.max(...rows.map((r) => r.shadow.stretches))}** | |`,
    `| mean | | | ${f3(mean(rows, 'replicaMinutes'))} | ${f3(mean(rows, 'underProvisionedMinutes'))} | ${f3(mean(rows, 'directionReversals'))} | | | |`,
  ];
}

function goals(rows: Row[]): Array<{ goal: string; met: boolean; detail: string }> {
  const w = worst(rows);
  return [
    {
      goal: 'under-provisioned minutes <= 0.5 x hpa-default on every trace',
      met: w.underProvisionedMinutes <= 0.5,
      detail: `worst ${f3(w.underProvisionedMinutes)}`,
    },
    {
      goal: 'replica-minutes <= 1.0 x hpa-default on every trace',
      met: w.replicaMinutes <= 1,
      detail: `worst ${f3(w.replicaMinutes)}`,
    },
    {
      goal: 'direction reversals <= 1.0 x hpa-default on every trace',
      met: w.directionReversals <= 1,
      detail: `worst ${f3(w.directionReversals)}`,
    },
    {
      goal: 'replica-minutes <= 0.9 x hpa-default on average (aim)',
      met: mean(rows, 'replicaMinutes') <= 0.9,
      detail: `mean ${f3(mean(rows, 'replicaMinutes'))}`,
    },
    {
      goal: 'shadow property: no 24 h stretch worse on both by more than 5 %',
      met: rows.every((r) => r.shadow.stretches === 0),
      detail: rows.map((r) => `${r.trace} ${r.shadow.stretches}`).join(', '),
    },
  ];
}

const only = values.only?.split(',');
const traces = [...realTraces(values.traces), ...(values['no-synthetic'] ? [] : syntheticTraces())].filter(
  (t) => only === undefined || only.includes(t.name),
);
const startups = values.startups
  .split(',')
  .map(Number)
  .slice(0, FAULTS_ONLY ? 1 : undefined);
const byStartup = new Map<number, Row[]>();
const began = performance.now();
const loadAtStart = loadavg();
for (const s of startups) {
  const rows: Row[] = [];
  for (const t of traces) {
    const row = runOne(t, s, s === startups[0]);
    rows.push(row);
    process.stdout.write(
      `${t.name} start-up ${s}s: replica-min ${f3(row.ratios.replicaMinutes)}, under-prov ${f3(row.ratios.underProvisionedMinutes)}, reversals ${f3(row.ratios.directionReversals)}, shadow stretches ${row.shadow.stretches} (${row.seconds}s)\n`,
    );
  }
  byStartup.set(s, rows);
}
// The same with the capacity stated in the policy (issue 19's headline setting).
const byStartupCapacity = new Map<number, Row[]>();
for (const s of startups) {
  const rows = traces.map((t) => runOne(t, s, false, true));
  for (const row of rows)
    process.stdout.write(
      `${row.trace} start-up ${s}s, capacity stated: replica-min ${f3(row.ratios.replicaMinutes)}, under-prov ${f3(row.ratios.underProvisionedMinutes)}, reversals ${f3(row.ratios.directionReversals)}, Level 5 acting ${actingShare(row)}\n`,
    );
  byStartupCapacity.set(s, rows);
}
const mainCapacity = byStartupCapacity.get(startups[0] as number) ?? [];

/** Issue 19's goals with the capacity stated, on every trace. */
function capacityGoals(rows: Row[]): Array<{ goal: string; met: boolean; detail: string }> {
  const w = worst(rows);
  return [
    {
      goal: 'replica-minutes <= 1.00 x hpa-default',
      met: w.replicaMinutes <= 1,
      detail: `worst ${f3(w.replicaMinutes)}`,
    },
    {
      goal: 'reversals <= 1.00 x hpa-default',
      met: w.directionReversals <= 1,
      detail: `worst ${f3(w.directionReversals)}`,
    },
    {
      goal: 'under-provisioned minutes <= 0.67 x hpa-default',
      met: w.underProvisionedMinutes <= 0.67,
      detail: `worst ${f3(w.underProvisionedMinutes)}`,
    },
  ];
}
const main = byStartup.get(startups[0] as number) ?? [];
const lines = FAULTS_ONLY
  ? []
  : traces.map((t, i) => reactiveLine(t, startups[0] as number, (main[i] as Row).hpa));
const trades: TradeRow[] = [];
if (TRADE_MISS_COST > 0) {
  for (const [i, t] of traces.entries()) {
    const row = tradeOne(t, startups[0] as number, (main[i] as Row).hpa, lines[i] as TradeRow['line']);
    trades.push(row);
    process.stdout.write(
      `${t.name} trade-off: Level 5 at exchange rate ${TRADE_MISS_COST} ${f3(row.level5.cost)} / ${f3(row.level5.miss)}, vs line ${vsLine(row.againstLine)}\n`,
    );
  }
}

// --- The Level 5 pillars (issue 19), at the first start-up ---

/** The faults start after two days (the forecaster has a season and its calibration), 7 h apart. */
const FAULT_START_SECONDS = 2 * 86400;
const FAULT_EVERY_SECONDS = 7 * 3600;
/** Minutes after each fault still counted as its cost: a scale-down window, a start-up and the recovery. */
const FAULT_AFTER_MINUTES = 60;

interface ForesightRow {
  trace: string;
  leadSeconds: number;
  /** Perfect foresight ÷ hpa-default, measured in the same run. */
  ratios: Record<Ratio, number>;
  /** The same over start-up + tick only (the lead without the metric's lag), ÷ hpa-default. */
  noLagLeadSeconds: number;
  noLag: Record<Ratio, number>;
  foresight: StrategyResult;
  /** Cost ÷ the reactive line's at the same misses (frontier.ts), Level 5's and foresight's. */
  level5VsLine?: AgainstLine;
  foresightVsLine?: AgainstLine;
  /** (1 − Level 5's frontier ratio) ÷ (1 − foresight's): the share of the reachable gain taken. */
  reachableShare?: number;
}

/** The lead a forecast must cover for this policy: start-up + tick + the metric's lag. */
function learnedLead(spec: PolicySpec, startupSeconds: number): number {
  const polling = spec.pollingIntervalSeconds;
  const query = spec.metrics[0]?.query ?? '';
  return forecastLeadSeconds(startupSeconds, polling, metricLagSeconds(query, polling));
}

/** The engine with Level 5 off fed the load over `leadSeconds`: its result and hpa-default's from the same run. */
function foresightRun(t: NamedTrace, startupSeconds: number, leadSeconds: number) {
  const capacity = capacityOf(t);
  const spec = plainPolicy(TARGET_SHARE * capacity);
  const engine = foresightEngine({ requests: t.trace.requests, leadSeconds });
  const sim = simulate({ trace: t.trace, traceName: t.name, spec, capacity, startupSeconds, engine });
  const foresight = get(sim.report, 'tidemark');
  const hpa = get(sim.report, 'hpa-default');
  const ratios = Object.fromEntries(RATIOS.map((k) => [k, ratio(foresight[k], hpa[k])])) as Record<
    Ratio,
    number
  >;
  return { foresight, hpa, ratios };
}

function foresightOne(t: NamedTrace, startupSeconds: number, row: Row, line: TradeRow['line']): ForesightRow {
  const spec = plainPolicy(TARGET_SHARE * capacityOf(t));
  const leadSeconds = learnedLead(spec, startupSeconds);
  const { foresight, hpa, ratios } = foresightRun(t, startupSeconds, leadSeconds);
  const noLagLeadSeconds = startupSeconds + spec.pollingIntervalSeconds;
  const noLag = foresightRun(t, startupSeconds, noLagLeadSeconds).ratios;
  const full = [{ cost: 1, miss: 1 }, ...line];
  const level5VsLine = againstLine(full, point(row.tidemark, row.hpa));
  const foresightVsLine = againstLine(full, point(foresight, hpa));
  const share = reachableShare(level5VsLine, foresightVsLine);
  return {
    trace: t.name,
    leadSeconds,
    ratios,
    noLagLeadSeconds,
    noLag,
    foresight,
    ...(level5VsLine === undefined ? {} : { level5VsLine }),
    ...(foresightVsLine === undefined ? {} : { foresightVsLine }),
    ...(share === undefined ? {} : { reachableShare: share }),
  };
}

type CostTable = Partial<Record<FaultKind, FaultCost>> & { total: FaultCost };

interface FaultRow {
  trace: string;
  faults: number;
  tidemark: CostTable;
  hpa: CostTable;
}

function costTable(costs: Map<FaultKind, FaultCost>): CostTable {
  return { ...Object.fromEntries(costs), total: totalCost(costs) };
}

function faultOne(t: NamedTrace, startupSeconds: number, row: Row): FaultRow {
  const capacity = capacityOf(t);
  const faults: Fault[] = faultSchedule(
    t.trace.requests.length * 60,
    FAULT_START_SECONDS,
    FAULT_EVERY_SECONDS,
  );
  const sim = simulate({
    trace: t.trace,
    traceName: t.name,
    spec: userPolicy(TARGET_SHARE * capacity),
    capacity,
    startupSeconds,
    metricFault: faultedMetric(faults),
  });
  const clean = row.series as NonNullable<Row['series']>;
  return {
    trace: t.name,
    faults: faults.length,
    tidemark: costTable(
      faultCosts(clean.tidemark, minuteSeries(sim, 'tidemark'), faults, FAULT_AFTER_MINUTES),
    ),
    hpa: costTable(faultCosts(clean.hpa, minuteSeries(sim, 'hpa-default'), faults, FAULT_AFTER_MINUTES)),
  };
}

/** Level 5 with only self-tuning switched on, to tell its part from the forecast's. */
function autotuneOnlyPolicy(target: number): PolicySpec {
  return validatedPolicySpec(
    { maxReplicas: 100, metrics: [rpsMetric(target)], autotune: { enabled: true } },
    'bench',
  );
}

interface FlapRow {
  trace: string;
  policy: string;
  ratios: Record<Ratio, number>;
  tidemark: StrategyResult;
  hpa: StrategyResult;
}

/** One policy on one flapping workload, tidemark ÷ hpa-default. */
function flapRow(t: NamedTrace, policy: string, spec: PolicySpec, startupSeconds: number): FlapRow {
  const capacity = capacityOf(t);
  const sim = simulate({
    trace: t.trace,
    traceName: t.name,
    spec,
    capacity,
    startupSeconds,
  });
  const tm = get(sim.report, 'tidemark');
  const hpa = get(sim.report, 'hpa-default');
  return {
    trace: t.name,
    policy,
    ratios: Object.fromEntries(RATIOS.map((k) => [k, ratio(tm[k], hpa[k])])) as Record<Ratio, number>,
    tidemark: tm,
    hpa,
  };
}

/** The three switches on (the main table's row where the workload is one of the traces) and autotune alone. */
function flapRows(t: NamedTrace, startupSeconds: number, row: Row | undefined): FlapRow[] {
  const target = TARGET_SHARE * capacityOf(t);
  const three: FlapRow = row
    ? {
        trace: t.name,
        policy: 'the three switches on',
        ratios: row.ratios,
        tidemark: row.tidemark,
        hpa: row.hpa,
      }
    : flapRow(t, 'the three switches on', userPolicy(target), startupSeconds);
  return [three, flapRow(t, 'autotune only', autotuneOnlyPolicy(target), startupSeconds)];
}

const first = startups[0] as number;
const foresights = FAULTS_ONLY
  ? []
  : traces.map((t, i) => foresightOne(t, first, main[i] as Row, lines[i] as TradeRow['line']));
for (const f of foresights)
  process.stdout.write(
    `${f.trace} foresight (lead ${f.leadSeconds}s): replica-min ${f3(f.ratios.replicaMinutes)}, under-prov ${f3(f.ratios.underProvisionedMinutes)}, vs line ${vsLine(f.foresightVsLine)} (Level 5 ${vsLine(f.level5VsLine)})\n`,
  );
const faultRows = traces.map((t, i) => faultOne(t, first, main[i] as Row));
for (const r of faultRows)
  process.stdout.write(
    `${r.trace} faults (${r.faults}): missed ${r.tidemark.total.missedMinutes} vs hpa ${r.hpa.total.missedMinutes}, wasted ${f1(r.tidemark.total.wastedReplicaMinutes)} vs hpa ${f1(r.hpa.total.wastedReplicaMinutes)}\n`,
  );
const flapIndex = traces.findIndex((t) => t.name === FLAPPING);
const flaps = [
  ...(flapIndex < 0 ? [] : flapRows(traces[flapIndex] as NamedTrace, first, main[flapIndex] as Row)),
  ...flapRows(sessionsTrace(), first, undefined),
];
for (const f of flaps)
  process.stdout.write(
    `${f.trace} flapping, ${f.policy}: reversals ${f3(f.ratios.directionReversals)}, replica-min ${f3(f.ratios.replicaMinutes)}\n`,
  );

function f1(x: number): string {
  return x.toFixed(1);
}

const shareText = (x: number | undefined) => (x === undefined ? 'n/a' : `${Math.round(100 * x)} %`);

function foresightLines(rows: ForesightRow[]): string[] {
  return [
    `## Forecasting: against perfect foresight (start-up ${first} s)`,
    '',
    `Perfect foresight is the engine with Level 5 off fed, instead of the metric, the true load's highest minute over the next lead (start-up + tick + the metric's lag: \`rate(...[1m])\` trails the load by about half its window, plus half a polling interval of read delay). It is the ceiling a forecast can reach at the user's target. "vs line" is cost ÷ the reactive line's cost (the HPA at ${LOWER_TARGETS.map((x) => `${Math.round(x * 100)} %`).join(', ')}) at the same misses: below 1, the misses bought cheaper than by lowering the target ("≤": fewer misses than the line reaches, a bound). Share of the reachable gain: (1 − Level 5's) ÷ (1 − foresight's). The last column is foresight over start-up + tick only, the lead without the metric's lag: what the lag term buys.`,
    '',
    '| trace | lead | foresight replica-min ÷ hpa | foresight under-prov ÷ hpa | foresight reversals ÷ hpa | foresight vs line | Level 5 vs line | share of the reachable gain | foresight without the lag: replica-min / under-prov ÷ hpa |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.trace} | ${r.leadSeconds} s | ${f3(r.ratios.replicaMinutes)} | ${f3(r.ratios.underProvisionedMinutes)} | ${f3(r.ratios.directionReversals)} | ${vsLine(r.foresightVsLine)} | ${vsLine(r.level5VsLine)} | ${shareText(r.reachableShare)} | ${f3(r.noLag.replicaMinutes)} / ${f3(r.noLag.underProvisionedMinutes)} (lead ${r.noLagLeadSeconds} s) |`,
    ),
    '',
  ];
}

const ratioText = (a: number, b: number) => {
  const r = costRatio(a, b);
  return r === undefined ? 'n/a' : f3(r);
};

function faultSums(rows: FaultRow[], kind: FaultKind | 'total', who: 'tidemark' | 'hpa'): FaultCost {
  const out = { missedMinutes: 0, wastedReplicaMinutes: 0 };
  for (const r of rows) {
    const c = r[who][kind];
    out.missedMinutes += c?.missedMinutes ?? 0;
    out.wastedReplicaMinutes += c?.wastedReplicaMinutes ?? 0;
  }
  return out;
}

function faultLines(rows: FaultRow[]): string[] {
  const cell = (a: FaultCost, b: FaultCost) => [
    `${a.missedMinutes} / ${b.missedMinutes}`,
    ratioText(a.missedMinutes, b.missedMinutes),
    `${f1(a.wastedReplicaMinutes)} / ${f1(b.wastedReplicaMinutes)}`,
    ratioText(a.wastedReplicaMinutes, b.wastedReplicaMinutes),
  ];
  const all = (k: FaultKind | 'total') => cell(faultSums(rows, k, 'tidemark'), faultSums(rows, k, 'hpa'));
  return [
    `## Anomaly handling: the fault suite (start-up ${first} s)`,
    '',
    `The same traces and policy with metric faults as they happen in production, from day 2, one every ${FAULT_EVERY_SECONDS / 3600} h, the kinds in turn: a counter reset's spike (10 × for 1 min), a scrape gap (no sample for 10 min), a stale series (frozen for 30 min), a doubled series (2 × for 30 min), bogus zeros (0 for 6 min), an exporter gone mad (0–20 × for 10 min). Every strategy reads the same faulty values, hpa-default as the HPA through an adapter would (a failed query holds, a zero scales down). A fault's cost is against the strategy's own fault-free run, over the fault and the ${FAULT_AFTER_MINUTES} minutes after it: the minutes under-provisioned in the faulted run and not in the clean one (missed) and the replicas held beyond the clean run's, minute by minute (wasted); a fault that happens to spare a minute or a replica is not counted as a saving. Cells: tidemark / hpa-default, and tidemark ÷ hpa-default (n/a where the HPA lost nothing).`,
    '',
    '| trace | faults | missed min | ÷ hpa | wasted replica-min | ÷ hpa |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.trace} | ${r.faults} | ${cell(r.tidemark.total, r.hpa.total).join(' | ')} |`),
    `| **all traces** | ${rows.reduce((a, r) => a + r.faults, 0)} | ${all('total').join(' | ')} |`,
    '',
    'By kind, over all traces:',
    '',
    '| fault | missed min | ÷ hpa | wasted replica-min | ÷ hpa |',
    '|---|---:|---:|---:|---:|',
    ...FAULT_KINDS.map((k) => `| ${k} | ${all(k).join(' | ')} |`),
    '',
  ];
}

function flapLines(rows: FlapRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    `## Self-tuning: a workload that makes the HPA's defaults flap (start-up ${first} s)`,
    '',
    `\`${FLAPPING}\`: batches every 9–15 minutes, 2–5 minutes long at 2.5–4 × the baseline, so the load falls just long enough for the HPA's five-minute scale-down window to expire before the next batch (\`tidemark trace synth --shape batches\`). \`${SESSIONS.name}\`: another rhythm, the seeded \`flat\` trace (seed ${SESSIONS.base.seed}, ${SESSIONS.base.days} days) switched between sessions of ${SESSIONS.rhythm.onMinutes.join('–')} minutes at ${SESSIONS.rhythm.factor} × and pauses of ${SESSIONS.rhythm.offMinutes.join('–')} minutes (bench/pillars.ts \`onOffLoad\`; only in this section). Each at the bench's scale rule. Ratios are tidemark ÷ hpa-default. Run this section alone with \`node bench/simulate.ts --only ${FLAPPING} --startups 60 --trade-miss-cost 0\` (the sessions workload always runs).`,
    '',
    '| workload | policy | reversals ÷ hpa | replica-min ÷ hpa | under-prov min ÷ hpa | reversals (tidemark / hpa) |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.trace} | ${r.policy} | ${f3(r.ratios.directionReversals)} | ${f3(r.ratios.replicaMinutes)} | ${f3(r.ratios.underProvisionedMinutes)} | ${r.tidemark.directionReversals} / ${r.hpa.directionReversals} |`,
    ),
    '',
  ];
}

/** How far a row is from the flapping goal: the larger of its two ratios against their bounds. */
function flapScore(f: FlapRow): number {
  return Math.max(f.ratios.directionReversals / 0.5, f.ratios.replicaMinutes / 1.02);
}

function pillarGoals(): Array<{ goal: string; met: boolean; detail: string }> {
  const tm = faultSums(faultRows, 'total', 'tidemark');
  const hp = faultSums(faultRows, 'total', 'hpa');
  const missed = costRatio(tm.missedMinutes, hp.missedMinutes);
  const wasted = costRatio(tm.wastedReplicaMinutes, hp.wastedReplicaMinutes);
  // The worst flapping workload with the three switches on: the goal holds on every one or not at all.
  const three = flaps.filter((f) => f.policy === 'the three switches on');
  const flap = three.length === 0 ? undefined : three.reduce((a, b) => (flapScore(b) > flapScore(a) ? b : a));
  return [
    {
      goal: "fault suite: minutes missed because of the faults <= 0.2 x hpa-default's",
      met: missed !== undefined && missed <= 0.2,
      detail: `${tm.missedMinutes} / ${hp.missedMinutes} = ${missed === undefined ? 'n/a' : f3(missed)}`,
    },
    {
      goal: "fault suite: replica-minutes wasted because of the faults <= 0.2 x hpa-default's",
      met: wasted !== undefined && wasted <= 0.2,
      detail: `${f1(tm.wastedReplicaMinutes)} / ${f1(hp.wastedReplicaMinutes)} = ${wasted === undefined ? 'n/a' : f3(wasted)}`,
    },
    {
      goal: 'flapping workload: reversals <= 0.5 x at replica-minutes <= 1.02 x hpa-default',
      met: flap !== undefined && flapScore(flap) <= 1,
      detail:
        flap === undefined
          ? 'not run'
          : `worst ${flap.trace}: reversals ${f3(flap.ratios.directionReversals)}, replica-min ${f3(flap.ratios.replicaMinutes)}`,
    },
  ];
}

interface SeasonRow {
  trace: string;
  multi: SeasonScore;
  plain: SeasonScore;
}

/** The forecaster as the engine configures it for the user's policy, with and without sub-daily seasons. */
function seasonsOne(t: NamedTrace): SeasonRow {
  const cfg = forecastConfig(userPolicy(TARGET_SHARE * capacityOf(t)), 'rps') as ForecastConfig;
  return {
    trace: t.name,
    multi: scoreForecaster(t.trace.requests, cfg),
    plain: scoreForecaster(t.trace.requests, { ...cfg, subSeasonsSeconds: [] }),
  };
}

const seasonRows = FAULTS_ONLY ? [] : traces.map(seasonsOne);
for (const r of seasonRows)
  process.stdout.write(
    `${r.trace} forecaster: error ${r.multi.errorPercent.toFixed(1)} % (daily model alone ${r.plain.errorPercent.toFixed(1)} %), sub-daily season in use on ${seasonsInUse(r.multi)}\n`,
  );

function seasonsInUse(s: SeasonScore): string {
  const used = Object.entries(s.seasons).filter(([k]) => k !== '0');
  if (used.length === 0) return 'none of the ticks';
  return used.map(([k, v]) => `${v.toFixed(0)} % (${Number(k) / 60} min)`).join(', ');
}

function seasonLines(rows: SeasonRow[]): string[] {
  const cells = (s: SeasonScore) =>
    `${s.errorPercent.toFixed(1)} % | ${s.missPercent.toFixed(1)} % | ${s.sizedOverLoad.toFixed(3)} | ${s.readyPercent.toFixed(0)} %`;
  return [
    "## Forecasting: the forecaster's seasons",
    '',
    "The forecaster alone, configured as the engine configures it for the policy above (lead 60 s start-up + tick, plus the metric's lag; 'max' horizon; miss budget 5 %), fed each minute's requests, each forecast (ready or standing aside) scored against the load's highest minute over the stretch it covers; ready: the share made while its recent error was under `maxErrorPercent`. Error: Σ |forecast − load| ÷ Σ load. Misses: the share of forecasts the load exceeded forecast + calibrated headroom. Sized ÷ load: Σ (forecast + headroom) ÷ Σ load, what the sizing holds above the load. With the candidate sub-daily seasons (30 and 60 min, chosen by held-back error) against the daily (and weekly) model alone.",
    '',
    '| trace | error | misses | sized ÷ load | ready | daily alone: error | misses | sized ÷ load | ready | sub-daily season in use |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.trace} | ${cells(r.multi)} | ${cells(r.plain)} | ${seasonsInUse(r.multi)} |`),
    '',
  ];
}

const loadAtEnd = loadavg();
const machineNote = `Machine: ${cpus().length} cores, load average ${loadAtStart.map((x) => x.toFixed(1)).join(' / ')} at the start and ${loadAtEnd.map((x) => x.toFixed(1)).join(' / ')} at the end (1 / 5 / 15 min)${process.env.BENCH_NOTE ? `; ${process.env.BENCH_NOTE}` : ''}. The figures are simulated time and do not depend on the load; only the run's seconds do.`;

const md = [
  '# make bench: Level 5 switched on as a new user would, against hpa-default',
  '',
  `Each trace at its own scale by one rule: capacity = peak minute / ${PEAK_REPLICAS} (the peak needs ${PEAK_REPLICAS} replicas), target ${TARGET_SHARE * 100} % of capacity (AverageValue), min 1, max 100; policy: \`predictive\`, \`anomaly\`, \`autotune\` enabled, nothing else set. Ratios are tidemark ÷ hpa-default from \`tidemark simulate\`. Shadow-property stretches: 24 h stretches (hourly steps) where tidemark had more than 1.05 × hpa-default's replica-minutes and under-provisioned minutes at once. Level 5 acting: the share of ticks on which the shadow evaluation let Level 5 change replicas (on the others the target got the HPA-compatible decision).`,
  ...(FAULTS_ONLY
    ? [
        '',
        '`--faults-only`: the clean runs and the fault suite at the first start-up only; the other sections are in simulate-suite.md.',
      ]
    : []),
  ...(values['miss-cost'] === undefined
    ? []
    : [
        '',
        `This run also sets \`predictive.missCostReplicaSeconds: ${values['miss-cost']}\` (the exchange rate; the headline run leaves it unset).`,
      ]),
  '',
  `## Start-up ${startups[0]} s`,
  '',
  ...tableLines(main),
  '',
  ...startups.slice(1).flatMap((s) => {
    const w = worst(byStartup.get(s) ?? []);
    return [
      `Worst row with ${s} s start-up: replica-min ${f3(w.replicaMinutes)}, under-prov ${f3(w.underProvisionedMinutes)}, reversals ${f3(w.directionReversals)}.`,
      '',
    ];
  }),
  `## Start-up ${startups[0]} s, capacity stated`,
  '',
  `The same policy with \`target.capacity\` set to what a replica serves (the miss line; the target stays ${TARGET_SHARE * 100} % of it), so Level 5 may run between the target and the capacity where its shadow score beats the reactive path.`,
  '',
  ...tableLines(mainCapacity),
  '',
  ...startups.slice(1).flatMap((s) => {
    const w = worst(byStartupCapacity.get(s) ?? []);
    return [
      `Worst row with ${s} s start-up, capacity stated: replica-min ${f3(w.replicaMinutes)}, under-prov ${f3(w.underProvisionedMinutes)}, reversals ${f3(w.directionReversals)}.`,
      '',
    ];
  }),
  '## Goals (issue 19, capacity stated)',
  '',
  ...capacityGoals(mainCapacity).map((g) => `- ${g.met ? 'MET' : 'NOT MET'}: ${g.goal} (${g.detail})`),
  '',
  '## Goals (issue 10)',
  '',
  ...goals(main).map((g) => `- ${g.met ? 'MET' : 'NOT MET'}: ${g.goal} (${g.detail})`),
  '',
  ...tradeLines(trades, startups[0] as number),
  ...(FAULTS_ONLY ? [] : [...foresightLines(foresights), ...seasonLines(seasonRows)]),
  ...faultLines(faultRows),
  ...flapLines(flaps),
  '## Goals (issue 19, the pillars)',
  '',
  ...pillarGoals().map((g) => `- ${g.met ? 'MET' : 'NOT MET'}: ${g.goal} (${g.detail})`),
  '',
  machineNote,
  '',
  ...startups.slice(1).flatMap((s) => [`## Start-up ${s} s`, '', ...tableLines(byStartup.get(s) ?? []), '']),
].join('\n');
mkdirSync(values.out, { recursive: true });
const stem = FAULTS_ONLY
  ? 'simulate-faults'
  : values['miss-cost'] === undefined
    ? 'simulate-suite'
    : `simulate-suite-misscost-${values['miss-cost']}`;
writeFileSync(`${values.out}/${stem}.md`, md);
writeFileSync(
  `${values.out}/${stem}.json`,
  `${JSON.stringify(
    {
      rule: {
        peakReplicas: PEAK_REPLICAS,
        targetShareOfCapacity: TARGET_SHARE,
        minReplicas: 1,
        maxReplicas: 100,
      },
      runs: startups.map((s) => ({
        startupSeconds: s,
        rows: byStartup.get(s)?.map(withoutSeries),
        worst: worst(byStartup.get(s) ?? []),
      })),
      goals: goals(main),
      capacityStated: {
        runs: startups.map((s) => ({
          startupSeconds: s,
          rows: byStartupCapacity.get(s)?.map(withoutSeries),
          worst: worst(byStartupCapacity.get(s) ?? []),
        })),
        goals: capacityGoals(mainCapacity),
      },
      ...(trades.length === 0 ? {} : { tradeOff: { missCostReplicaSeconds: TRADE_MISS_COST, rows: trades } }),
      foresight: foresights,
      forecasterSeasons: seasonRows,
      faultSuite: {
        startSeconds: FAULT_START_SECONDS,
        everySeconds: FAULT_EVERY_SECONDS,
        afterMinutes: FAULT_AFTER_MINUTES,
        rows: faultRows,
      },
      flapping: flaps,
      pillarGoals: pillarGoals(),
      machine: machineNote,
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(
  `\n${md}\nwrote ${values.out}/${stem}.json and .md in ${((performance.now() - began) / 1000).toFixed(0)} s\n`,
);
