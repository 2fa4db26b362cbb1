// The Lease part of an API server, in memory, as a KubeTransport: get, create,
// update (optimistic concurrency on resourceVersion), delete with a
// resourceVersion precondition, and list by an equality label selector. For
// the membership and leader unit tests, which run several replicas on one fake
// clock.
//
// With a clock, a replica's requests can take time each way (setLatency): the
// request reaches the server `requestMs` after it was sent (the server applies
// or reads it then), and its answer reaches the replica `responseMs` later.
// Instant answers hide the difference between when a replica sent a request
// and when it saw the answer, which is what lease timing rests on.
import { KubeApiError, type KubeRequest, type KubeTransport } from '../../src/kube/api-client.ts';
import type { Clock } from '../../src/operator/scheduler.ts';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** How long one request takes to reach the server, and its answer to come back (ms). */
export interface Latency {
  requestMs?: number;
  responseMs?: number;
}

export type LatencyOf = Latency | ((req: KubeRequest) => Latency);

export type FakeLeaseTransport = KubeTransport & {
  cut(): void;
  heal(): void;
  refuseWrites(on: boolean): void;
  refuseLists(on: boolean): void;
  /** The latency of this replica's next requests (a function: per request). */
  setLatency(l: LatencyOf): void;
};

export class FakeLeaseServer {
  readonly leases = new Map<string, Lease>();
  readonly #clock: Clock | undefined;
  #rv = 0;

  /** A clock is needed only for latency: the delays run on its timers. */
  constructor(clock?: Clock) {
    this.#clock = clock;
  }

  /** A replica's transport; `cut()` makes every request of it fail (a partition), `heal()` ends it. */
  client(latency: LatencyOf = {}): FakeLeaseTransport {
    let cut = false;
    let refuse = false;
    let refuseLists = false;
    let lat = latency;
    const t = (async (req: KubeRequest) => {
      if (cut) throw new Error('connection refused');
      const { requestMs = 0, responseMs = 0 } = typeof lat === 'function' ? lat(req) : lat;
      if (requestMs > 0) await this.#delay(requestMs);
      let answer: { ok: unknown } | { err: unknown };
      try {
        if (refuse && req.method !== 'GET') throw new KubeApiError(503, 'ServiceUnavailable', 'refused');
        if (refuseLists && req.path.includes('?labelSelector=')) {
          throw new KubeApiError(503, 'ServiceUnavailable', 'refused');
        }
        answer = { ok: this.handle(req) };
      } catch (err) {
        answer = { err };
      }
      if (responseMs > 0) await this.#delay(responseMs);
      if ('err' in answer) throw answer.err;
      return answer.ok;
    }) as FakeLeaseTransport;
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
    t.setLatency = (l) => {
      lat = l;
    };
    return t;
  }

  /** Called only for a latency above 0: without one the answer comes in the same turn, as before. */
  async #delay(ms: number): Promise<void> {
    const clock = this.#clock;
    if (!clock) throw new Error('FakeLeaseServer: latency needs a clock');
    await new Promise<void>((r) => clock.setTimeout(r, ms));
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
