import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { KubeApiError, type KubeRequest, type KubeTransport } from '../../src/reconciler/kube.ts';

export interface FakeEvent {
  name: string;
  type: string;
  reason: string;
  message: string;
  count: number;
}

/** Just enough of an API server for the reconciler: discovery, scale, policy status, Events. */
export class FakeKube {
  requests: KubeRequest[] = [];
  replicas = new Map<string, number>(); // "ns/deployments/name" → replicas
  policy: ScalingPolicy | undefined;
  rv = 100;
  events: FakeEvent[] = [];
  /** Answer the next N status PUTs with 409 (another writer). */
  conflicts = 0;
  failScalePatch = false;
  discovery: Record<string, Array<{ name: string; kind: string; namespaced?: boolean }>> = {
    '/apis/apps/v1': [
      { name: 'deployments', kind: 'Deployment', namespaced: true },
      { name: 'deployments/scale', kind: 'Scale', namespaced: true },
      { name: 'deployments/status', kind: 'Deployment', namespaced: true },
      { name: 'controllerrevisions', kind: 'ControllerRevision', namespaced: true },
    ],
    '/apis/example.dev/v1': [
      { name: 'widgets', kind: 'Widget', namespaced: true },
      { name: 'widgets/scale', kind: 'Scale', namespaced: true },
      { name: 'gadgets', kind: 'Gadget', namespaced: true },
    ],
  };

  constructor(policy?: ScalingPolicy) {
    if (policy) this.setPolicy(policy);
  }

  setPolicy(p: ScalingPolicy): void {
    this.policy = structuredClone(p);
    this.policy.metadata.resourceVersion = String(++this.rv);
  }

  /** The policy as an informer would hand it over. */
  informerCopy(): ScalingPolicy {
    return structuredClone(this.policy!);
  }

  count(method: string, re: RegExp): number {
    return this.requests.filter((r) => r.method === method && re.test(r.path)).length;
  }

  transport: KubeTransport = async (req) => {
    this.requests.push(structuredClone(req));
    const { method, path } = req;
    const body = req.body as Record<string, unknown> | undefined;
    if (method === 'GET' && this.discovery[path]) return { resources: structuredClone(this.discovery[path]) };
    if (method === 'GET' && /^\/apis\/[^/]+\/[^/]+$/.test(path))
      throw new KubeApiError(404, 'NotFound', 'no group');
    const scale = /^\/apis\/[^/]+\/[^/]+\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)\/scale$/.exec(path);
    if (scale) {
      const key = `${scale[1]}/${scale[2]}/${scale[3]}`;
      const n = this.replicas.get(key);
      if (n === undefined) throw new KubeApiError(404, 'NotFound', `${key} not found`);
      if (method === 'GET') return { spec: { replicas: n }, status: { replicas: n } };
      if (method === 'PATCH') {
        if (this.failScalePatch) throw new KubeApiError(500, 'InternalError', 'etcd is down');
        const to = (body as { spec: { replicas: number } }).spec.replicas;
        this.replicas.set(key, to);
        return { spec: { replicas: to } };
      }
    }
    if (/\/scalingpolicies\/[^/]+\/status$/.test(path) && method === 'PUT') {
      if (!this.policy) throw new KubeApiError(404, 'NotFound', 'policy gone');
      const b = body as unknown as ScalingPolicy;
      if (this.conflicts > 0 || b.metadata.resourceVersion !== this.policy.metadata.resourceVersion) {
        if (this.conflicts > 0) {
          this.conflicts--;
          this.policy.metadata.resourceVersion = String(++this.rv);
        }
        throw new KubeApiError(409, 'Conflict', 'the object has been modified');
      }
      this.policy.status = structuredClone(b.status);
      this.policy.metadata.resourceVersion = String(++this.rv);
      return structuredClone(this.policy);
    }
    if (/\/scalingpolicies\/[^/]+$/.test(path) && method === 'GET') {
      if (!this.policy) throw new KubeApiError(404, 'NotFound', 'policy gone');
      return structuredClone(this.policy);
    }
    if (path.endsWith('/events') && method === 'POST') {
      const e = body as unknown as FakeEvent & { metadata: { name: string } };
      this.events.push({
        name: e.metadata.name,
        type: e.type,
        reason: e.reason,
        message: e.message,
        count: 1,
      });
      return body;
    }
    const ev = /\/events\/([^/]+)$/.exec(path);
    if (ev && method === 'PATCH') {
      const e = this.events.find((x) => x.name === ev[1]);
      if (!e) throw new KubeApiError(404, 'NotFound', 'event expired');
      e.count = (body as { count: number }).count;
      return e;
    }
    throw new KubeApiError(500, 'Unexpected', `fake: unexpected ${method} ${path}`);
  };
}
