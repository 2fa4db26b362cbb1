// `make bench`: replays a trace (default: the NASA-HTTP trace) through `tidemark simulate`
// with the benchmark's model, three times:
//   1. examples/nasa-bench.yaml: Level 5 off (tidemark must equal hpa-default);
//   2. examples/nasa-autopilot.yaml: forecasting, anomaly handling and self-tuning on;
//   3. the autopilot policy again with an injected metric outage (the query returns no sample).
// It writes bench/results/simulate-<trace>.json and .md and prints the tables, each strategy's
// replica-minutes relative to the oracle and under-provisioned minutes relative to hpa-default,
// direction reversals relative to hpa-default, and whether each Level 5 goal (issue 5) is met.
//
// Then, unless --no-synthetic, the autopilot policy on the synthetic traces of bench/traces.ts
// (fixed seeds: seasonal, trending, flat), written to bench/results/simulate-synthetic.json
// and .md: the same ratios on traces nothing was tuned on, to catch a change fitted to NASA.
//
// The outage is placed by a rule, not by hand: the busiest stretch of `--outage-minutes`
// (default 180) after the first week (so the forecaster has learned what it can), unless
// --outage START:LENGTH is given.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPolicyFile, UserError } from '../src/cli/main.ts';
import { parseOutage, runSimulationFiles } from '../src/cli/simulate.ts';
import type { PolicySpec } from '../src/policy/types.ts';
import { formatMarkdown, formatTable } from '../src/simulate/report.ts';
import { type Outage, type Report, type StrategyResult, simulate } from '../src/simulate/simulate.ts';
import { parseTrace } from '../src/simulate/trace.ts';
import { syntheticTraces } from './traces.ts';

const CAPACITY = 20;
const STARTUP_SECONDS = 60;

const { values } = parseArgs({
  options: {
    trace: { type: 'string', default: '../shared/traces/nasa_per_minute.csv' },
    policy: { type: 'string', default: 'examples/nasa-bench.yaml' },
    autopilot: { type: 'string', default: 'examples/nasa-autopilot.yaml' },
    outage: { type: 'string', multiple: true },
    'outage-minutes': { type: 'string', default: '180' },
    out: { type: 'string', default: 'bench/results' },
    'no-synthetic': { type: 'boolean', default: false },
  },
});

function stem(file: string): string {
  const base = basename(file).replace(/\.csv$/, '');
  return base === 'nasa_per_minute' ? 'nasa' : base.replace(/_per_minute$/, '');
}

/** The busiest `length`-minute stretch starting after the first week (or the first quarter of a shorter trace). */
function busiestStretch(requests: Float64Array, length: number): Outage {
  const from = Math.min(7 * 1440, Math.floor(requests.length / 4));
  let sum = 0;
  let best = { start: from, sum: -1 };
  for (let i = from; i < requests.length; i++) {
    sum += requests[i]!;
    if (i - from >= length) sum -= requests[i - length]!;
    if (i - from >= length - 1 && sum > best.sum) best = { start: i - length + 1, sum };
  }
  return { startMinute: best.start, lengthMinutes: Math.min(length, requests.length - best.start) };
}

interface Run {
  name: string;
  policy: string;
  outages?: Outage[];
  report: Report;
  seconds: number;
}

function run(name: string, policy: string, outages?: Outage[]): Run {
  const result = runSimulationFiles({
    trace: values.trace,
    policy,
    capacity: CAPACITY,
    startupSeconds: STARTUP_SECONDS,
    ...(outages ? { outages } : {}),
  });
  const seconds = result.elapsedMs / 1000;
  const report = {
    ...result.report,
    extra: { ...result.report.extra, policyFile: policy, runSeconds: Number(seconds.toFixed(2)) },
  };
  return { name, policy, ...(outages ? { outages } : {}), report, seconds };
}

function get(r: Report, s: string): StrategyResult {
  const x = r.results.find((y) => y.strategy === s);
  if (!x) throw new Error(`no ${s} in the report`);
  return x;
}

function ratio(a: number, b: number): string {
  return b > 0 ? (a / b).toFixed(3) : a === 0 ? '1.000' : 'n/a';
}

function reversalsLine(r: Report): string {
  const hpa = get(r, 'hpa-default').directionReversals;
  return `direction reversals / hpa-default: ${r.results
    .filter((x) => x.strategy !== 'oracle')
    .map((x) => `${x.strategy} ${ratio(x.directionReversals, hpa)}`)
    .join(', ')}`;
}

interface Goal {
  goal: string;
  met: boolean;
  detail: string;
}

/** The autopilot policy on each synthetic trace: tidemark against hpa-default and the oracle. */
function synthetic(policy: string): void {
  const spec = loadPolicyFile(policy).spec as PolicySpec;
  const rows: string[] = [];
  const json: unknown[] = [];
  for (const s of syntheticTraces()) {
    const started = performance.now();
    const { report } = simulate({
      trace: s.trace,
      traceName: s.name,
      spec,
      capacity: CAPACITY,
      startupSeconds: STARTUP_SECONDS,
    });
    const seconds = (performance.now() - started) / 1000;
    const t = get(report, 'tidemark');
    const h = get(report, 'hpa-default');
    const o = get(report, 'oracle');
    const r = {
      replicaMinutes: Number(ratio(t.replicaMinutes, h.replicaMinutes)),
      underProvisionedMinutes: Number(ratio(t.underProvisionedMinutes, h.underProvisionedMinutes)),
      directionReversals: Number(ratio(t.directionReversals, h.directionReversals)),
    };
    json.push({ name: s.name, description: s.description, ratiosToHpa: r, ...report });
    rows.push(
      `| ${s.name} | ${report.trace.minutes} | ${r.replicaMinutes.toFixed(3)} | ${r.underProvisionedMinutes.toFixed(3)} | ${r.directionReversals.toFixed(3)} | ${ratio(t.replicaMinutes, o.replicaMinutes)} | ${ratio(h.replicaMinutes, o.replicaMinutes)} |`,
    );
    process.stdout.write(`\n== ${s.name}: ${s.description} (${policy})\n`);
    process.stdout.write(formatTable(report));
    process.stdout.write(`${reversalsLine(report)}\nsimulated in ${seconds.toFixed(2)} s\n`);
  }
  const md = [
    '# tidemark simulate: synthetic traces (bench/traces.ts)',
    '',
    `Policy \`${policy}\` (Level 5 on); ${CAPACITY} requests/minute per replica; ${STARTUP_SECONDS} s start-up. Fixed seeds, so every run sees the same minutes; nothing in the engine is tuned on them. Ratios are tidemark's to hpa-default's (the issue 5 goals: replica-minutes <= 1, under-provisioned minutes <= 0.5, reversals <= 1).`,
    '',
    ...syntheticTraces().map((s) => `- \`${s.name}\`: ${s.description}`),
    '',
    '| trace | minutes | replica-min / hpa | under-prov / hpa | reversals / hpa | tidemark replica-min / oracle | hpa replica-min / oracle |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(`${values.out}/simulate-synthetic.md`, md);
  writeFileSync(
    `${values.out}/simulate-synthetic.json`,
    `${JSON.stringify({ policy, model: { capacityPerReplica: CAPACITY, startupSeconds: STARTUP_SECONDS }, traces: json }, null, 2)}\n`,
  );
  process.stdout.write(`\nwrote ${values.out}/simulate-synthetic.json and .md\n`);
}

function goals(auto: Report, outage: Report): Goal[] {
  const t = get(auto, 'tidemark');
  const h = get(auto, 'hpa-default');
  const under = t.underProvisionedMinutes / Math.max(1, h.underProvisionedMinutes);
  const rm = t.replicaMinutes / h.replicaMinutes;
  const downs = (outage.extra.scaleDownsDuringOutage ?? {}) as Record<string, number>;
  return [
    {
      goal: '(a) forecasting on: under-provisioned minutes <= 50% of hpa-default and replica-minutes <= hpa-default',
      met: under <= 0.5 && rm <= 1,
      detail: `under-provisioned ${t.underProvisionedMinutes} vs ${h.underProvisionedMinutes} (${(under * 100).toFixed(1)}%${under <= 0.5 ? ', met' : ', not met'}); replica-minutes ${t.replicaMinutes} vs ${h.replicaMinutes} (${(rm * 100).toFixed(1)}%${rm <= 1 ? ', met' : ', not met'})`,
    },
    {
      goal: '(b) direction reversals <= hpa-default',
      met: t.directionReversals <= h.directionReversals,
      detail: `${t.directionReversals} vs ${h.directionReversals}`,
    },
    {
      goal: '(c) with a metric outage, no scale-down caused by the missing data',
      met: (downs.tidemark ?? 0) === 0,
      detail: `scale-downs while the metric was missing: ${Object.entries(downs)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    },
  ];
}

try {
  let outages: Outage[] | undefined;
  for (const o of values.outage ?? []) outages = parseOutage(o, outages);
  if (!outages) {
    let text: string;
    try {
      text = readFileSync(values.trace, 'utf8');
    } catch (err) {
      throw new UserError(
        `cannot read trace file ${values.trace}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    const length = Number(values['outage-minutes']);
    if (!Number.isInteger(length) || length < 1)
      throw new UserError('--outage-minutes must be a whole number >= 1');
    outages = [busiestStretch(parseTrace(text, values.trace).requests, length)];
  }
  const runs = [
    run('Level 5 off (HPA-compatible defaults)', values.policy),
    run('Level 5 on (autopilot)', values.autopilot),
    run('Level 5 on, with a metric outage', values.autopilot, outages),
  ];
  const [, auto, outage] = runs as [Run, Run, Run];
  const g = goals(auto.report, outage.report);

  mkdirSync(values.out, { recursive: true });
  const name = `simulate-${stem(values.trace)}`;
  const first = runs[0]!.report;
  writeFileSync(
    `${values.out}/${name}.json`,
    `${JSON.stringify(
      {
        trace: first.trace,
        model: first.model,
        runs: runs.map((r) => ({ name: r.name, policy: r.policy, outages: r.outages, ...r.report })),
        goals: g,
      },
      null,
      2,
    )}\n`,
  );
  const o = outages[0]!;
  const md = [
    `# tidemark simulate: ${first.trace.file}`,
    '',
    `${first.trace.minutes} minutes; ${CAPACITY} requests/minute per replica; ${STARTUP_SECONDS} s start-up.`,
    '',
    ...runs.flatMap((r) => [
      `## ${r.name}`,
      '',
      `Policy \`${r.policy}\`${r.outages ? `; metric missing for minutes ${o.startMinute}–${o.startMinute + o.lengthMinutes} (the busiest ${o.lengthMinutes} minutes after the first week)` : ''}; simulated in ${r.seconds.toFixed(1)} s.`,
      '',
      formatMarkdown(r.report),
      reversalsLine(r.report),
      '',
    ]),
    '## Level 5 goals (issue 5)',
    '',
    ...g.map((x) => `- ${x.met ? 'MET' : 'NOT MET'}: ${x.goal}: ${x.detail}`),
    '',
  ].join('\n');
  writeFileSync(`${values.out}/${name}.md`, md);
  for (const r of runs) {
    process.stdout.write(
      `\n== ${r.name} (${r.policy}${r.outages ? `, outage ${o.startMinute}:${o.lengthMinutes}` : ''})\n`,
    );
    process.stdout.write(formatTable(r.report));
    process.stdout.write(`${reversalsLine(r.report)}\nsimulated in ${r.seconds.toFixed(2)} s\n`);
  }
  process.stdout.write('\nLevel 5 goals:\n');
  for (const x of g)
    process.stdout.write(`  ${x.met ? 'MET    ' : 'NOT MET'} ${x.goal}\n          ${x.detail}\n`);
  process.stdout.write(`\nwrote ${values.out}/${name}.json and .md\n`);
  if (!values['no-synthetic']) synthetic(values.autopilot);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
