// The Operator wired together (informer, lease, scheduler, reconciler, HTTP
// endpoints) against a small in-process fake API server and fake Prometheus on
// 127.0.0.1: no sandbox needed. The real thing is in test/e2e/.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Operator } from '../../src/operator/operator.ts';
import { mergePatch } from '../reconciler/fake-kube.ts';
import { policy } from '../reconciler/helpers.ts';

interface Fake {
  url: string;
  server: http.Server;
  replicas: number;
  status: unknown;
  lease: { metadata: { resourceVersion: string }; spec: Record<string, unknown> } | undefined;
  events: Array<{ reason: string; message: string }>;
  watchers: http.ServerResponse[];
  statusWrites: number;
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  let s = '';
  for await (const c of req) s += c;
  return s ? JSON.parse(s) : undefined;
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe('Operator (in-process, fake API server)', () => {
  const hpaWatchers: http.ServerResponse[] = [];
  let prom: { server: http.Server; url: string };
  let fake: Fake;
  let op: Operator;
  let rv = 10;
  let leaseRv = 1;

  before(async () => {
    prom = await listen((_req, res) =>
      json(res, 200, {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, '300'] }] },
      }),
    );
    const p = policy(
      {
        prometheus: { address: prom.url },
        pollingIntervalSeconds: 1,
        behavior: { scaleUp: { policies: [{ type: 'Pods', value: 10, periodSeconds: 1 }] } },
      },
      'web',
      'demo',
    );
    const policyObj = () => ({
      ...p,
      metadata: { ...p.metadata, resourceVersion: String(rv) },
      status: fake.status,
    });
    const f: Partial<Fake> = {
      replicas: 1,
      status: undefined,
      lease: undefined,
      events: [],
      watchers: [],
      statusWrites: 0,
    };
    fake = f as Fake;
    const api = await listen(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      const body = await readBody(req);
      const m = req.method;
      if (path === '/apis/autoscaling/v2/horizontalpodautoscalers') {
        if (url.searchParams.get('watch') === 'true') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.flushHeaders();
          hpaWatchers.push(res);
          return;
        }
        return json(res, 200, {
          kind: 'HorizontalPodAutoscalerList',
          metadata: { resourceVersion: '1' },
          items: [],
        });
      }
      if (path === '/apis/tidemark.dev/v1beta1/scalingpolicies') {
        if (url.searchParams.get('watch') === 'true') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.flushHeaders();
          fake.watchers.push(res);
          return;
        }
        return json(res, 200, {
          kind: 'ScalingPolicyList',
          metadata: { resourceVersion: String(rv) },
          items: [policyObj()],
        });
      }
      if (path === '/apis/tidemark.dev/v1beta1/namespaces/demo/scalingpolicies/web/status' && m === 'PATCH') {
        const b = body as { status: unknown };
        rv++;
        fake.statusWrites++;
        fake.status = mergePatch(fake.status, b.status);
        const obj = policyObj();
        for (const w of fake.watchers) w.write(`${JSON.stringify({ type: 'MODIFIED', object: obj })}\n`);
        return json(res, 200, obj);
      }
      if (path === '/apis/tidemark.dev/v1beta1/namespaces/demo/scalingpolicies/web' && m === 'GET') {
        return json(res, 200, policyObj());
      }
      if (path === '/apis/apps/v1') {
        return json(res, 200, {
          resources: [
            { name: 'deployments', kind: 'Deployment', namespaced: true },
            { name: 'deployments/scale', kind: 'Scale', namespaced: true },
          ],
        });
      }
      if (path === '/apis/apps/v1/namespaces/demo/deployments/web/scale') {
        if (m === 'PUT') fake.replicas = (body as { spec: { replicas: number } }).spec.replicas;
        return json(res, 200, { spec: { replicas: fake.replicas } });
      }
      if (path === '/api/v1/namespaces/demo/events' && m === 'POST') {
        fake.events.push(body as { reason: string; message: string });
        return json(res, 201, body);
      }
      const lease = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
      if (path === `${lease}/op-test` && m === 'GET') {
        return fake.lease
          ? json(res, 200, fake.lease)
          : json(res, 404, { reason: 'NotFound', message: 'nf' });
      }
      if ((path === lease && m === 'POST') || (path === `${lease}/op-test` && m === 'PUT')) {
        const b = body as { metadata: { resourceVersion?: string }; spec: Record<string, unknown> };
        if (m === 'PUT' && b.metadata.resourceVersion !== fake.lease?.metadata.resourceVersion) {
          return json(res, 409, { reason: 'Conflict', message: 'stale lease' });
        }
        fake.lease = { metadata: { resourceVersion: String(++leaseRv) }, spec: b.spec };
        return json(res, 200, fake.lease);
      }
      json(res, 404, { reason: 'NotFound', message: `fake: ${m} ${path}` });
    });
    fake.server = api.server;
    fake.url = api.url;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: api.url, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    op = new Operator({
      kubeconfig: kc,
      log: pino({ level: 'silent' }),
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      allowedPrometheus: [prom.url],
      leaseNamespace: 'default',
      leaseName: 'op-test',
      identity: 'op-1',
      maxConcurrentTicks: 4,
      retryPeriodMs: 200,
    });
    await op.start();
  });

  after(async () => {
    for (const w of [...fake.watchers, ...hpaWatchers]) w.end();
    fake.server.closeAllConnections();
    prom.server.closeAllConnections();
    await Promise.all([new Promise((r) => fake.server.close(r)), new Promise((r) => prom.server.close(r))]);
  });

  const until = async (probe: () => boolean | Promise<boolean>, what: string, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('takes the lease, watches the policy and scales its target', async () => {
    await until(() => op.isLeader(), 'leadership');
    assert.equal((fake.lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, 'op-1');
    // 300 rps at 50/replica.
    await until(() => fake.replicas === 6 && fake.status !== undefined, 'replicas 6', 15_000);
    // The Event follows the status write.
    await until(() => fake.events.some((e) => e.reason === 'Scaled'), 'a Scaled Event');
    assert.equal((fake.status as { desiredReplicas: number }).desiredReplicas, 6);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const base = `http://127.0.0.1:${op.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.text()).trim(), 'leader');
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^tidemark_leader 1$/m);
    assert.match(text, /^tidemark_policies_watched 1$/m);
    assert.match(text, /tidemark_policy_current_replicas\{namespace="demo",policy="web"\} 6/);
    assert.match(text, /tidemark_prometheus_query_duration_seconds_count\{outcome="success"\} [1-9]/);
  });

  it('an idle policy stops writing status', async () => {
    const before = fake.statusWrites;
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(fake.statusWrites, before, 'three more ticks, no write');
  });

  it('stops gracefully and releases the lease', async () => {
    await op.stop();
    assert.equal(op.isLeader(), false);
    assert.equal((fake.lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, '');
    await assert.rejects(fetch(`http://127.0.0.1:${op.port}/healthz`));
  });
});
