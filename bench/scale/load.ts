// The load: the series every policy reads (a static exporter in this process), the targets
// and policies, and creating them with bounded concurrency.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAlreadyExists } from '../../src/kube/api-client.ts';
// The storage version: a v1alpha1 write would go through the conversion webhook, which is
// not what a user of this release sends, and would load the sandbox's webhook besides.
import { POLICY_API_VERSION } from '../../src/reconciler/reconciler.ts';
import { kube, PROMETHEUS_URL, sleep, TARGET } from './config.ts';

// --- the series every policy reads --------------------------------------------------------

export const EXPORTER_JOB = 'tidemark-scale-bench';
export const SERIES = 'tidemark_bench_load';
/** Each policy's metric: 40 per replica against a target of 100 proposes 1 replica, its current count. */
export const LOAD = 40;

export class Exporter {
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

export const name = (i: number) => `p-${String(i).padStart(5, '0')}`;

// --- objects ----------------------------------------------------------------------------------

export const WIDGET_GROUP = 'scale.bench.tidemark.dev';
export const WIDGET_CRD = {
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

export function targetOf(
  ns: string,
  i: number,
): { path: string; body: unknown; ref: Record<string, string> } {
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

export function policyOf(ns: string, i: number, ref: Record<string, string>, intervalSeconds: number) {
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
export async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
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
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await withRetries(() => fn(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

export const create = async (path: string, body: unknown) => {
  try {
    await kube({ method: 'POST', path, body });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
};
