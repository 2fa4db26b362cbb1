// The operator under test: `bin/tidemark.js run` as child processes, and their /metrics.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sandboxRunArgs } from '../operator-args.ts';
import type { RunSpec } from './config.ts';
import {
  apiLimit,
  HEAP_DIR,
  MAX_TICKS,
  NODE,
  OPERATOR_NODE_OPTIONS,
  PROMETHEUS_URL,
  REPO,
  SANDBOX_DIR,
  sleep,
} from './config.ts';
import { getText, parseSamples, type Sample, sum, waitFor } from './samples.ts';

export interface Operator {
  proc: ChildProcess;
  pid: number;
  port: number;
  exited: Promise<void>;
  /** Its --identity when it is a sharding member. */
  identity?: string;
}

export interface OperatorOptions {
  logFile: string;
  limit: { qps: number; burst: number };
  /** Set: a member with --sharding on, under a Lease name of its own so no single-leader run interferes. */
  identity?: string;
}

export function operatorArgs(o: OperatorOptions): string[] {
  return [
    '--disable-warning=ExperimentalWarning',
    // A snapshot on SIGUSR2 (bench/scale/heap.ts); no cost until the signal comes.
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${HEAP_DIR}`,
    ...OPERATOR_NODE_OPTIONS,
    join(REPO, 'bin/tidemark.js'),
    ...sandboxRunArgs(PROMETHEUS_URL),
    '--lease-name',
    o.identity ? 'tidemark-scale-bench-sharded' : 'tidemark-scale-bench',
    '--max-concurrent-ticks',
    String(MAX_TICKS),
    '--kube-api-qps',
    String(o.limit.qps),
    '--kube-api-burst',
    String(o.limit.burst),
    ...(o.identity ? ['--sharding', 'on', '--identity', o.identity] : []),
  ];
}

/**
 * The NODE_OPTIONS the install manifests give the operator (deploy/base/deployment.yaml): the
 * benchmark runs it with the V8 heap settings it is deployed with, read from there so they
 * cannot drift apart.
 */
export function deployedNodeOptions(): string {
  const yaml = readFileSync(join(REPO, 'deploy/base/deployment.yaml'), 'utf8');
  const m = /- name: NODE_OPTIONS\n\s+value: (.+)\n/.exec(yaml);
  if (!m) throw new Error('deploy/base/deployment.yaml sets no NODE_OPTIONS');
  return m[1]!.trim();
}

export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const proc = spawn(NODE, operatorArgs(o), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: deployedNodeOptions() },
  });
  const out = createWriteStream(o.logFile);
  let port: number | undefined;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    out.write(`${line}\n`);
    if (port === undefined && line.includes('operator starting')) {
      try {
        port = (JSON.parse(line) as { metricsPort?: number }).metricsPort;
      } catch {}
    }
  });
  proc.stderr!.on('data', (d: Buffer) => out.write(d));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const op = { proc, pid: proc.pid!, port: 0, exited, ...(o.identity ? { identity: o.identity } : {}) };
  try {
    op.port = await waitFor(
      'the operator to start',
      60_000,
      async () => {
        if (proc.exitCode !== null)
          throw new Error(`the operator exited (${proc.exitCode}): see ${o.logFile}`);
        return port;
      },
      100,
    );
  } catch (err) {
    await stopOperator(op);
    throw err;
  }
  return op;
}

export async function stopOperator(op: Pick<Operator, 'proc' | 'exited'>): Promise<void> {
  if (op.proc.exitCode !== null || op.proc.signalCode !== null) return;
  op.proc.kill('SIGTERM');
  const done = await Promise.race([op.exited.then(() => true), sleep(40_000).then(() => false)]);
  if (!done) {
    op.proc.kill('SIGKILL');
    await op.exited;
  }
}

/** The run's operators, started together (a sharding group joins at once); none is left behind on a failure. */
export async function startOperators(spec: RunSpec): Promise<Operator[]> {
  // Sized for the whole set, not a share: until the members see each other one may own it all.
  const limit = apiLimit(spec.policies, spec.intervalSeconds);
  const started = await Promise.allSettled(
    Array.from({ length: spec.replicas }, (_, i) =>
      startOperator({
        logFile: join(SANDBOX_DIR, 'logs', `operator-${spec.ns}-${i}.log`),
        limit,
        // The bench's pid in it: a member Lease left by an earlier, killed run is never taken for a live one.
        ...(spec.sharded ? { identity: `scale-bench-${process.pid}-${i}` } : {}),
      }),
    ),
  );
  const ops = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(ops.map(stopOperator));
    throw failed.reason;
  }
  return ops;
}

export const OP_FAMILIES = [
  'tidemark_tick_duration_seconds',
  'tidemark_status_writes_total',
  'tidemark_prometheus_query_duration_seconds',
  'tidemark_prometheus_query_errors_total',
  'tidemark_policies_watched',
  'tidemark_leader',
  'tidemark_shard_policies',
  'tidemark_shard_members',
  'tidemark_scaling_actions_total',
  'tidemark_decisions_total',
  'tidemark_metric_errors_total',
  'tidemark_api_requests_total',
  'tidemark_api_throttle_wait_seconds',
  // The process's own (prom-client defaults): where the resident memory goes.
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
];

export interface Scrape {
  samples: Sample[];
  bytes: number;
  ms: number;
}

export async function operatorSamples(op: Operator): Promise<Scrape> {
  const t0 = performance.now();
  const text = await getText(`http://127.0.0.1:${op.port}/metrics`);
  return { samples: parseSamples(text, OP_FAMILIES), bytes: text.length, ms: performance.now() - t0 };
}

export const scrapeAll = (ops: Operator[]) => Promise.all(ops.map(operatorSamples));
export const total = (scrapes: Scrape[], name: string, match?: (l: Record<string, string>) => boolean) =>
  scrapes.reduce((a, s) => a + sum(s.samples, name, match), 0);
