// The live benchmark's view of the sandbox: the Deployments it creates, their replica
// history as a watch on the API server sees it, the operator it runs and the load as
// Prometheus recorded it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type KubeConfig, makeInformer, type V1Deployment } from '@kubernetes/client-node';
import { sandboxRunArgs } from '../operator-args.ts';
import type { LoadSample, ReplicaPoint } from './measure.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const NODE = join(REPO, 'node_modules/.bin/node');

export interface LiveDeployment {
  namespace: string;
  name: string;
  replicas: number;
  capacityRps: number;
  /** Pods are Ready this long after they are created (KWOK's pod-ready stage, exactly). */
  startupSeconds: number;
  /** The workload simulator's profile: label value and tidemark.dev/load annotation. */
  profile: string;
  load: string;
  /** Epoch ms at which the profile's clock starts (tidemark.dev/load-start). */
  loadStart: number;
}

export function deploymentManifest(d: LiveDeployment) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: d.name,
      namespace: d.namespace,
      labels: { app: d.name, 'tidemark.dev/load-profile': d.profile },
      annotations: {
        'tidemark.dev/load': d.load,
        'tidemark.dev/capacity-rps': String(d.capacityRps),
        'tidemark.dev/load-start': new Date(d.loadStart).toISOString(),
      },
    },
    spec: {
      replicas: d.replicas,
      selector: { matchLabels: { app: d.name } },
      template: {
        metadata: {
          labels: { app: d.name },
          // Delay and its upper bound alike: every pod starts in the same time, as the simulator's do.
          annotations: {
            'pod-ready.stage.kwok.x-k8s.io/delay': `${d.startupSeconds}s`,
            'pod-ready.stage.kwok.x-k8s.io/jitter-delay': `${d.startupSeconds}s`,
          },
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/web:1' }] },
      },
    },
  };
}

/** Requests per second the Deployment's pods served, as every autoscaler here reads it. */
export function servedQuery(namespace: string, name: string, rateWindowSeconds: number): string {
  return `sum(rate(http_requests_total{namespace="${namespace}",deployment="${name}"}[${rateWindowSeconds}s]))`;
}

/** The load the workload simulator offers, for the measures (not seen by any autoscaler). */
export function offeredQuery(namespace: string, name: string): string {
  return `sum(tidemark_workload_offered_rps{namespace="${namespace}",deployment="${name}"})`;
}

export interface ReplicaWatch {
  histories: Map<string, ReplicaPoint[]>;
  synced(): boolean;
  stop(): Promise<void>;
}

/** Records every change of spec.replicas or status.readyReplicas of the namespace's Deployments. */
export function watchReplicas(kc: KubeConfig, namespace: string, clock = Date.now): ReplicaWatch {
  const histories = new Map<string, ReplicaPoint[]>();
  let stopping = false;
  let listed = false;
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  const informer = makeInformer<V1Deployment>(kc, path, async () => {
    const { AppsV1Api } = await import('@kubernetes/client-node');
    const list = await kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace });
    listed = true;
    return list;
  });
  const record = (d: V1Deployment) => {
    const name = d.metadata?.name;
    if (!name) return;
    const point = { t: clock(), replicas: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
    const h = histories.get(name) ?? [];
    const last = h.at(-1);
    if (last && last.replicas === point.replicas && last.ready === point.ready) return;
    h.push(point);
    histories.set(name, h);
  };
  informer.on('add', record);
  informer.on('update', record);
  informer.on('error', () => {
    // ListWatch stops after an error: start it again (the next list re-records any change missed).
    if (!stopping) setTimeout(() => !stopping && informer.start().catch(() => {}), 1000).unref();
  });
  informer.start().catch(() => {});
  return {
    histories,
    synced: () => listed,
    async stop() {
      stopping = true;
      await informer.stop();
    },
  };
}

/** A range query's single series as samples; [] when Prometheus has none. */
export async function promRange(
  url: string,
  query: string,
  from: number,
  to: number,
  stepSeconds: number,
): Promise<LoadSample[]> {
  const q = new URLSearchParams({
    query,
    start: String(from / 1000),
    end: String(to / 1000),
    step: String(stepSeconds),
  });
  const res = await fetch(`${url}/api/v1/query_range?${q}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { result: Array<{ values: Array<[number, string]> }> };
  };
  if (body.status !== 'success') throw new Error(`PromQL ${query}: ${body.error ?? res.status}`);
  return (body.data?.result[0]?.values ?? []).map(([t, v]) => ({ t: t * 1000, rps: Number(v) }));
}

export interface OperatorRun {
  proc: ChildProcess;
  exited: Promise<void>;
  stop(): Promise<void>;
}

/** `tidemark run` on the namespace, as a child process logging to `logFile`. */
export function startOperator(o: {
  kubeconfig: string;
  prometheusUrl: string;
  namespace: string;
  logFile: string;
}): OperatorRun {
  const proc = spawn(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      join(REPO, 'bin/tidemark.js'),
      ...sandboxRunArgs(o.prometheusUrl),
      '--namespaces',
      o.namespace,
      '--lease-name',
      `tidemark-${o.namespace}`,
    ],
    { env: { ...process.env, KUBECONFIG: o.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = createWriteStream(o.logFile);
  createInterface({ input: proc.stdout! }).on('line', (l) => out.write(`${l}\n`));
  proc.stderr!.on('data', (d: Buffer) => out.write(d));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return {
    proc,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      out.end();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
