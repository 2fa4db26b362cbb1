// `make bench`: replays a trace (default: the NASA-HTTP trace) through
// `tidemark simulate` with the benchmark's model and policy, writes
// bench/results/simulate-<trace>.json and .md, and prints the table with each
// strategy's replica-minutes relative to the oracle and under-provisioned minutes
// relative to hpa-default.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { UserError } from '../src/cli/main.ts';
import { parseOutage, runSimulationFiles } from '../src/cli/simulate.ts';
import { formatMarkdown, formatTable } from '../src/simulate/report.ts';
import type { Outage } from '../src/simulate/simulate.ts';

const CAPACITY = 20;
const STARTUP_SECONDS = 60;

const { values } = parseArgs({
  options: {
    trace: { type: 'string', default: '../shared/traces/nasa_per_minute.csv' },
    policy: { type: 'string', default: 'examples/nasa-bench.yaml' },
    outage: { type: 'string', multiple: true },
    out: { type: 'string', default: 'bench/results' },
  },
});

function stem(file: string): string {
  const base = basename(file).replace(/\.csv$/, '');
  return base === 'nasa_per_minute' ? 'nasa' : base.replace(/_per_minute$/, '');
}

try {
  let outages: Outage[] | undefined;
  for (const o of values.outage ?? []) outages = parseOutage(o, outages);
  const result = runSimulationFiles({
    trace: values.trace,
    policy: values.policy,
    capacity: CAPACITY,
    startupSeconds: STARTUP_SECONDS,
    ...(outages ? { outages } : {}),
  });
  const seconds = result.elapsedMs / 1000;
  const report = {
    ...result.report,
    extra: { ...result.report.extra, policyFile: values.policy, runSeconds: Number(seconds.toFixed(2)) },
  };
  mkdirSync(values.out, { recursive: true });
  const name = `simulate-${stem(values.trace)}`;
  writeFileSync(`${values.out}/${name}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    `# tidemark simulate: ${report.trace.file}`,
    '',
    `${report.trace.minutes} minutes; ${CAPACITY} requests/minute per replica; ${STARTUP_SECONDS} s start-up; policy \`${values.policy}\`; simulated in ${seconds.toFixed(1)} s.`,
    '',
    formatMarkdown(report),
  ].join('\n');
  writeFileSync(`${values.out}/${name}.md`, md);
  process.stdout.write(formatTable(report));
  process.stdout.write(`\nsimulated in ${seconds.toFixed(2)} s; wrote ${values.out}/${name}.json and .md\n`);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
