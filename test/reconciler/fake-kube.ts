import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { KubeApiError, type KubeRequest, type KubeTransport } from '../../src/kube/api-client.ts';

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
  /** Answer the next N status patches with 503 (the API server away). */
  statusFailures = 0;
  /** The status merge patches received, in order. */
  statusPatches: Array<Record<string, unknown>> = [];
  failScaleWrite = false;
  /** Called between a scale read and the next scale write: another writer's chance to move the count. */
  beforeScaleWrite: ((key: string) => void) | undefined;
  /** resourceVersion of each scale, and the count it was given for. */
  readonly #scaleRv = new Map<string, { rv: number; replicas: number }>();
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

  /** A scale's resourceVersion: it moves whenever its count changed, whoever changed it. */
  scaleRv(key: string): string {
    const n = this.replicas.get(key) ?? 0;
    const cur = this.#scaleRv.get(key);
    if (!cur || cur.replicas !== n) this.#scaleRv.set(key, { rv: ++this.rv, replicas: n });
    return String(this.#scaleRv.get(key)!.rv);
  }

  #scale(key: string, req: KubeRequest): unknown {
    const n = this.replicas.get(key);
    if (n === undefined) throw new KubeApiError(404, 'NotFound', `${key} not found`);
    const [namespace, , name] = key.split('/');
    if (req.method === 'GET') {
      return {
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: { name, namespace, resourceVersion: this.scaleRv(key) },
        spec: { replicas: n },
        status: { replicas: n },
      };
    }
    if (req.method !== 'PUT')
      throw new KubeApiError(405, 'MethodNotAllowed', `fake: ${req.method} on a scale`);
    const hook = this.beforeScaleWrite;
    this.beforeScaleWrite = undefined;
    hook?.(key);
    if (this.failScaleWrite) throw new KubeApiError(500, 'InternalError', 'etcd is down');
    const body = req.body as { metadata?: { resourceVersion?: string }; spec: { replicas: number } };
    const rv = body.metadata?.resourceVersion;
    if (rv !== undefined && rv !== this.scaleRv(key))
      throw new KubeApiError(
        409,
        'Conflict',
        'the object has been modified; please apply your changes to the latest version',
      );
    this.replicas.set(key, body.spec.replicas);
    return { spec: { replicas: body.spec.replicas }, metadata: { resourceVersion: this.scaleRv(key) } };
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
    if (scale) return this.#scale(`${scale[1]}/${scale[2]}/${scale[3]}`, req);
    if (/\/scalingpolicies\/[^/]+\/status$/.test(path) && method === 'PATCH') {
      if (!this.policy) throw new KubeApiError(404, 'NotFound', 'policy gone');
      if (this.statusFailures > 0) {
        this.statusFailures--;
        throw new KubeApiError(
          503,
          'ServiceUnavailable',
          'the server is currently unable to handle the request',
        );
      }
      const b = body as { metadata?: { uid?: string }; status: Record<string, unknown> };
      if (b.metadata?.uid !== undefined && b.metadata.uid !== this.policy.metadata.uid)
        throw new KubeApiError(422, 'Invalid', 'metadata.uid: field is immutable');
      this.statusPatches.push(structuredClone(b.status));
      this.policy.status = mergePatch(this.policy.status ?? {}, b.status) as ScalingPolicy['status'];
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

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
