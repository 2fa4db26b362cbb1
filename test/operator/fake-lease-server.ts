// The Lease part of an API server, in memory, as a KubeTransport: get, create,
// update (optimistic concurrency on resourceVersion), delete with a
// resourceVersion precondition, and list by an equality label selector. For
// the membership unit tests, which run several replicas on one fake clock.
import { KubeApiError, type KubeRequest, type KubeTransport } from '../../src/kube/api-client.ts';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

export class FakeLeaseServer {
  readonly leases = new Map<string, Lease>();
  #rv = 0;

  /** A replica's transport; `cut()` makes every request of it fail (a partition), `heal()` ends it. */
  client(): KubeTransport & {
    cut(): void;
    heal(): void;
    refuseWrites(on: boolean): void;
    refuseLists(on: boolean): void;
  } {
    let cut = false;
    let refuse = false;
    let refuseLists = false;
    const t = (async (req: KubeRequest) => {
      if (cut) throw new Error('connection refused');
      if (refuse && req.method !== 'GET') throw new KubeApiError(503, 'ServiceUnavailable', 'refused');
      if (refuseLists && req.path.includes('?labelSelector=')) {
        throw new KubeApiError(503, 'ServiceUnavailable', 'refused');
      }
      return this.handle(req);
    }) as KubeTransport & {
      cut(): void;
      heal(): void;
      refuseWrites(on: boolean): void;
      refuseLists(on: boolean): void;
    };
    t.refuseLists = (on) => {
      refuseLists = on;
    };
    t.cut = () => {
      cut = true;
    };
    t.heal = () => {
      cut = false;
    };
    t.refuseWrites = (on) => {
      refuse = on;
    };
    return t;
  }

  handle(req: KubeRequest): unknown {
    const m =
      /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/?]+))?(?:\?labelSelector=(.*))?$/.exec(
        req.path,
      );
    if (!m) throw new KubeApiError(404, 'NotFound', req.path);
    const [, ns, name, selector] = m;
    const key = (n: string) => `${ns}/${n}`;
    if (req.method === 'GET' && !name) {
      const [k, v] = decodeURIComponent(selector ?? '').split('=');
      const items = [...this.leases.values()].filter(
        (l) => l.metadata.namespace === ns && (!k || l.metadata.labels?.[k] === v),
      );
      return structuredClone({ items });
    }
    if (req.method === 'POST') {
      const body = structuredClone(req.body) as Lease;
      if (this.leases.has(key(body.metadata.name))) throw new KubeApiError(409, 'AlreadyExists', 'exists');
      body.metadata.resourceVersion = String(++this.#rv);
      this.leases.set(key(body.metadata.name), body);
      return structuredClone(body);
    }
    const cur = this.leases.get(key(name ?? ''));
    if (!cur) throw new KubeApiError(404, 'NotFound', `${name} not found`);
    if (req.method === 'GET') return structuredClone(cur);
    if (req.method === 'PUT') {
      const body = structuredClone(req.body) as Lease;
      if (body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        throw new KubeApiError(409, 'Conflict', 'conflict');
      }
      body.metadata.resourceVersion = String(++this.#rv);
      this.leases.set(key(body.metadata.name), body);
      return structuredClone(body);
    }
    if (req.method === 'DELETE') {
      const pre = (req.body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions;
      if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
        throw new KubeApiError(409, 'Conflict', 'precondition');
      }
      this.leases.delete(key(name ?? ''));
      return {};
    }
    throw new KubeApiError(405, 'MethodNotAllowed', req.method);
  }
}
