// One run's measurement: the window over which the figures are taken, and a whole run
// (set-up, operators, warm-up, window, tear-down).
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import type { RunSpec } from './config.ts';
import {
  apiLimit,
  HEAP_DIR,
  HEAP_SNAPSHOT,
  log,
  MEASURE_INTERVALS,
  PROMETHEUS_URL,
  sleep,
} from './config.ts';
import type { Window } from './figures.ts';
import { round } from './figures.ts';
import { type HeapBreakdown, snapshotBreakdown } from './heap.ts';
import { cpuSeconds, machineJiffies, sandboxPids, statusKiB } from './host.ts';
import type { Exporter } from './load.ts';
import { type Operator, scrapeAll, startOperators, stopOperator } from './operator.ts';
import { apiserverText, getText, parseSamples } from './samples.ts';
import { setUp, tearDown, warmUp } from './setup.ts';

export const scrapeApiserver = async () =>
  parseSamples(await apiserverText('/metrics'), [
    'apiserver_request_total',
    'apiserver_request_duration_seconds_bucket',
  ]);
export const scrapePrometheus = async () =>
  parseSamples(await getText(`${PROMETHEUS_URL}/metrics`), ['prometheus_http_requests_total']);

/** The window: /metrics fetched just outside it, so rendering 100k+ series is not counted as work. */
export async function measureWindow(spec: RunSpec, ops: Operator[]): Promise<Window> {
  const pids = sandboxPids();
  const sandboxCpu = () =>
    Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) ?? 0]));
  const api0 = await scrapeApiserver();
  const prom0 = await scrapePrometheus();
  const m0 = await scrapeAll(ops);
  const t0 = performance.now();
  const cpu0 = ops.map((op) => cpuSeconds(op.pid) ?? 0);
  const sb0 = sandboxCpu();
  const self0 = process.cpuUsage();
  const mach0 = machineJiffies();
  log(`${spec.label}: measuring ${MEASURE_INTERVALS * spec.intervalSeconds} s`);
  await sleep(MEASURE_INTERVALS * spec.intervalSeconds * 1000);
  const cpu1 = ops.map((op) => cpuSeconds(op.pid) ?? 0);
  const sb1 = sandboxCpu();
  const self1 = process.cpuUsage(self0);
  const mach1 = machineJiffies();
  const seconds = (performance.now() - t0) / 1000;
  const rss = ops.map((op) => ({
    peakRssKiB: statusKiB(op.pid, 'VmHWM') ?? 0,
    rssKiB: statusKiB(op.pid, 'VmRSS') ?? 0,
  }));
  const m1 = await scrapeAll(ops);
  const prom1 = await scrapePrometheus();
  const api1 = await scrapeApiserver();

  const sandboxCpuCores: Record<string, number> = {};
  for (const k of Object.keys(pids)) sandboxCpuCores[k] = round(((sb1[k] ?? 0) - (sb0[k] ?? 0)) / seconds, 3);
  sandboxCpuCores['bench (exporter)'] = round((self1.user + self1.system) / 1e6 / seconds, 3);
  return {
    seconds,
    ops: ops.map((_, i) => ({
      m0: m0[i]!,
      m1: m1[i]!,
      cpuCores: round((cpu1[i]! - cpu0[i]!) / seconds, 3),
      ...rss[i]!,
    })),
    api0,
    api1,
    prom0,
    prom1,
    sandboxCpuCores,
    machineBusyCores: round(
      ((mach1.busy - mach0.busy) / (mach1.total - mach0.total)) * os.availableParallelism(),
      2,
    ),
  };
}

/** What a run measured, for its result to be built from. */
export interface Run {
  spec: RunSpec;
  ops: Operator[];
  limit: { qps: number; burst: number };
  loadAverageBefore: number[];
  createSeconds: number;
  warmupSeconds: number;
  window: Window;
  /** Per operator, its heap at the window's end (undefined: not taken, or it did not finish). */
  heap: Array<HeapBreakdown | undefined>;
  notes: string[];
}

/**
 * One operator after the other, after the window and its RSS readings (a snapshot doubles a
 * process's memory while it is written, and pauses it).
 */
async function heapBreakdowns(spec: RunSpec, ops: Operator[]): Promise<Array<HeapBreakdown | undefined>> {
  if (!HEAP_SNAPSHOT) return ops.map(() => undefined);
  mkdirSync(HEAP_DIR, { recursive: true });
  const out: Array<HeapBreakdown | undefined> = [];
  for (const op of ops) {
    const t0 = performance.now();
    const b = await snapshotBreakdown(op.pid, HEAP_DIR).catch((err: unknown) => {
      log(`${spec.label}: heap snapshot of ${op.pid} failed: ${String(err)}`);
      return undefined;
    });
    log(
      `${spec.label}: heap of ${op.pid}: ${b ? `${b.liveMiB} MiB live` : 'none'} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
    out.push(b);
  }
  return out;
}

/** Set up, start, warm up, measure, then `build` the result while the operators still run; always cleans up. */
export async function runOnce<T>(
  spec: RunSpec,
  exporter: Exporter,
  build: (r: Run) => Promise<T>,
): Promise<T> {
  const loadAverageBefore = os.loadavg().map((x) => round(x, 2));
  log(`${spec.label}: load average ${loadAverageBefore.join(' ')}; creating namespace ${spec.ns}`);
  try {
    const createSeconds = await setUp(spec, exporter);
    const start = performance.now();
    const ops = await startOperators(spec);
    try {
      const notes: string[] = [];
      await warmUp(spec, ops, notes);
      const warmupSeconds = (performance.now() - start) / 1000;
      log(`${spec.label}: warm after ${warmupSeconds.toFixed(0)} s`);
      const window = await measureWindow(spec, ops);
      const heap = await heapBreakdowns(spec, ops);
      const limit = apiLimit(spec.policies, spec.intervalSeconds);
      return await build({
        spec,
        ops,
        limit,
        loadAverageBefore,
        createSeconds,
        warmupSeconds,
        window,
        heap,
        notes,
      });
    } finally {
      await Promise.all(ops.map(stopOperator));
      log(`${spec.label}: operator(s) stopped`);
    }
  } finally {
    await tearDown(spec);
  }
}
