/**
 * The workload simulator process of the local sandbox:
 *
 *   node src/workload/main.ts --kubeconfig FILE --port PORT [--host 127.0.0.1]
 *
 * Watches Deployments labelled tidemark.dev/load-profile and their pods, and
 * serves per-pod request and latency metrics on /metrics for Prometheus.
 */

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  AppsV1Api,
  CoreV1Api,
  type Informer,
  KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { Command, InvalidArgumentError } from 'commander';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import { buildRegistry } from './exposition.ts';
import { PROFILE_LABEL, parseTraceCsv, type Result } from './profile.ts';
import {
  DEFAULT_CAPACITY_RPS,
  DEFAULT_MAX_LATENCY_SECONDS,
  type SimEvent,
  Simulator,
  type World,
} from './simulator.ts';
import { deploymentView, podView } from './views.ts';

export interface Options {
  kubeconfig?: string;
  port: number;
  host: string;
  tickMs: number;
  maxLatencySeconds: number;
  defaultCapacityRps: number;
}

function positive(name: string, integer: boolean) {
  return (raw: string) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(
        `${name} must be a ${integer ? 'non-negative integer' : 'positive number'}`,
      );
    return n;
  };
}

export function parseArgs(argv: string[]): Options {
  const program = new Command('tidemark-workload')
    .description('Simulated workloads for the Tidemark sandbox: per-pod request and latency metrics.')
    .option(
      '--kubeconfig <file>',
      'kubeconfig to watch Deployments and pods with (default: KUBECONFIG or ~/.kube/config)',
    )
    .requiredOption(
      '--port <port>',
      'port for /metrics, /healthz and /readyz (0 picks a free one)',
      positive('port', true),
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--tick-ms <ms>', 'how often the load advances', positive('tick-ms', true), 1000)
    .option(
      '--max-latency-seconds <s>',
      'client timeout: saturated pods report this latency',
      positive('max-latency-seconds', false),
      DEFAULT_MAX_LATENCY_SECONDS,
    )
    .option(
      '--default-capacity-rps <rps>',
      'per-pod capacity when tidemark.dev/capacity-rps is absent',
      positive('default-capacity-rps', false),
      DEFAULT_CAPACITY_RPS,
    )
    .exitOverride()
    .parse(argv, { from: 'user' });
  return program.opts<Options>();
}

/** Reads and parses a trace file; errors come back as values for the simulator to report. */
export function readTrace(file: string): Result<number[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  return parseTraceCsv(text);
}

export interface Running {
  server: Server;
  port: number;
  stop(): Promise<void>;
}

function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

function startInformer<T extends object>(inf: Informer<T>): void {
  // A failed list or watch comes back through the 'error' callback, which retries.
  inf.start().catch(() => {});
}

function restartOnError<T extends object>(
  name: string,
  inf: Informer<T>,
  stopping: () => boolean,
  log: Logger,
): void {
  inf.on('connect', () => log.debug({ informer: name }, 'watch connected'));
  inf.on('error', (err: unknown) => {
    if (stopping()) return;
    log.warn({ informer: name, err: String(err) }, 'watch failed; restarting in 5s');
    // ListWatch gives up after an error other than a timeout or 410: restart it ourselves.
    setTimeout(() => {
      if (!stopping()) startInformer(inf);
    }, 5000).unref();
  });
}

interface Cluster {
  synced(): boolean;
  world(): World;
  start(): void;
  stop(): Promise<void>;
}

function watchCluster(kc: KubeConfig, log: Logger): Cluster {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  let stopping = false;
  const synced = { deployments: false, pods: false };
  // ListWatch.start() resolves even when its list fails, so readiness is taken
  // from the list itself succeeding.
  const listed = <L>(name: keyof typeof synced, list: Promise<L>) =>
    list.then((l) => {
      if (!synced[name]) log.info({ informer: name }, 'informer synced');
      synced[name] = true;
      return l;
    });
  const deployments = makeInformer<V1Deployment>(
    kc,
    '/apis/apps/v1/deployments',
    () => listed('deployments', apps.listDeploymentForAllNamespaces({ labelSelector: PROFILE_LABEL })),
    PROFILE_LABEL,
  );
  const pods = makeInformer<V1Pod>(kc, '/api/v1/pods', () => listed('pods', core.listPodForAllNamespaces()));
  restartOnError('deployments', deployments, () => stopping, log);
  restartOnError('pods', pods, () => stopping, log);
  return {
    synced: () => synced.deployments && synced.pods,
    world: () => worldOf(deployments, pods),
    start() {
      startInformer(deployments);
      startInformer(pods);
    },
    async stop() {
      stopping = true;
      await Promise.allSettled([deployments.stop(), pods.stop()]);
    },
  };
}

function worldOf(deployments: ObjectCache<V1Deployment>, pods: ObjectCache<V1Pod>): World {
  return {
    deployments: deployments
      .list()
      .map(deploymentView)
      .filter((d) => d !== undefined),
    pods: pods
      .list()
      .map(podView)
      .filter((p) => p !== undefined),
  };
}

function logEvent(log: Logger, e: SimEvent): void {
  const ctx = { namespace: e.namespace, deployment: e.name };
  if (e.type === 'invalid')
    log.error({ ...ctx, err: e.error }, 'invalid load profile: offering no load until it is fixed');
  else if (e.type === 'configured')
    log.info(
      { ...ctx, profile: e.description },
      e.restarted ? 'load profile changed; clock restarted' : 'load profile started',
    );
  else log.info(ctx, 'deployment no longer simulated');
}

function ticker(sim: Simulator, cluster: Cluster, log: Logger): () => void {
  return () => {
    // Before both lists are in, a Deployment would look as if it had no pods and
    // its load would be counted as dropped.
    if (!cluster.synced()) return;
    try {
      for (const e of sim.tick(cluster.world(), Date.now())) logEvent(log, e);
    } catch (err) {
      // The accounts must keep advancing whatever one odd object does.
      log.error({ err }, 'tick failed');
    }
  };
}

function createHttpServer(registry: Registry, tick: () => void, ready: () => boolean): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      // Advance to the scrape time so the exposition is current to the millisecond.
      tick();
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? 'ok\n' : 'informers not synced\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
}

/** Resolves to the port bound, which differs from `port` when that is 0. */
async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function start(opts: Options, log = pino({ name: 'tidemark-workload' })): Promise<Running> {
  const kc = loadKubeConfig(opts.kubeconfig);
  const sim = new Simulator({
    maxLatencySeconds: opts.maxLatencySeconds,
    defaultCapacityRps: opts.defaultCapacityRps,
    loadTrace: readTrace,
  });
  const registry = buildRegistry(sim, { processMetrics: true });
  const cluster = watchCluster(kc, log);
  const tick = ticker(sim, cluster, log);
  const server = createHttpServer(registry, tick, cluster.synced);
  const port = await listen(server, opts.port, opts.host);
  // Only once the port is ours: a timer started earlier kept a failed process alive.
  const timer = setInterval(tick, opts.tickMs);
  log.info({ host: opts.host, port }, 'serving /metrics, /healthz, /readyz');
  cluster.start();

  return {
    server,
    port,
    async stop() {
      clearInterval(timer);
      await cluster.stop();
      await closeServer(server);
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const log = pino({ name: 'tidemark-workload' });
  let opts: Options;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    // commander has printed the message (or the help) already.
    return (err as { exitCode?: number }).exitCode ?? 2;
  }
  let running: Running;
  try {
    running = await start(opts, log);
  } catch (err) {
    log.fatal({ err: String(err) }, 'cannot start');
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      running.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  log.info('stopped');
  return 0;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
