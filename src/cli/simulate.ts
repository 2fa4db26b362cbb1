// `tidemark simulate`: replays a per-minute request trace through the policy
// engine and the baselines (src/simulate/) and prints the report.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { PolicySpec } from '../policy/types.ts';
import { renderSvg } from '../simulate/plot.ts';
import { formatTable } from '../simulate/render-report.ts';
import { type Outage, type SimulationResult, simulate } from '../simulate/simulate.ts';
import { parseTrace, SimulationInputError } from '../simulate/trace.ts';
import { loadPolicyFile, UserError } from './policy-file.ts';

export interface SimulateRunOptions {
  trace: string;
  policy: string;
  capacity: number;
  startupSeconds: number;
  outages?: Outage[];
  startTime?: number;
  onProgress?: (fraction: number) => void;
}

/** Loads the trace and the policy, runs the simulation. User mistakes become UserError. */
export function runSimulationFiles(opts: SimulateRunOptions): SimulationResult & { elapsedMs: number } {
  let text: string;
  try {
    text = readFileSync(opts.trace, 'utf8');
  } catch (err) {
    throw new UserError(
      `cannot read trace file ${opts.trace}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  const spec = loadPolicyFile(opts.policy).spec as PolicySpec;
  const started = performance.now();
  try {
    const trace = parseTrace(text, opts.trace);
    for (const o of opts.outages ?? []) {
      if (o.startMinute >= trace.requests.length) {
        throw new SimulationInputError(
          `--outage ${o.startMinute}:${o.lengthMinutes} starts after the trace ends (${trace.requests.length} minutes)`,
        );
      }
    }
    const result = simulate({
      trace,
      traceName: basename(opts.trace),
      spec,
      capacity: opts.capacity,
      startupSeconds: opts.startupSeconds,
      ...(opts.outages ? { outages: opts.outages } : {}),
      ...(opts.startTime !== undefined ? { startTime: opts.startTime } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    return { ...result, elapsedMs: performance.now() - started };
  } catch (err) {
    if (err instanceof SimulationInputError) throw new UserError(err.message);
    throw err;
  }
}

export function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new UserError(`${flag} must be a positive number, got "${v}"`);
    return n;
  };
}

export function nonNegativeInteger(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()))
      throw new UserError(`${flag} must be a non-negative whole number, got "${v}"`);
    return Number(v);
  };
}

/** START_MINUTE:LENGTH_MINUTES, repeatable. */
export function parseOutage(v: string, previous: Outage[] = []): Outage[] {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(v);
  if (!m || Number(m[2]) === 0) {
    throw new UserError(
      `--outage must be START_MINUTE:LENGTH_MINUTES with whole numbers and a length of at least 1, got "${v}"`,
    );
  }
  return [...previous, { startMinute: Number(m[1]), lengthMinutes: Number(m[2]) }];
}

function parseStartTime(v: string): number {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UserError(`--start-time must be an ISO 8601 time, got "${v}"`);
  return t;
}

/** A progress line on stderr: live on a terminal, otherwise at most one line every 10 s. */
export function progressReporter(label = 'simulating'): {
  onProgress: (f: number) => void;
  done: () => void;
} {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let last = started;
  let shown = false;
  return {
    onProgress: (f) => {
      const now = performance.now();
      const interval = tty ? 200 : 10_000;
      if (now - last < interval || f >= 1) return;
      last = now;
      const text = `${label}: ${(f * 100).toFixed(0)}% (${((now - started) / 1000).toFixed(1)} s)`;
      process.stderr.write(tty ? `\r${text}` : `${text}\n`);
      shown = true;
    },
    done: () => {
      if (tty && shown) process.stderr.write('\r\x1b[K');
    },
  };
}

interface SimulateCommandOptions {
  trace: string;
  policy: string;
  capacity: number;
  startupSeconds: number;
  format: string;
  plot?: string;
  outage?: Outage[];
  startTime?: number;
}

type SimulateCommandResult = ReturnType<typeof runSimulationFiles>;

function writePlot(file: string, result: SimulateCommandResult, o: SimulateCommandOptions): void {
  const svg = renderSvg(result.series, {
    title: `tidemark simulate: ${result.report.trace.file} (${o.capacity} req/min per replica, ${o.startupSeconds}s start-up)`,
    capacity: o.capacity,
    ...(o.outage ? { outages: o.outage } : {}),
    // The forecast is of the metric (requests per minute), the plot's own unit.
    ...(result.series.forecast
      ? {
          bands: [
            {
              label: 'tidemark forecast (lower–upper)',
              lower: result.series.forecast.lower,
              upper: result.series.forecast.upper,
            },
          ],
        }
      : {}),
  });
  try {
    writeFileSync(file, svg);
  } catch (err) {
    throw new UserError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

function runSimulateCommand(o: SimulateCommandOptions): void {
  if (o.format !== 'json' && o.format !== 'table') {
    throw new UserError(`--format must be json or table, got "${o.format}"`);
  }
  const progress = progressReporter();
  let result: SimulateCommandResult;
  try {
    result = runSimulationFiles({
      trace: o.trace,
      policy: o.policy,
      capacity: o.capacity,
      startupSeconds: o.startupSeconds,
      ...(o.outage ? { outages: o.outage } : {}),
      ...(o.startTime !== undefined ? { startTime: o.startTime } : {}),
      onProgress: progress.onProgress,
    });
  } finally {
    progress.done();
  }
  if (o.plot) writePlot(o.plot, result, o);
  process.stdout.write(
    o.format === 'json' ? `${JSON.stringify(result.report, null, 2)}\n` : formatTable(result.report),
  );
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description(
      'replay a per-minute request trace through the policy engine and the HPA, KEDA and oracle baselines',
    )
    .requiredOption('--trace <file.csv>', 'trace CSV with the header minute,requests')
    .requiredOption('--policy <file.yaml>', 'ScalingPolicy YAML (validated with the CRD schema)')
    .option(
      '--capacity <n>',
      'requests per minute one ready replica serves',
      positiveNumber('--capacity'),
      20,
    )
    .option(
      '--startup-seconds <s>',
      'seconds from requesting a replica until it is ready',
      nonNegativeInteger('--startup-seconds'),
      60,
    )
    .option('--format <format>', 'json or table', 'table')
    .option('--plot <file.svg>', 'also draw load, ready capacity and replicas over time as SVG')
    .option(
      '--outage <start:length>',
      'minutes during which the metric query returns no sample, e.g. 1000:30 (repeatable)',
      parseOutage,
    )
    .option(
      '--start-time <iso>',
      "wall-clock time of the trace's first minute, given to the engine",
      parseStartTime,
    )
    .action(runSimulateCommand);
}
