// A small in-process fake API server and fake Prometheus on 127.0.0.1 for the
// Operator's wiring tests: one ScalingPolicy (demo/web, 300 rps at 50 per
// replica), its Deployment's scale, Events, HPAs (none) and the Lease. It can
// hold a scale write unanswered (a write still in flight, which a real API
// server cannot be made to do on cue) and logs, in order, what it saw.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { mergePatch } from '../reconciler/fake-kube.ts';
import { policy } from '../reconciler/helpers.ts';

export interface FakeApi {
  replicas: number;
  status: unknown;
  lease: { metadata: { resourceVersion: string }; spec: Record<string, unknown> } | undefined;
  events: Array<{ reason: string; message: string }>;
  statusWrites: number;
  /** While set, a scale PUT is held: neither applied nor answered until `releaseHeld`. */
  holdScale: boolean;
  /** What happened, in order: `scale held`, `scale held: connection closed`, `lease released`, ... */
  readonly log: string[];
  /** Answers (and applies) the held scale writes whose connection is still open. */
  releaseHeld(): void;
  kubeconfig: KubeConfig;
  prometheusUrl: string;
  close(): Promise<void>;
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

/** A watch that stays open, sending what the test writes to it. */
function openWatch(res: http.ServerResponse, into: http.ServerResponse[]) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.flushHeaders();
  into.push(res);
}

export async function fakeApiServer(leaseName: string): Promise<FakeApi> {
  const watchers: http.ServerResponse[] = [];
  const policyWatchers: http.ServerResponse[] = [];
  const held: Array<{ res: http.ServerResponse; replicas: number }> = [];
  let rv = 10;
  let leaseRv = 1;
  const prom = await listen((_req, res) =>
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
    status: f.status,
  });
  const lease = '/apis/coordination.k8s.io/v1/namespaces/default/leases';

  const scale = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => {
    if (req.method !== 'PUT') return json(res, 200, { spec: { replicas: f.replicas } });
    const replicas = (body as { spec: { replicas: number } }).spec.replicas;
    if (!f.holdScale) {
      f.replicas = replicas;
      return json(res, 200, { spec: { replicas } });
    }
    f.log.push('scale held');
    res.on('close', () => {
      if (!res.writableEnded) f.log.push('scale held: connection closed');
    });
    held.push({ res, replicas });
  };

  const leaseWrite = (res: http.ServerResponse, m: string | undefined, body: unknown) => {
    const b = body as { metadata: { resourceVersion?: string }; spec: { holderIdentity?: string } };
    if (m === 'PUT' && b.metadata.resourceVersion !== f.lease?.metadata.resourceVersion) {
      return json(res, 409, { reason: 'Conflict', message: 'stale lease' });
    }
    if (b.spec.holderIdentity === '') f.log.push('lease released');
    f.lease = { metadata: { resourceVersion: String(++leaseRv) }, spec: b.spec };
    json(res, 200, f.lease);
  };

  const api = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const body = await readBody(req);
    const m = req.method;
    const watch = url.searchParams.get('watch') === 'true';
    if (path === '/apis/autoscaling/v2/horizontalpodautoscalers') {
      if (watch) return openWatch(res, watchers);
      return json(res, 200, {
        kind: 'HorizontalPodAutoscalerList',
        metadata: { resourceVersion: '1' },
        items: [],
      });
    }
    if (path === '/apis/tidemark.dev/v1beta1/scalingpolicies') {
      if (watch) return openWatch(res, policyWatchers);
      return json(res, 200, {
        kind: 'ScalingPolicyList',
        metadata: { resourceVersion: String(rv) },
        items: [policyObj()],
      });
    }
    if (path === '/apis/tidemark.dev/v1beta1/namespaces/demo/scalingpolicies/web/status' && m === 'PATCH') {
      rv++;
      f.statusWrites++;
      f.status = mergePatch(f.status, (body as { status: unknown }).status);
      const obj = policyObj();
      for (const w of policyWatchers) w.write(`${JSON.stringify({ type: 'MODIFIED', object: obj })}\n`);
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
    if (path === '/apis/apps/v1/namespaces/demo/deployments/web/scale') return scale(req, res, body);
    if (path === '/api/v1/namespaces/demo/events' && m === 'POST') {
      f.events.push(body as { reason: string; message: string });
      return json(res, 201, body);
    }
    if (path === `${lease}/${leaseName}` && m === 'GET') {
      return f.lease ? json(res, 200, f.lease) : json(res, 404, { reason: 'NotFound', message: 'nf' });
    }
    if ((path === lease && m === 'POST') || (path === `${lease}/${leaseName}` && m === 'PUT')) {
      return leaseWrite(res, m, body);
    }
    json(res, 404, { reason: 'NotFound', message: `fake: ${m} ${path}` });
  });

  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromOptions({
    clusters: [{ name: 'c', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const f: FakeApi = {
    replicas: 1,
    status: undefined,
    lease: undefined,
    events: [],
    statusWrites: 0,
    holdScale: false,
    log: [],
    releaseHeld() {
      for (const h of held.splice(0)) {
        if (h.res.destroyed) continue;
        f.replicas = h.replicas;
        f.log.push('scale held: applied');
        json(h.res, 200, { spec: { replicas: h.replicas } });
      }
    },
    kubeconfig,
    prometheusUrl: prom.url,
    async close() {
      for (const w of [...watchers, ...policyWatchers]) w.end();
      for (const h of held.splice(0)) h.res.destroy();
      api.server.closeAllConnections();
      prom.server.closeAllConnections();
      await Promise.all([new Promise((r) => api.server.close(r)), new Promise((r) => prom.server.close(r))]);
    },
  };
  return f;
}
