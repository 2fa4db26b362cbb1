// The benchmark's settings (flags or environment, see bench/scale.ts), the sandbox it runs in,
// and its API client.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { httpTransport, type KubeTransport } from '../../src/kube/api-client.ts';
import { parseShardedSpec, type ShardedSpec } from '../projection.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const env = (name: string, fallback: string) => process.env[name] || fallback;
export const { values: args } = parseArgs({
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
    // A heap snapshot of every operator at the window's end (bench/scale/heap.ts): "off" skips it.
    'heap-snapshot': { type: 'string', default: env('SCALE_HEAP_SNAPSHOT', 'on') },
    // What else ran on the machine during the run (other people's builds and tests), said in every table.
    beside: { type: 'string', default: env('SCALE_BESIDE', '') },
    // Extra node options for the operator processes (e.g. V8 heap flags being compared), said in the report.
    'operator-node-options': { type: 'string', default: env('SCALE_OPERATOR_NODE_OPTIONS', '') },
  },
});
export const SIZES = args.sizes
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
if (SIZES.length === 0) throw new Error(`--sizes: no positive integer in "${args.sizes}"`);
export const TARGET = args.target === 'deployment' ? 'deployment' : 'widget';
export const INTERVAL_S = Number(args.interval);
export const MEASURE_INTERVALS = Number(args['measure-intervals']);
export const SHARDED = parseShardedSpec(args.sharded);
/** The size the projection is made for (issue: "the projection to 100,000 policies"). */
export const PROJECTED_POLICIES = 100_000;
export const MAX_TICKS = Number(args['max-concurrent-ticks']);
export const WARMUP_INTERVALS = 12;
/** The operator's --kube-api-qps/--kube-api-burst at n policies (see the header). */
export function apiLimit(n: number, intervalSeconds: number): { qps: number; burst: number } {
  const qps = Number(args['kube-api-qps']) || Math.max(50, Math.ceil((2 * n) / intervalSeconds));
  return { qps, burst: Number(args['kube-api-burst']) || Math.max(100, 2 * qps) };
}
export const CREATE_CONCURRENCY = Number(args['create-concurrency']);
export const OUT = args.out;

// Goals at 10,000 policies (issue 7).
export const GOALS = { policies: 10_000, cpuCores: 1, rssMiB: 512, p99Seconds: 2, statusWrites: 0 };

export function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through \`make bench-scale\` (sandbox/with-sandbox.sh)`);
  return v;
}
export const SANDBOX_DIR = required('SANDBOX_DIR');
export const HEAP_SNAPSHOT = args['heap-snapshot'] !== 'off';
export const BESIDE = args.beside.trim();
export const OPERATOR_NODE_OPTIONS = args['operator-node-options'].split(/\s+/).filter(Boolean);
/** Where the operators write their heap snapshots (node's --diagnostic-dir). */
export const HEAP_DIR = join(SANDBOX_DIR, 'heap');
export const PROMETHEUS_URL = required('PROMETHEUS_URL').replace(/\/$/, '');
export const TARGETS_DIR = required('TIDEMARK_SCRAPE_TARGETS_DIR');
export const KUBECTL = env('KUBECTL', 'kubectl');
export const NODE = join(REPO, 'node_modules/.bin/node');

export const kc = new KubeConfig();
kc.loadFromDefault();
// The operator's own keep-alive transport (client-node's KubeConfig for the credentials):
// client-node's generated clients open a new TLS connection per call, and 20,000 handshakes
// would load the API server on 2 cores more than the creates themselves.
export const kube: KubeTransport = httpTransport(kc, { maxSockets: CREATE_CONCURRENCY });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (msg: string) =>
  process.stderr.write(`[scale] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

/** One size of the single-replica series, or the sharded run. */
export interface RunSpec {
  label: string;
  ns: string;
  policies: number;
  replicas: number;
  intervalSeconds: number;
  sharded: boolean;
}

export const sizeSpec = (n: number): RunSpec => ({
  label: `N=${n}`,
  ns: `scale-bench-${n}`,
  policies: n,
  replicas: 1,
  intervalSeconds: INTERVAL_S,
  sharded: false,
});

export const shardedRunSpec = (s: ShardedSpec): RunSpec => ({
  label: `sharded ${s.replicas}x${s.policies}@${s.intervalSeconds}s`,
  ns: `scale-bench-sharded-${s.replicas}x${s.policies}`,
  policies: s.policies,
  replicas: s.replicas,
  intervalSeconds: s.intervalSeconds,
  sharded: true,
});
