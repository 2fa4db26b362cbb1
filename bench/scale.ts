// `make bench-scale`: the operator at 1,000, 5,000 and 10,000 ScalingPolicies (issue 7, item 4).
//
// Runs inside a sandbox (sandbox/with-sandbox.sh sources its env.sh). For each size N:
//   1. a fresh namespace with N targets and N policies, created through the API with bounded
//      concurrency; every policy queries its own Prometheus series, served by a static exporter
//      in this process and registered through the sandbox's file_sd directory;
//   2. the operator (`bin/tidemark.js run`) as a child process, 15 s polling interval;
//   3. after a warm-up (every policy has ticked and written its first status), a window of a few
//      intervals in which the metric values do not move, so an operator that writes nothing when
//      nothing changed shows zero status writes and zero scaling actions;
//   4. figures over the window: operator CPU (/proc/<pid>/stat) and peak RSS (VmHWM), tick
//      latency (tidemark_tick_duration_seconds: due time to decision), Prometheus queries/s (its
//      own prometheus_http_requests_total), API server requests/s by verb and resource
//      (apiserver_request_total), status writes, and the CPU of every sandbox process, so that
//      where the sandbox is the limit it shows;
//   5. the operator is stopped and the namespace deleted before the next size.
//
// Then one sharded run (--sharded, SCALE_SHARDED, "3x5000@60": 3 replicas, 5,000 policies, 60 s
// polling; "none" or empty skips it): the same set-up at that interval, R operators with
// `--sharding on` (docs/sharding.md), each a member of one group under its own --identity, and
// the same window, with figures per replica (CPU, peak RSS, owned policies from
// tidemark_shard_policies, ticks run vs due for its share, tick p50/p99) and totals. The owned
// shares are checked against the hash of the policies' real uids (src/operator/shards.ts): every
// policy owned by exactly one replica. scale.md then projects the per-replica figures to 100,000
// policies (bench/projection.ts; a projection, not a measurement).
//
// Targets: by default a tiny custom resource with a scale subresource (kind Widget), not a
// Deployment. The operator does the same work for both (discovery, GET and PATCH of `scale`),
// but 10,000 one-replica Deployments mean 10,000 ReplicaSets and Pods as well: the sandbox's 3
// KWOK nodes hold 110 pods each, and on 2 cores the controller-manager, scheduler and KWOK churn
// would be measured instead of the operator. `--target deployment` (SCALE_TARGET) uses
// Deployments for small sizes (raise TIDEMARK_NODES: N/110 nodes).
//
// --max-concurrent-ticks is 256, not the operator's default 32: ticks wait on I/O (the PromQL
// query; the target comes from a watch), so throughput is about slots / tick latency, and
// 10,000 policies at 15 s need 667 ticks/s; with 32 slots each tick would have to finish in
// 48 ms on a loaded 2-core machine (at 2,000 policies with 32 slots the queue never drained).
//
// Options (flags or environment): --sizes (SCALE_SIZES, "1000,5000,10000"), --target
// (SCALE_TARGET, widget|deployment), --interval (SCALE_INTERVAL_SECONDS, 15), --measure-intervals
// (SCALE_MEASURE_INTERVALS, 4), --max-concurrent-ticks (SCALE_MAX_CONCURRENT_TICKS, 256),
// --create-concurrency (SCALE_CREATE_CONCURRENCY, 32), --sharded (SCALE_SHARDED), --out (SCALE_OUT, bench/results),
// --kube-api-qps / --kube-api-burst (SCALE_KUBE_API_QPS / _BURST): the operator's client-side API
// limit; by default two requests per policy per interval, at least the operator's own 50/100.
// In steady state a policy that changes nothing sends nothing (targets come from watches); the
// limit is sized for the warm-up, where every policy writes its first status, so the figures
// show the operator under its limit rather than starved by it.
// With a smaller QPS the "API client" line shows the requests/s staying under it and the waits.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import {
  httpTransport,
  isAlreadyExists,
  isNotFound,
  type KubeTransport,
  listPages,
} from '../src/kube/api-client.ts';
import { ownerOf } from '../src/operator/shards.ts';
// The storage version: a v1alpha1 write would go through the conversion webhook, which is
// not what a user of this release sends, and would load the sandbox's webhook besides.
import { POLICY_API_VERSION } from '../src/reconciler/reconciler.ts';
import {
  type Projection,
  parseShardedSpec,
  project,
  type ShardedMeasurement,
  type ShardedSpec,
} from './projection.ts';

const REPO = resolve(import.meta.dirname, '..');
const env = (name: string, fallback: string) => process.env[name] || fallback;
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: env('SCALE_SIZES', '1000,5000,10000') },
    target: { type: 'string', default: env('SCALE_TARGET', 'widget') },
    interval: { type: 'string', default: env('SCALE_INTERVAL_SECONDS', '15') },
    'measure-intervals': { type: 'string', default: env('SCALE_MEASURE_INTERVALS', '4') },
    'max-concurrent-ticks': { type: 'string', default: env('SCALE_MAX_CONCURRENT_TICKS', '256') },
    'create-concurrency': { type: 'string', default: env('SCALE_CREATE_CONCURRENCY', '32') },
    out: { type: 'string', default: env('SCALE_OUT', 'bench/results') },
    // Not env(): an empty SCALE_SHARDED means no sharded run, not the default.
    sharded: { type: 'string', default: process.env.SCALE_SHARDED ?? '3x5000@60' },
    'kube-api-qps': { type: 'string', default: env('SCALE_KUBE_API_QPS', '') },
    'kube-api-burst': { type: 'string', default: env('SCALE_KUBE_API_BURST', '') },
  },
});
const SIZES = args.sizes
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
if (SIZES.length === 0) throw new Error(`--sizes: no positive integer in "${args.sizes}"`);
const TARGET = args.target === 'deployment' ? 'deployment' : 'widget';
const INTERVAL_S = Number(args.interval);
const MEASURE_INTERVALS = Number(args['measure-intervals']);
const SHARDED = parseShardedSpec(args.sharded);
/** The size the projection is made for (issue: "the projection to 100,000 policies"). */
const PROJECTED_POLICIES = 100_000;
const MAX_TICKS = Number(args['max-concurrent-ticks']);
const WARMUP_INTERVALS = 12;
/** The operator's --kube-api-qps/--kube-api-burst at n policies (see the header). */
function apiLimit(n: number, intervalSeconds: number): { qps: number; burst: number } {
  const qps = Number(args['kube-api-qps']) || Math.max(50, Math.ceil((2 * n) / intervalSeconds));
  return { qps, burst: Number(args['kube-api-burst']) || Math.max(100, 2 * qps) };
}
const CREATE_CONCURRENCY = Number(args['create-concurrency']);
const OUT = args.out;

// Goals at 10,000 policies (issue 7).
const GOALS = { policies: 10_000, cpuCores: 1, rssMiB: 512, p99Seconds: 2, statusWrites: 0 };

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through \`make bench-scale\` (sandbox/with-sandbox.sh)`);
  return v;
}
const SANDBOX_DIR = required('SANDBOX_DIR');
const PROMETHEUS_URL = required('PROMETHEUS_URL').replace(/\/$/, '');
const TARGETS_DIR = required('TIDEMARK_SCRAPE_TARGETS_DIR');
const KUBECTL = env('KUBECTL', 'kubectl');
const NODE = join(REPO, 'node_modules/.bin/node');

const kc = new KubeConfig();
kc.loadFromDefault();
// The operator's own keep-alive transport (client-node's KubeConfig for the credentials):
// client-node's generated clients open a new TLS connection per call, and 20,000 handshakes
// would load the API server on 2 cores more than the creates themselves.
const kube: KubeTransport = httpTransport(kc, { maxSockets: CREATE_CONCURRENCY });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) =>
  process.stderr.write(`[scale] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

// --- machine and process figures ------------------------------------------------------

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {}
  return {
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
  };
}

/** CPU seconds (user + system) of a process; undefined when it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** The sandbox's processes, from the PID files env-up.sh writes. */
function sandboxPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kwok',
    'workload',
    'prometheus',
  ]) {
    try {
      const pid = Number(readFileSync(join(SANDBOX_DIR, 'pids', `${c}.pid`), 'utf8').split(' ')[0]);
      if (pid > 0) out[c] = pid;
    } catch {}
  }
  return out;
}

// --- Prometheus text format -------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the named families (and their _bucket/_count/_sum), skipping every other line. */
function parseSamples(text: string, prefixes: string[]): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !prefixes.some((p) => line.startsWith(p))) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (samples: Sample[], name: string, match: (l: Record<string, string>) => boolean = () => true) =>
  samples.filter((s) => s.name === name && match(s.labels)).reduce((a, s) => a + s.value, 0);

/** Quantile from cumulative histogram buckets, interpolated inside a bucket (as histogram_quantile). */
function quantile(q: number, buckets: Array<{ le: number; count: number }>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe; // beyond the last finite bucket: its bound
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** The buckets of a histogram over a window: the later scrape minus the earlier one. */
function histogramDelta(
  s0: Sample[],
  s1: Sample[],
  name: string,
  match: (l: Record<string, string>) => boolean = () => true,
): Array<{ le: number; count: number }> {
  const bucket = `${name}_bucket`;
  const les = [...new Set(s1.filter((s) => s.name === bucket && match(s.labels)).map((s) => s.labels.le!))];
  return les.map((le) => {
    const m = (l: Record<string, string>) => l.le === le && match(l);
    return {
      le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le),
      count: sum(s1, bucket, m) - sum(s0, bucket, m),
    };
  });
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

/** A raw GET to the API server (its /metrics is text, which the JSON transport does not parse). */
async function apiserverText(path: string): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(path, cluster.server);
  return new Promise((resolve, reject) => {
    const r = https.request(url, { ...opts, method: 'GET', timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        (res.statusCode ?? 0) < 300
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(new Error(`GET ${path}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`GET ${path} timed out`)));
    r.on('error', reject);
    r.end();
  });
}

async function promQuery(q: string): Promise<number | undefined> {
  const body = JSON.parse(await getText(`${PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(q)}`)) as {
    data?: { result?: Array<{ value?: [number, string] }> };
  };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 1000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- the series every policy reads --------------------------------------------------------

const EXPORTER_JOB = 'tidemark-scale-bench';
const SERIES = 'tidemark_bench_load';
/** Each policy's metric: 40 per replica against a target of 100 proposes 1 replica, its current count. */
const LOAD = 40;

class Exporter {
  #text = '';
  #server: Server;
  constructor() {
    this.#server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.#text);
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    return (this.#server.address() as AddressInfo).port;
  }
  /** Serves one constant series per policy of the namespace (built once: scrapes then cost nothing). */
  set(namespace: string, n: number) {
    const lines = [`# TYPE ${SERIES} gauge`];
    for (let i = 0; i < n; i++)
      lines.push(`${SERIES}{bench_namespace="${namespace}",policy="${name(i)}"} ${LOAD}`);
    this.#text = `${lines.join('\n')}\n`;
  }
  close() {
    this.#server.close();
  }
}

const name = (i: number) => `p-${String(i).padStart(5, '0')}`;

// --- objects ----------------------------------------------------------------------------------

const WIDGET_GROUP = 'scale.bench.tidemark.dev';
const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${WIDGET_GROUP}` },
  spec: {
    group: WIDGET_GROUP,
    scope: 'Namespaced',
    names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: {
          status: {},
          scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
        },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { replicas: { type: 'integer', minimum: 0 } } },
              status: { type: 'object', properties: { replicas: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

function targetOf(ns: string, i: number): { path: string; body: unknown; ref: Record<string, string> } {
  const n = `t-${String(i).padStart(5, '0')}`;
  if (TARGET === 'widget') {
    return {
      path: `/apis/${WIDGET_GROUP}/v1/namespaces/${ns}/widgets`,
      body: {
        apiVersion: `${WIDGET_GROUP}/v1`,
        kind: 'Widget',
        metadata: { name: n },
        spec: { replicas: 1 },
      },
      ref: { apiVersion: `${WIDGET_GROUP}/v1`, kind: 'Widget', name: n },
    };
  }
  const labels = { app: n };
  return {
    path: `/apis/apps/v1/namespaces/${ns}/deployments`,
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: n, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': '1s' } },
          spec: { containers: [{ name: 'app', image: 'fake' }] },
        },
      },
    },
    ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: n },
  };
}

function policyOf(ns: string, i: number, ref: Record<string, string>, intervalSeconds: number) {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'ScalingPolicy',
    metadata: { name: name(i) },
    spec: {
      targetRef: ref,
      minReplicas: 1,
      maxReplicas: 3,
      pollingIntervalSeconds: intervalSeconds,
      mode: 'Active',
      prometheus: { address: PROMETHEUS_URL },
      metrics: [
        {
          name: 'load',
          query: `${SERIES}{bench_namespace="${ns}",policy="${name(i)}"}`,
          target: { type: 'AverageValue', value: '100' },
        },
      ],
    },
  };
}

/** `fn`, tried again on a failure (a throttled request, a kept-alive socket the server had closed). */
async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(200 * 2 ** attempt);
    }
  }
}

/** Runs `fn(0..n-1)` with at most `limit` in flight, each with retries. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await withRetries(() => fn(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

const create = async (path: string, body: unknown) => {
  try {
    await kube({ method: 'POST', path, body });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
};

// --- the operator ---------------------------------------------------------------------------

interface Operator {
  proc: ChildProcess;
  pid: number;
  port: number;
  exited: Promise<void>;
  /** Its --identity when it is a sharding member. */
  identity?: string;
}

interface OperatorOptions {
  logFile: string;
  limit: { qps: number; burst: number };
  /** Set: a member with --sharding on, under a Lease name of its own so no single-leader run interferes. */
  identity?: string;
}

function operatorArgs(o: OperatorOptions): string[] {
  return [
    '--disable-warning=ExperimentalWarning',
    join(REPO, 'bin/tidemark.js'),
    'run',
    '--metrics-port',
    '0',
    '--metrics-host',
    '127.0.0.1',
    '--allowed-prometheus',
    PROMETHEUS_URL,
    '--leader-election-namespace',
    'default',
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

async function startOperator(o: OperatorOptions): Promise<Operator> {
  const proc = spawn(NODE, operatorArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
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

async function stopOperator(op: Pick<Operator, 'proc' | 'exited'>): Promise<void> {
  if (op.proc.exitCode !== null || op.proc.signalCode !== null) return;
  op.proc.kill('SIGTERM');
  const done = await Promise.race([op.exited.then(() => true), sleep(40_000).then(() => false)]);
  if (!done) {
    op.proc.kill('SIGKILL');
    await op.exited;
  }
}

/** The run's operators, started together (a sharding group joins at once); none is left behind on a failure. */
async function startOperators(spec: RunSpec): Promise<Operator[]> {
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

const OP_FAMILIES = [
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
];

interface Scrape {
  samples: Sample[];
  bytes: number;
  ms: number;
}

async function operatorSamples(op: Operator): Promise<Scrape> {
  const t0 = performance.now();
  const text = await getText(`http://127.0.0.1:${op.port}/metrics`);
  return { samples: parseSamples(text, OP_FAMILIES), bytes: text.length, ms: performance.now() - t0 };
}

const scrapeAll = (ops: Operator[]) => Promise.all(ops.map(operatorSamples));
const total = (scrapes: Scrape[], name: string, match?: (l: Record<string, string>) => boolean) =>
  scrapes.reduce((a, s) => a + sum(s.samples, name, match), 0);

// --- one run: a namespace of policies and its operators ------------------------------------------

/** One size of the single-replica series, or the sharded run. */
interface RunSpec {
  label: string;
  ns: string;
  policies: number;
  replicas: number;
  intervalSeconds: number;
  sharded: boolean;
}

const sizeSpec = (n: number): RunSpec => ({
  label: `N=${n}`,
  ns: `scale-bench-${n}`,
  policies: n,
  replicas: 1,
  intervalSeconds: INTERVAL_S,
  sharded: false,
});

const shardedRunSpec = (s: ShardedSpec): RunSpec => ({
  label: `sharded ${s.replicas}x${s.policies}@${s.intervalSeconds}s`,
  ns: `scale-bench-sharded-${s.replicas}x${s.policies}`,
  policies: s.policies,
  replicas: s.replicas,
  intervalSeconds: s.intervalSeconds,
  sharded: true,
});

/** The namespace, its targets and policies, and their series in Prometheus; returns the seconds it took. */
async function setUp(spec: RunSpec, exporter: Exporter): Promise<number> {
  const { ns, policies: n, label } = spec;
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  if (TARGET === 'deployment') {
    await waitFor('the default ServiceAccount', 60_000, async () =>
      (await kube({ method: 'GET', path: `/api/v1/namespaces/${ns}/serviceaccounts/default` }))
        ? true
        : undefined,
    );
  }

  exporter.set(ns, n);
  const created0 = performance.now();
  const refs: Array<Record<string, string>> = [];
  await pool(n, CREATE_CONCURRENCY, async (i) => {
    const t = targetOf(ns, i);
    refs[i] = t.ref;
    await create(t.path, t.body);
  });
  log(`${label}: ${n} ${TARGET}s in ${((performance.now() - created0) / 1000).toFixed(1)} s`);
  await pool(n, CREATE_CONCURRENCY, (i) =>
    create(
      `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
      policyOf(ns, i, refs[i]!, spec.intervalSeconds),
    ),
  );
  const createSeconds = (performance.now() - created0) / 1000;
  log(`${label}: ${n} targets + ${n} policies in ${createSeconds.toFixed(1)} s`);

  await waitFor(`Prometheus to hold ${n} series of ${ns}`, 120_000, async () => {
    const c = await promQuery(`count(${SERIES}{bench_namespace="${ns}"})`);
    return c === n ? c : undefined;
  });
  return createSeconds;
}

async function tearDown(spec: RunSpec): Promise<void> {
  const { ns, label } = spec;
  log(`${label}: deleting namespace ${ns}`);
  const cleanup0 = performance.now();
  // Delete the policies and targets as collections first: quicker than the namespace
  // controller's one-by-one walk, and the next size starts on a quiet API server.
  for (const path of [
    `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
    TARGET === 'widget'
      ? `/apis/${WIDGET_GROUP}/v1/namespaces/${ns}/widgets`
      : `/apis/apps/v1/namespaces/${ns}/deployments`,
  ]) {
    await kube({ method: 'DELETE', path, timeoutMs: 600_000 }).catch((err: unknown) =>
      log(`delete ${path}: ${String(err)}`),
    );
  }
  await kube({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => {});
  await waitFor(
    `namespace ${ns} to go`,
    600_000,
    async () => {
      try {
        await kube({ method: 'GET', path: `/api/v1/namespaces/${ns}` });
        return undefined;
      } catch (err) {
        return isNotFound(err) ? true : undefined;
      }
    },
    2000,
  ).catch((err: unknown) => log(String(err)));
  log(`${label}: cleaned up in ${((performance.now() - cleanup0) / 1000).toFixed(0)} s`);
}

/**
 * Warm-up: the first ticks are spread over one interval, and each writes the first status.
 * Becoming leader (or a member) queues every policy at once (a quick failover), and each first
 * tick writes the first status: warm once every policy has written it and the queue has
 * drained, that is the last interval ran as many ticks as were due in it, ±5 % (at most
 * WARMUP_INTERVALS). Over every operator of the run: a sharding group's sums.
 */
async function warmUp(spec: RunSpec, ops: Operator[], notes: string[]): Promise<void> {
  const { policies: n, label } = spec;
  await waitFor(
    `${ops.length} operator(s) to act and watch ${n} policies`,
    300_000,
    async () => {
      const scrapes = await scrapeAll(ops);
      const acting = scrapes.every(
        (s) => sum(s.samples, 'tidemark_leader') === 1 && sum(s.samples, 'tidemark_policies_watched') === n,
      );
      const owned = !spec.sharded || total(scrapes, 'tidemark_shard_policies') === n;
      return acting && owned ? true : undefined;
    },
    2000,
  );
  await sleep(spec.intervalSeconds * 1000);
  let prev = await scrapeAll(ops);
  let prevAt = performance.now();
  for (let i = 0; i < WARMUP_INTERVALS; i++) {
    await sleep(spec.intervalSeconds * 1000);
    const cur = await scrapeAll(ops);
    let written = total(cur, 'tidemark_status_writes_total', (l) => l.outcome === 'written');
    const ticks =
      total(cur, 'tidemark_tick_duration_seconds_count') -
      total(prev, 'tidemark_tick_duration_seconds_count');
    // Scraping a loaded operator takes seconds: the ticks due are those of the time that passed.
    const due = (n * (performance.now() - prevAt)) / 1000 / spec.intervalSeconds;
    prev = cur;
    prevAt = performance.now();
    // A write abandoned at its deadline may still have landed (the operator then finds the
    // status in place and does not write it again): ask the API server which have one.
    if (written < n) written = await policiesWithStatus(spec.ns);
    // Below 0.95 of the due ticks the operator is not keeping up (a queue is growing), above
    // 1.05 it is draining one.
    if (written >= n && ticks >= 0.95 * due && ticks <= 1.05 * due) return;
    log(
      `${label}: warm-up: ${written}/${n} policies with a status, ${ticks} ticks in the last ${round(due / n, 1)} intervals`,
    );
  }
  notes.push(
    `not settled after ${WARMUP_INTERVALS} warm-up intervals: ticks per interval never matched the ${n} due`,
  );
}

/** How many policies of the namespace have a status (Ready set), listed in pages. */
async function policiesWithStatus(ns: string): Promise<number> {
  type Policy = { status?: { conditions?: unknown[] } };
  let count = 0;
  const path = `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`;
  for await (const page of listPages<Policy>(kube, path, 1000, 60_000)) {
    count += page.items.filter((p) => p.status?.conditions?.length).length;
  }
  return count;
}

/** One operator over the window. */
interface OperatorWindow {
  m0: Scrape;
  m1: Scrape;
  cpuCores: number;
  peakRssKiB: number;
  rssKiB: number;
}

interface Window {
  seconds: number;
  ops: OperatorWindow[];
  api0: Sample[];
  api1: Sample[];
  prom0: Sample[];
  prom1: Sample[];
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
}

const scrapeApiserver = async () =>
  parseSamples(await apiserverText('/metrics'), [
    'apiserver_request_total',
    'apiserver_request_duration_seconds_bucket',
  ]);
const scrapePrometheus = async () =>
  parseSamples(await getText(`${PROMETHEUS_URL}/metrics`), ['prometheus_http_requests_total']);

/** The window: /metrics fetched just outside it, so rendering 100k+ series is not counted as work. */
async function measureWindow(spec: RunSpec, ops: Operator[]): Promise<Window> {
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
interface Run {
  spec: RunSpec;
  ops: Operator[];
  limit: { qps: number; burst: number };
  loadAverageBefore: number[];
  createSeconds: number;
  warmupSeconds: number;
  window: Window;
  notes: string[];
}

/** Set up, start, warm up, measure, then `build` the result while the operators still run; always cleans up. */
async function runOnce<T>(spec: RunSpec, exporter: Exporter, build: (r: Run) => Promise<T>): Promise<T> {
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
      const limit = apiLimit(spec.policies, spec.intervalSeconds);
      return await build({
        spec,
        ops,
        limit,
        loadAverageBefore,
        createSeconds,
        warmupSeconds,
        window,
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

// --- figures of a window ---------------------------------------------------------------------------

/** The change of an operator's counter over the window. */
const delta = (w: OperatorWindow, name: string, match?: (l: Record<string, string>) => boolean) =>
  sum(w.m1.samples, name, match) - sum(w.m0.samples, name, match);

interface TickFigures {
  count: number;
  expected: number;
  p50Seconds: number | null;
  p99Seconds: number | null;
  within2s: number | null;
  maxBucket: string;
}

/** Ticks of one operator that reached a decision in the window, against the `due` it should have run. */
function tickFigures(w: OperatorWindow, due: number): TickFigures {
  const buckets = histogramDelta(w.m0.samples, w.m1.samples, 'tidemark_tick_duration_seconds');
  const count = delta(w, 'tidemark_tick_duration_seconds_count');
  const within2 = buckets.find((b) => b.le === 2)?.count;
  const maxBucket =
    buckets
      .filter((b, i, all) => b.count > (i > 0 ? (all[i - 1]?.count ?? 0) : 0))
      .map((b) => (Number.isFinite(b.le) ? `≤${b.le}s` : '>30s'))
      .at(-1) ?? 'none';
  return {
    count,
    expected: Math.round(due),
    p50Seconds: nullable(quantile(0.5, buckets), 3),
    p99Seconds: nullable(quantile(0.99, buckets), 3),
    within2s: within2 === undefined || count === 0 ? null : round(within2 / count, 5),
    maxBucket,
  };
}

/** Prometheus and API server load over the window: every client's, the operators' among them. */
function clusterFigures(w: Window) {
  const promD = (match: (l: Record<string, string>) => boolean) =>
    sum(w.prom1, 'prometheus_http_requests_total', match) -
    sum(w.prom0, 'prometheus_http_requests_total', match);
  const queries = promD((l) => l.handler === '/api/v1/query' || l.handler === '/api/v1/query_range');
  const apiKey = (l: Record<string, string>) => `${l.verb}|${l.resource ?? ''}|${l.subresource ?? ''}`;
  const apiDelta = new Map<string, number>();
  for (const [samples, sign] of [
    [w.api1, 1],
    [w.api0, -1],
  ] as const) {
    for (const s of samples)
      if (s.name === 'apiserver_request_total')
        apiDelta.set(apiKey(s.labels), (apiDelta.get(apiKey(s.labels)) ?? 0) + sign * s.value);
  }
  const byVerb: Record<string, number> = {};
  let apiTotal = 0;
  let leases = 0;
  for (const [k, v] of apiDelta) {
    const [verb = '', resource = ''] = k.split('|');
    byVerb[verb] = (byVerb[verb] ?? 0) + v / w.seconds;
    apiTotal += v;
    if (resource === 'leases') leases += v;
  }
  // Our own two /metrics GETs are in the window's deltas: not the operator's load.
  const top = [...apiDelta]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => {
      const [verb = '', resource = '', subresource = ''] = k.split('|');
      return { verb, resource, subresource, perSecond: round(v / w.seconds, 2) };
    });
  // Server-side latency of the operator's reads of the targets' scale (excludes the client's queueing).
  const isScaleGet = (l: Record<string, string>) => l.verb === 'GET' && l.subresource === 'scale';
  const scaleBuckets = histogramDelta(w.api0, w.api1, 'apiserver_request_duration_seconds', isScaleGet);
  return {
    prometheusQueriesPerSecond: round(queries / w.seconds, 1),
    apiserver: {
      requestsPerSecond: round(apiTotal / w.seconds, 1),
      leaseRequestsPerSecond: round(leases / w.seconds, 2),
      byVerb: Object.fromEntries(Object.entries(byVerb).map(([k, v]) => [k, round(v, 2)])),
      top,
      getScaleP50Seconds: nullable(quantile(0.5, scaleBuckets), 3),
      getScaleP99Seconds: nullable(quantile(0.99, scaleBuckets), 3),
    },
  };
}

/** Notes on a window the figures should be read with. */
function windowNotes(w: Window, ticks: number, due: number): string[] {
  const notes: string[] = [];
  if (ticks < 0.95 * due) {
    notes.push(
      `only ${ticks} of ~${Math.round(due)} due ticks reached a decision: ticks were skipped or failed`,
    );
  }
  if (w.machineBusyCores > 0.9 * os.availableParallelism()) {
    notes.push(
      `the machine was saturated (${w.machineBusyCores} of ${os.availableParallelism()} cores busy)`,
    );
  }
  return notes;
}

const sandboxTotal = (w: { sandboxCpuCores: Record<string, number> }) =>
  round(
    Object.values(w.sandboxCpuCores).reduce((a, b) => a + b, 0),
    2,
  );

// --- one size of the single-replica series ---------------------------------------------------------

interface SizeResult {
  policies: number;
  target: string;
  loadAverageBefore: number[];
  createSeconds: number;
  createPerSecond: number;
  warmupSeconds: number;
  windowSeconds: number;
  operator: {
    cpuCores: number;
    peakRssMiB: number;
    rssMiB: number;
    metricsScrapeMs: number;
    metricsBytes: number;
    /** At the window's end: V8 heap used and reserved, and memory outside it (buffers), MiB. */
    heapUsedMiB: number | null;
    heapTotalMiB: number | null;
    externalMiB: number | null;
  };
  ticks: TickFigures;
  prometheus: {
    queriesPerSecond: number;
    operatorQueriesPerSecond: number;
    queryErrors: number;
    queryP50Seconds: number | null;
    queryP99Seconds: number | null;
  };
  apiserver: ReturnType<typeof clusterFigures>['apiserver'];
  statusWrites: { warmup: number; window: number };
  /** The operator's own API requests (tidemark_api_requests_total) against its client-side limit. */
  apiClient: {
    qps: number;
    burst: number;
    requestsPerSecond: number;
    warmupRequestsPerSecond: number;
    clientWaits: number;
    clientWaitSeconds: number;
    http429: number;
  };
  scalingActions: number;
  metricErrors: number;
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
  notes: string[];
}

/** The operator's V8 heap and external memory from its /metrics (MiB), null when not exported. */
function memoryOf(samples: Sample[]) {
  const mib = (name: string) => {
    const v = samples.find((x) => x.name === name)?.value;
    return v === undefined ? null : round(v / 2 ** 20, 0);
  };
  return {
    heapUsedMiB: mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
  };
}

const runSize = (n: number, exporter: Exporter) => runOnce(sizeSpec(n), exporter, async (r) => sizeResult(r));

function sizeResult(r: Run): SizeResult {
  const { spec, window: w } = r;
  const n = spec.policies;
  const op = w.ops[0]!;
  const d = (name: string, match?: (l: Record<string, string>) => boolean) => delta(op, name, match);
  const queryBuckets = histogramDelta(
    op.m0.samples,
    op.m1.samples,
    'tidemark_prometheus_query_duration_seconds',
  );
  const ticks = tickFigures(op, (n * w.seconds) / spec.intervalSeconds);
  const cluster = clusterFigures(w);
  const result: SizeResult = {
    policies: n,
    target: TARGET,
    loadAverageBefore: r.loadAverageBefore,
    createSeconds: round(r.createSeconds, 1),
    createPerSecond: round((2 * n) / r.createSeconds, 0),
    warmupSeconds: round(r.warmupSeconds, 0),
    windowSeconds: round(w.seconds, 1),
    operator: {
      cpuCores: op.cpuCores,
      peakRssMiB: round(op.peakRssKiB / 1024, 0),
      rssMiB: round(op.rssKiB / 1024, 0),
      metricsScrapeMs: round(op.m1.ms, 0),
      metricsBytes: op.m1.bytes,
      ...memoryOf(op.m1.samples),
    },
    ticks,
    prometheus: {
      queriesPerSecond: cluster.prometheusQueriesPerSecond,
      operatorQueriesPerSecond: round(d('tidemark_prometheus_query_duration_seconds_count') / w.seconds, 1),
      queryErrors: d('tidemark_prometheus_query_errors_total'),
      queryP50Seconds: nullable(quantile(0.5, queryBuckets), 3),
      queryP99Seconds: nullable(quantile(0.99, queryBuckets), 3),
    },
    apiserver: cluster.apiserver,
    statusWrites: {
      warmup: sum(op.m0.samples, 'tidemark_status_writes_total'),
      window: d('tidemark_status_writes_total'),
    },
    apiClient: {
      ...r.limit,
      requestsPerSecond: round(d('tidemark_api_requests_total') / w.seconds, 1),
      warmupRequestsPerSecond: round(sum(op.m0.samples, 'tidemark_api_requests_total') / r.warmupSeconds, 1),
      clientWaits: d('tidemark_api_throttle_wait_seconds_count', (l) => l.source === 'client'),
      clientWaitSeconds: round(
        d('tidemark_api_throttle_wait_seconds_sum', (l) => l.source === 'client'),
        1,
      ),
      http429: d('tidemark_api_requests_total', (l) => l.code === '429'),
    },
    scalingActions: d('tidemark_scaling_actions_total'),
    metricErrors: d('tidemark_metric_errors_total'),
    sandboxCpuCores: w.sandboxCpuCores,
    machineBusyCores: w.machineBusyCores,
    notes: [...r.notes, ...windowNotes(w, ticks.count, ticks.expected)],
  };
  log(
    `N=${n}: operator ${result.operator.cpuCores} cores, peak ${result.operator.peakRssMiB} MiB; ` +
      `ticks ${ticks.count}/${ticks.expected} p50 ${ticks.p50Seconds} s p99 ${ticks.p99Seconds} s; ` +
      `status writes ${result.statusWrites.window}; sandbox ${sandboxTotal(w)} cores; machine ${w.machineBusyCores} cores busy`,
  );
  return result;
}

// --- the sharded run -------------------------------------------------------------------------------

interface ReplicaResult {
  identity: string;
  /** tidemark_shard_policies at the end of the window. */
  ownedPolicies: number;
  /** What the hash gives this identity over the policies' real uids and all the run's members. */
  expectedPolicies: number;
  membersSeen: number;
  cpuCores: number;
  peakRssMiB: number;
  ticks: TickFigures;
  statusWrites: number;
  apiRequestsPerSecond: number;
  prometheusQueriesPerSecond: number;
}

interface ShardedResult {
  replicas: number;
  policies: number;
  intervalSeconds: number;
  target: string;
  loadAverageBefore: number[];
  createSeconds: number;
  warmupSeconds: number;
  windowSeconds: number;
  perReplica: ReplicaResult[];
  ownership: {
    sum: number;
    /** Every policy owned by exactly one replica: the owned shares sum to N, each is the hash's, each replica sees all. */
    exactlyOnce: boolean;
    fairShare: number;
    min: number;
    max: number;
    minOfFair: number;
    maxOfFair: number;
  };
  totals: {
    operatorCpuCores: number;
    prometheusQueriesPerSecond: number;
    apiserver: ReturnType<typeof clusterFigures>['apiserver'];
    statusWritesWindow: number;
    scalingActions: number;
    ticks: number;
    ticksDue: number;
  };
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
  notes: string[];
}

async function policyUids(ns: string): Promise<string[]> {
  // After the quiet window the transport's kept-alive socket may have been closed by the server.
  const list = (await withRetries(() =>
    kube({
      method: 'GET',
      path: `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
      timeoutMs: 120_000,
    }),
  )) as { items?: Array<{ metadata?: { uid?: string } }> };
  return (list.items ?? []).flatMap((p) => (p.metadata?.uid ? [p.metadata.uid] : []));
}

const runSharded = (s: ShardedSpec, exporter: Exporter) =>
  runOnce(shardedRunSpec(s), exporter, async (r) => shardedResult(r, await policyUids(r.spec.ns)));

function replicaResult(r: Run, i: number, expected: number): ReplicaResult {
  const w = r.window.ops[i]!;
  const owned = sum(w.m1.samples, 'tidemark_shard_policies');
  return {
    identity: r.ops[i]!.identity ?? '',
    ownedPolicies: owned,
    expectedPolicies: expected,
    membersSeen: sum(w.m1.samples, 'tidemark_shard_members'),
    cpuCores: w.cpuCores,
    peakRssMiB: round(w.peakRssKiB / 1024, 0),
    ticks: tickFigures(w, (owned * r.window.seconds) / r.spec.intervalSeconds),
    statusWrites: delta(w, 'tidemark_status_writes_total'),
    apiRequestsPerSecond: round(delta(w, 'tidemark_api_requests_total') / r.window.seconds, 1),
    prometheusQueriesPerSecond: round(
      delta(w, 'tidemark_prometheus_query_duration_seconds_count') / r.window.seconds,
      1,
    ),
  };
}

function shardedResult(r: Run, uids: string[]): ShardedResult {
  const { spec, window: w } = r;
  const identities = r.ops.map((op) => op.identity ?? '');
  const expected = new Map(identities.map((id) => [id, 0]));
  for (const uid of uids) {
    const owner = ownerOf(uid, identities)!;
    expected.set(owner, (expected.get(owner) ?? 0) + 1);
  }
  const perReplica = r.ops.map((op, i) => replicaResult(r, i, expected.get(op.identity ?? '') ?? 0));
  const owned = perReplica.map((p) => p.ownedPolicies);
  const fairShare = spec.policies / spec.replicas;
  const ownedSum = owned.reduce((a, b) => a + b, 0);
  const cluster = clusterFigures(w);
  const ticks = perReplica.reduce((a, p) => a + p.ticks.count, 0);
  const ticksDue = perReplica.reduce((a, p) => a + p.ticks.expected, 0);
  const result: ShardedResult = {
    replicas: spec.replicas,
    policies: spec.policies,
    intervalSeconds: spec.intervalSeconds,
    target: TARGET,
    loadAverageBefore: r.loadAverageBefore,
    createSeconds: round(r.createSeconds, 1),
    warmupSeconds: round(r.warmupSeconds, 0),
    windowSeconds: round(w.seconds, 1),
    perReplica,
    ownership: {
      sum: ownedSum,
      exactlyOnce:
        ownedSum === spec.policies &&
        uids.length === spec.policies &&
        perReplica.every((p) => p.ownedPolicies === p.expectedPolicies && p.membersSeen === spec.replicas),
      fairShare: round(fairShare, 1),
      min: Math.min(...owned),
      max: Math.max(...owned),
      minOfFair: round(Math.min(...owned) / fairShare, 3),
      maxOfFair: round(Math.max(...owned) / fairShare, 3),
    },
    totals: {
      operatorCpuCores: round(
        perReplica.reduce((a, p) => a + p.cpuCores, 0),
        3,
      ),
      prometheusQueriesPerSecond: cluster.prometheusQueriesPerSecond,
      apiserver: cluster.apiserver,
      statusWritesWindow: perReplica.reduce((a, p) => a + p.statusWrites, 0),
      scalingActions: w.ops.reduce((a, o) => a + delta(o, 'tidemark_scaling_actions_total'), 0),
      ticks,
      ticksDue,
    },
    sandboxCpuCores: w.sandboxCpuCores,
    machineBusyCores: w.machineBusyCores,
    notes: [...r.notes, ...windowNotes(w, ticks, ticksDue)],
  };
  if (!result.ownership.exactlyOnce) {
    result.notes.push(
      `ownership is not exactly once: owned ${owned.join('/')} (sum ${ownedSum} of ${spec.policies}), ` +
        `the hash gives ${perReplica.map((p) => p.expectedPolicies).join('/')}, members seen ${perReplica.map((p) => p.membersSeen).join('/')}`,
    );
  }
  log(
    `${spec.label}: owned ${owned.join('/')} of ${spec.policies} (exactly once: ${result.ownership.exactlyOnce}); ` +
      `CPU ${perReplica.map((p) => p.cpuCores).join('/')} cores; peak RSS ${perReplica.map((p) => p.peakRssMiB).join('/')} MiB; ` +
      `ticks ${ticks}/${ticksDue}; Prometheus ${cluster.prometheusQueriesPerSecond} q/s; API server ${cluster.apiserver.requestsPerSecond} req/s; ` +
      `status writes ${result.totals.statusWritesWindow}; machine ${w.machineBusyCores} cores busy`,
  );
  return result;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
function nullable(x: number | undefined, digits: number): number | null {
  return x === undefined ? null : round(x, digits);
}

// --- versions -----------------------------------------------------------------------------------

async function versions() {
  const v: Record<string, string> = {};
  try {
    const kv = (await kube({ method: 'GET', path: '/version' })) as { gitVersion?: string };
    v.kubernetes = kv.gitVersion ?? 'unknown';
  } catch {}
  try {
    const b = JSON.parse(await getText(`${PROMETHEUS_URL}/api/v1/status/buildinfo`)) as {
      data?: { version?: string };
    };
    v.prometheus = b.data?.version ?? 'unknown';
  } catch {}
  try {
    const text = readFileSync(join(REPO, 'sandbox/versions.sh'), 'utf8');
    for (const k of ['ETCD_VERSION', 'KWOK_VERSION']) {
      const m = new RegExp(`^${k}=(\\S+)`, 'm').exec(text);
      if (m) v[k.replace('_VERSION', '').toLowerCase()] = m[1]!;
    }
  } catch {}
  const pkg = JSON.parse(
    readFileSync(join(REPO, 'node_modules/@kubernetes/client-node/package.json'), 'utf8'),
  ) as {
    version: string;
  };
  v['@kubernetes/client-node'] = pkg.version;
  v.node = process.version;
  return v;
}

// --- report ----------------------------------------------------------------------------------------

function growth(results: SizeResult[]) {
  const base = results[0]!;
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? null : round(a / b, 2);
  return results.map((r) => ({
    policies: r.policies,
    size: round(r.policies / base.policies, 2),
    operatorCpu: ratio(r.operator.cpuCores, base.operator.cpuCores),
    peakRss: ratio(r.operator.peakRssMiB, base.operator.peakRssMiB),
    p99: ratio(r.ticks.p99Seconds, base.ticks.p99Seconds),
    prometheusQps: ratio(r.prometheus.queriesPerSecond, base.prometheus.queriesPerSecond),
    apiserverRps: ratio(r.apiserver.requestsPerSecond, base.apiserver.requestsPerSecond),
  }));
}

function goals(results: SizeResult[]) {
  const at = results.find((r) => r.policies === GOALS.policies) ?? results.at(-1)!;
  const g = (ok: boolean, value: string, goal: string) => ({ met: ok, value, goal });
  return {
    evaluatedAt: at.policies,
    ...(at.policies !== GOALS.policies
      ? { caveat: `no ${GOALS.policies}-policy run: evaluated at ${at.policies}` }
      : {}),
    cpu: g(
      at.operator.cpuCores < GOALS.cpuCores,
      `${at.operator.cpuCores} cores`,
      `< ${GOALS.cpuCores} core`,
    ),
    memory: g(
      at.operator.peakRssMiB < GOALS.rssMiB,
      `${at.operator.peakRssMiB} MiB peak RSS`,
      `< ${GOALS.rssMiB} MiB`,
    ),
    p99: g(
      at.ticks.p99Seconds !== null &&
        at.ticks.p99Seconds < GOALS.p99Seconds &&
        (at.ticks.within2s ?? 0) >= 0.99,
      `${at.ticks.p99Seconds} s (${round((at.ticks.within2s ?? 0) * 100, 2)} % of ticks ≤ 2 s)`,
      `< ${GOALS.p99Seconds} s`,
    ),
    statusWrites: g(
      at.statusWrites.window === GOALS.statusWrites,
      `${at.statusWrites.window} in ${at.windowSeconds} s`,
      '0 when nothing changed',
    ),
  };
}

const row = (cells: Array<string | number | null>) =>
  `| ${cells.map((c) => (c === null ? '–' : String(c))).join(' | ')} |`;

/** Peak RSS per watched policy from the single-replica series (largest size vs smallest), if it grew. */
function rssSlope(results: SizeResult[]): { miBPerPolicy: number; from: string } | null {
  const sorted = [...results].sort((a, b) => a.policies - b.policies);
  const a = sorted[0];
  const b = sorted.at(-1);
  if (!a || !b || b.policies === a.policies) return null;
  const slope = (b.operator.peakRssMiB - a.operator.peakRssMiB) / (b.policies - a.policies);
  return slope > 0
    ? {
        miBPerPolicy: round(slope, 5),
        from: `single-replica peak RSS at ${a.policies} and ${b.policies} policies`,
      }
    : null;
}

function projectionOf(s: ShardedResult, results: SizeResult[]) {
  const basis: ShardedMeasurement = {
    policies: s.policies,
    replicas: s.replicas,
    intervalSeconds: s.intervalSeconds,
    cpuCoresPerReplica: round(s.totals.operatorCpuCores / s.replicas, 3),
    peakRssMiBPerReplica: Math.max(...s.perReplica.map((p) => p.peakRssMiB)),
    apiserverRequestsPerSecond: s.totals.apiserver.requestsPerSecond,
    apiserverLeaseRequestsPerSecond: s.totals.apiserver.leaseRequestsPerSecond,
    prometheusQueriesPerSecond: s.totals.prometheusQueriesPerSecond,
  };
  const slope = rssSlope(results);
  const intervals = [...new Set([s.intervalSeconds, 15])];
  return {
    basis,
    rssSlope: slope,
    at: intervals.map((intervalSeconds) =>
      project(
        basis,
        { policies: PROJECTED_POLICIES, intervalSeconds },
        slope?.miBPerPolicy ?? null,
        GOALS.cpuCores,
      ),
    ),
  };
}

function shardedMarkdown(report: Report): string[] {
  if (report.shardedFailed) {
    return ['## Sharded run', '', `${report.shardedFailed.spec} failed: ${report.shardedFailed.error}`, ''];
  }
  const s = report.sharded;
  if (!s) return [];
  const o = s.ownership;
  return [
    `## Sharded run: ${s.replicas} replicas × ${s.policies.toLocaleString('en')} policies at ${s.intervalSeconds} s`,
    '',
    `Every replica \`bin/tidemark.js run --sharding on --identity <its own>\` (docs/sharding.md), the same targets and policies as above but polled every ${s.intervalSeconds} s; ` +
      `warm-up ${s.warmupSeconds} s, window ${s.windowSeconds} s. Owned: \`tidemark_shard_policies\` at the end of the window; ` +
      `hash: what rendezvous hashing gives each identity over the policies' real uids.`,
    '',
    row([
      'replica',
      'owned policies',
      'hash',
      'members seen',
      'CPU (cores)',
      'peak RSS (MiB)',
      'ticks / due',
      'tick p50 (s)',
      'tick p99 (s)',
      'Prometheus queries/s',
      'API requests/s',
      'status writes',
    ]),
    row(Array(12).fill('---')),
    ...s.perReplica.map((p) =>
      row([
        p.identity,
        p.ownedPolicies,
        p.expectedPolicies,
        p.membersSeen,
        p.cpuCores,
        p.peakRssMiB,
        `${p.ticks.count} / ${p.ticks.expected}`,
        p.ticks.p50Seconds,
        p.ticks.p99Seconds,
        p.prometheusQueriesPerSecond,
        p.apiRequestsPerSecond,
        p.statusWrites,
      ]),
    ),
    '',
    `- ownership: ${o.sum} of ${s.policies} owned; every policy by exactly one replica: ${o.exactlyOnce ? 'yes' : 'NO'}; ` +
      `balance min ${o.min} / max ${o.max} against a fair share of ${o.fairShare} (${o.minOfFair}–${o.maxOfFair} of it)`,
    `- totals over the window: operators ${s.totals.operatorCpuCores} cores; ticks ${s.totals.ticks} / ${s.totals.ticksDue} due; ` +
      `Prometheus ${s.totals.prometheusQueriesPerSecond} queries/s; API server ${s.totals.apiserver.requestsPerSecond} req/s ` +
      `(${s.totals.apiserver.leaseRequestsPerSecond} of them on Leases); status writes ${s.totals.statusWritesWindow}; scale patches ${s.totals.scalingActions}`,
    `- sandbox ${sandboxTotal(s)} cores; machine ${s.machineBusyCores} cores busy; load average before ${s.loadAverageBefore.join(', ')}` +
      (s.notes.length ? `; notes: ${s.notes.join('; ')}` : ''),
    '',
    ...projectionMarkdown(s.projection),
  ];
}

function projectionMarkdown(p: ReturnType<typeof projectionOf>): string[] {
  const b = p.basis;
  return [
    `## Projection to ${PROJECTED_POLICIES.toLocaleString('en')} policies (a projection, not a measurement)`,
    '',
    `Computed by bench/projection.ts from the sharded run above (${b.replicas} replicas × ${b.policies} policies at ${b.intervalSeconds} s); ` +
      `nothing at this size ran. Assumptions:`,
    '',
    `- a replica's work is its ticks per second: it carries the measured ${round(b.policies / b.replicas, 0)} policies at ${b.intervalSeconds} s, ` +
      `scaled linearly by interval for other intervals (at 15 s, 15/${b.intervalSeconds} of it), at the measured mean CPU of ${b.cpuCoresPerReplica} cores;`,
    `- Prometheus queries and the API server's non-Lease requests grow linearly with policies / interval, at the measured rate per policy tick ` +
      `(the sandbox's own background requests are counted as the operators', which overstates them); Lease requests ` +
      `(${b.apiserverLeaseRequestsPerSecond}/s measured) grow with the replicas;`,
    p.rssSlope
      ? `- every replica watches every policy, so its memory grows with the total: the largest measured peak RSS (${b.peakRssMiBPerReplica} MiB) ` +
        `plus ${p.rssSlope.miBPerPolicy} MiB per further policy (the ${p.rssSlope.from}, which also holds every policy's tick state, so it overstates a replica's);`
      : `- memory: no slope per watched policy (needs two single-replica sizes), so no RSS projection; every replica watches all ${PROJECTED_POLICIES.toLocaleString('en')} policies;`,
    `- replicas within ${GOALS.cpuCores} core each: the operators' CPU, linear in ticks per second, over the goal's ${GOALS.cpuCores} core ` +
      `(at least 2); a replica's idle CPU is counted as work, which overstates it, and its memory must also fit (above);`,
    '- the sandbox here (one API server, one Prometheus, on the machine above) could not serve these rates: they are what a cluster would have to.',
    '',
    row([
      'interval (s)',
      'policies per replica',
      'replicas (measured density)',
      `replicas (${GOALS.cpuCores} core each)`,
      'CPU per replica at measured density (cores)',
      'operators, all (cores)',
      'peak RSS per replica (MiB)',
      'API server req/s',
      'Prometheus queries/s',
    ]),
    row(Array(9).fill('---')),
    ...p.at.map((x: Projection) =>
      row([
        x.intervalSeconds,
        x.policiesPerReplica,
        x.replicas,
        x.replicasAtCpuBudget,
        x.cpuCoresPerReplica,
        x.operatorCpuCores,
        x.peakRssMiBPerReplica,
        x.apiserverRequestsPerSecond,
        x.prometheusQueriesPerSecond,
      ]),
    ),
    '',
  ];
}

function markdown(report: Report): string {
  const { machine: m, results: rs } = report;
  const lines = [
    '# Scale benchmark',
    '',
    `Generated by \`make bench-scale\` (bench/scale.ts) on ${report.date}, commit ${m.commit}.`,
    '',
    '## Machine',
    '',
    `- ${m.nproc} CPUs (\`nproc\`), ${m.memoryGiB} GiB memory, ${m.cpuModel}`,
    `- ${m.kernel}; Node.js ${m.node}`,
    `- versions: ${Object.entries(report.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- load average (1, 5, 15 min) at start: ${report.loadAverageAtStart.join(', ')}` +
      (report.loadAverageAtStart[0]! > 0.5 * m.nproc
        ? ' — the machine was busy with other work (other test runs), which the figures below include'
        : ''),
    `- everything (sandbox, operator, exporter) shares these ${m.nproc} cores`,
    '',
    '## Setup',
    '',
    `- targets: ${report.settings.target === 'widget' ? 'Widget, a tiny custom resource with a scale subresource (see bench/scale.ts for why not Deployments)' : 'Deployments with 1 replica on KWOK nodes'}`,
    `- every policy: one AverageValue metric, its own series \`${SERIES}{policy=...}\` (constant ${LOAD} vs target 100, so 1 replica stays right and nothing changes), polling interval ${report.settings.intervalSeconds} s, Active mode, Level 5 off`,
    `- operator: \`bin/tidemark.js run --max-concurrent-ticks ${report.settings.maxConcurrentTicks}\`; window ${report.settings.measureSeconds} s after warm-up (every policy ticked and wrote its first status)`,
    '',
    '## Results',
    '',
    row([
      'policies',
      'operator CPU (cores)',
      'peak RSS (MiB)',
      'tick p50 (s)',
      'tick p99 (s)',
      'ticks ≤ 2 s',
      'ticks / due',
      'Prometheus queries/s',
      'API server req/s',
      'status writes (window)',
      'scale patches',
      'sandbox CPU (cores)',
      'machine busy (cores)',
    ]),
    row(Array(13).fill('---')),
    ...rs.map((r) =>
      row([
        r.policies,
        r.operator.cpuCores,
        r.operator.peakRssMiB,
        r.ticks.p50Seconds,
        r.ticks.p99Seconds,
        r.ticks.within2s === null ? null : `${round(r.ticks.within2s * 100, 2)} %`,
        `${r.ticks.count} / ${r.ticks.expected}`,
        r.prometheus.queriesPerSecond,
        r.apiserver.requestsPerSecond,
        r.statusWrites.window,
        r.scalingActions,
        round(
          Object.values(r.sandboxCpuCores).reduce((a, b) => a + b, 0),
          2,
        ),
        r.machineBusyCores,
      ]),
    ),
    '',
    '### Growth relative to the smallest size',
    '',
    row([
      'policies',
      '× policies',
      '× operator CPU',
      '× peak RSS',
      '× p99',
      '× Prometheus q/s',
      '× API server req/s',
    ]),
    row(Array(7).fill('---')),
    ...report.growth.map((g) =>
      row([g.policies, g.size, g.operatorCpu, g.peakRss, g.p99, g.prometheusQps, g.apiserverRps]),
    ),
    '',
    '### Sandbox CPU by process (cores, over the window)',
    '',
    row(['policies', ...Object.keys(rs[0]!.sandboxCpuCores)]),
    row(Array(Object.keys(rs[0]!.sandboxCpuCores).length + 1).fill('---')),
    ...rs.map((r) => row([r.policies, ...Object.values(r.sandboxCpuCores)])),
    '',
    '### API server requests per second by verb (whole API server, all clients)',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: ${Object.entries(r.apiserver.byVerb)
          .filter(([, v]) => v > 0)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; busiest: ${r.apiserver.top
          .slice(0, 4)
          .map((t) => `${t.verb} ${t.resource}${t.subresource ? `/${t.subresource}` : ''} ${t.perSecond}`)
          .join(', ')}`,
    ),
    '',
    '### API client',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: limit ${r.apiClient.qps}/s (burst ${r.apiClient.burst}); the operator sent ${r.apiClient.requestsPerSecond}/s in the window, ` +
        `${r.apiClient.warmupRequestsPerSecond}/s during warm-up; ${r.apiClient.clientWaits} requests waited for the limit ` +
        `(${r.apiClient.clientWaitSeconds} s in all); ${r.apiClient.http429} answered 429`,
    ),
    '',
    '### Other figures',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: created ${2 * r.policies} objects in ${r.createSeconds} s (${r.createPerSecond}/s); warm-up ${r.warmupSeconds} s; ` +
        `status writes during warm-up ${r.statusWrites.warmup}; metric errors ${r.metricErrors}; Prometheus query errors ${r.prometheus.queryErrors}; ` +
        `operator's own query count ${r.prometheus.operatorQueriesPerSecond}/s, their latency p50/p99 ${r.prometheus.queryP50Seconds}/${r.prometheus.queryP99Seconds} s; ` +
        `API server time for GET scale p50/p99 ${r.apiserver.getScaleP50Seconds}/${r.apiserver.getScaleP99Seconds} s; its /metrics is ${round(r.operator.metricsBytes / 1e6, 1)} MB and took ${r.operator.metricsScrapeMs} ms; ` +
        `operator memory at the window's end: RSS ${r.operator.rssMiB} MiB, V8 heap ${r.operator.heapUsedMiB} used of ${r.operator.heapTotalMiB} MiB, external ${r.operator.externalMiB} MiB; ` +
        `load average before ${r.loadAverageBefore.join(', ')}${r.notes.length ? `; notes: ${r.notes.join('; ')}` : ''}`,
    ),
    '',
    `## Goals at ${GOALS.policies.toLocaleString('en')} policies`,
    '',
    ...(report.goals.caveat ? [`(${report.goals.caveat})`, ''] : []),
    row(['goal', 'target', 'measured', 'met']),
    row(['---', '---', '---', '---']),
    ...(['cpu', 'memory', 'p99', 'statusWrites'] as const).map((k) => {
      const g = report.goals[k];
      return row([k, g.goal, g.value, g.met ? 'yes' : 'NO']);
    }),
    '',
    ...shardedMarkdown(report),
  ];
  if (report.reading) lines.push('## Reading', '', report.reading, '');
  return lines.join('\n');
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  versions: Record<string, string>;
  loadAverageAtStart: number[];
  settings: Record<string, unknown> & {
    target: string;
    intervalSeconds: number;
    maxConcurrentTicks: number;
    measureSeconds: number;
  };
  results: SizeResult[];
  failed?: { policies: number; error: string };
  sharded?: ShardedResult & { projection: ReturnType<typeof projectionOf> };
  shardedFailed?: { spec: string; error: string };
  growth: ReturnType<typeof growth>;
  goals: ReturnType<typeof goals>;
  reading?: string;
}

// --- main ----------------------------------------------------------------------------------------

async function main() {
  const loadAverageAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  log(`sizes ${SIZES.join(', ')}; target ${TARGET}; load average ${loadAverageAtStart.join(' ')}`);
  execFileSync(KUBECTL, ['apply', '-f', join(REPO, 'crds')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (TARGET === 'widget') {
    await create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
  }
  for (const gv of [`/apis/${POLICY_API_VERSION}`, `/apis/${WIDGET_GROUP}/v1`]) {
    await waitFor(`${gv} to be served`, 60_000, async () =>
      (await kube({ method: 'GET', path: gv })) ? true : undefined,
    );
  }

  const exporter = new Exporter();
  const port = await exporter.listen();
  const sdFile = join(TARGETS_DIR, `${EXPORTER_JOB}.json`);
  writeFileSync(sdFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: EXPORTER_JOB } }]));

  const results: SizeResult[] = [];
  let failed: Report['failed'];
  let sharded: ShardedResult | undefined;
  let shardedFailed: Report['shardedFailed'];
  try {
    for (const n of SIZES) {
      try {
        results.push(await runSize(n, exporter));
      } catch (err) {
        failed = { policies: n, error: err instanceof Error ? err.message : String(err) };
        log(`N=${n} failed: ${failed.error}`);
        break;
      }
    }
    if (SHARDED && !failed) {
      try {
        sharded = await runSharded(SHARDED, exporter);
      } catch (err) {
        shardedFailed = { spec: args.sharded, error: err instanceof Error ? err.message : String(err) };
        log(`sharded ${args.sharded} failed: ${shardedFailed.error}`);
      }
    }
  } finally {
    exporter.close();
    rmSync(sdFile, { force: true });
  }
  if (results.length === 0) throw new Error(`no size completed: ${failed?.error}`);

  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: await versions(),
    loadAverageAtStart,
    settings: {
      target: TARGET,
      sizes: SIZES,
      intervalSeconds: INTERVAL_S,
      measureSeconds: INTERVAL_S * MEASURE_INTERVALS,
      sharded: SHARDED ?? null,
      maxConcurrentTicks: MAX_TICKS,
      createConcurrency: CREATE_CONCURRENCY,
      scrapeInterval: process.env.TIDEMARK_SCRAPE_INTERVAL ?? '5s',
    },
    results,
    ...(failed ? { failed } : {}),
    ...(sharded ? { sharded: { ...sharded, projection: projectionOf(sharded, results) } } : {}),
    ...(shardedFailed ? { shardedFailed } : {}),
    growth: growth(results),
    goals: goals(results),
  };
  const readingFile = join(OUT, 'scale-reading.md');
  try {
    // A person's reading of the figures, kept beside them and carried into scale.md.
    report.reading = readFileSync(readingFile, 'utf8').trim();
  } catch {}
  mkdirSync(OUT, { recursive: true });
  const { reading: _r, ...json } = report;
  writeFileSync(join(OUT, 'scale.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = markdown(report);
  writeFileSync(join(OUT, 'scale.md'), md);
  process.stdout.write(`${md}\n`);
  log(`wrote ${join(OUT, 'scale.json')} and ${join(OUT, 'scale.md')}`);
  if (failed) {
    log(`stopped at ${failed.policies} policies: ${failed.error}`);
    process.exitCode = 1;
  }
  if (shardedFailed || (sharded && !sharded.ownership.exactlyOnce)) process.exitCode = 1;
}

await main();
