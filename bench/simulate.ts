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
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PolicySpec } from '../src/policy/types.ts';
import { validatedPolicySpec } from '../src/simulate/policy.ts';
import { autopilotActing } from '../src/simulate/render-report.ts';
import {
  type Report,
  type SimulationResult,
  type StrategyResult,
  simulate,
} from '../src/simulate/simulate.ts';
import { parseTrace, type Trace } from '../src/simulate/trace.ts';
import { type Shape, synthTrace } from '../src/trace/synth.ts';
import { type AgainstLine, againstLine, type TradePoint } from './frontier.ts';

const { values } = parseArgs({
  options: {
    traces: { type: 'string', default: '../shared/traces' },
    out: { type: 'string', default: 'bench/results' },
    'no-synthetic': { type: 'boolean', default: false },
    startups: { type: 'string', default: '60,30,180' },
    /** Sets predictive.missCostReplicaSeconds (the exchange rate) for an extra look; not the headline. */
    'miss-cost': { type: 'string' },
    /** The exchange rate of the trade-off section's Level 5 run (first start-up only); 0 skips the section. */
    'trade-miss-cost': { type: 'string', default: '900' },
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
];

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
const TRADE_MISS_COST = Number(values['trade-miss-cost']);
/** Targets (share of capacity) below the user's at which the HPA traces the reactive trade-off line. */
const LOWER_TARGETS = [0.65, 0.6, 0.55, 0.5];

function rpsMetric(target: number) {
  return {
    name: 'rps',
    query: 'sum(rate(http_requests_total[1m])) * 60',
    target: { type: 'AverageValue', value: String(Number(target.toFixed(3))) },
  };
}

/** The user-like policy: the three switches on, nothing else set (bar an exchange rate for a look). */
function userPolicy(target: number, missCost = HEADLINE_MISS_COST): PolicySpec {
  return validatedPolicySpec(
    {
      maxReplicas: 100,
      metrics: [rpsMetric(target)],
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
}

function capacityOf(t: NamedTrace): number {
  let peak = 0;
  for (const x of t.trace.requests) if (x > peak) peak = x;
  return Math.max(1e-6, peak / PEAK_REPLICAS);
}

function runOne(t: NamedTrace, startupSeconds: number): Row {
  const capacity = capacityOf(t);
  const started = performance.now();
  const sim = simulate({
    trace: t.trace,
    traceName: t.name,
    spec: userPolicy(TARGET_SHARE * capacity),
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

/** Where the reactive way to fewer misses (a lower target) and Level 5 with an exchange rate land. */
function tradeOne(t: NamedTrace, startupSeconds: number, hpa: StrategyResult): TradeRow {
  const capacity = capacityOf(t);
  const run = (spec: PolicySpec) =>
    simulate({ trace: t.trace, traceName: t.name, spec, capacity, startupSeconds }).report;
  const line = LOWER_TARGETS.map((share) => {
    const plain = validatedPolicySpec({ maxReplicas: 100, metrics: [rpsMetric(share * capacity)] }, 'bench');
    return { targetShare: share, ...point(get(run(plain), 'hpa-default'), hpa) };
  });
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

const traces = [...realTraces(values.traces), ...(values['no-synthetic'] ? [] : syntheticTraces())];
const startups = values.startups.split(',').map(Number);
const byStartup = new Map<number, Row[]>();
const began = performance.now();
for (const s of startups) {
  const rows: Row[] = [];
  for (const t of traces) {
    const row = runOne(t, s);
    rows.push(row);
    process.stdout.write(
      `${t.name} start-up ${s}s: replica-min ${f3(row.ratios.replicaMinutes)}, under-prov ${f3(row.ratios.underProvisionedMinutes)}, reversals ${f3(row.ratios.directionReversals)}, shadow stretches ${row.shadow.stretches} (${row.seconds}s)\n`,
    );
  }
  byStartup.set(s, rows);
}
const main = byStartup.get(startups[0] as number) ?? [];
const trades: TradeRow[] = [];
if (TRADE_MISS_COST > 0) {
  for (const [i, t] of traces.entries()) {
    const row = tradeOne(t, startups[0] as number, (main[i] as Row).hpa);
    trades.push(row);
    process.stdout.write(
      `${t.name} trade-off: Level 5 at exchange rate ${TRADE_MISS_COST} ${f3(row.level5.cost)} / ${f3(row.level5.miss)}, vs line ${vsLine(row.againstLine)}\n`,
    );
  }
}
const md = [
  '# make bench: Level 5 switched on as a new user would, against hpa-default',
  '',
  `Each trace at its own scale by one rule: capacity = peak minute / ${PEAK_REPLICAS} (the peak needs ${PEAK_REPLICAS} replicas), target ${TARGET_SHARE * 100} % of capacity (AverageValue), min 1, max 100; policy: \`predictive\`, \`anomaly\`, \`autotune\` enabled, nothing else set. Ratios are tidemark ÷ hpa-default from \`tidemark simulate\`. Shadow-property stretches: 24 h stretches (hourly steps) where tidemark had more than 1.05 × hpa-default's replica-minutes and under-provisioned minutes at once. Level 5 acting: the share of ticks on which the shadow evaluation let Level 5 change replicas (on the others the target got the HPA-compatible decision).`,
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
  '## Goals (issue 10)',
  '',
  ...goals(main).map((g) => `- ${g.met ? 'MET' : 'NOT MET'}: ${g.goal} (${g.detail})`),
  '',
  ...tradeLines(trades, startups[0] as number),
  ...startups.slice(1).flatMap((s) => [`## Start-up ${s} s`, '', ...tableLines(byStartup.get(s) ?? []), '']),
].join('\n');
mkdirSync(values.out, { recursive: true });
const stem =
  values['miss-cost'] === undefined ? 'simulate-suite' : `simulate-suite-misscost-${values['miss-cost']}`;
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
        rows: byStartup.get(s),
        worst: worst(byStartup.get(s) ?? []),
      })),
      goals: goals(main),
      ...(trades.length === 0 ? {} : { tradeOff: { missCostReplicaSeconds: TRADE_MISS_COST, rows: trades } }),
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(
  `\n${md}\nwrote ${values.out}/simulate-suite.json and .md in ${((performance.now() - began) / 1000).toFixed(0)} s\n`,
);
