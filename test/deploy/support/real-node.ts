// The sandbox's real node (sandbox/real-node.sh) as test/deploy/real-node.e2e.ts sees it: its
// network facts, the operator pods' metrics (read from the host over the node's pod route),
// and a server-side record of the leader Lease.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Watch } from '@kubernetes/client-node';
import { kubeConfig, sandboxEnv } from '../../support/sandbox.ts';

/** What `real-node.sh up` wrote to .sandbox/node/network.json. */
export interface NodeNetwork {
  hostIp: string;
  nodeIp: string;
  podSubnet: string;
  /** Prometheus as a pod on the node reaches it (a proxy on the host end of the veth). */
  prometheusUrl: string;
}

export function nodeNetwork(): NodeNetwork {
  return JSON.parse(readFileSync(join(sandboxEnv().dir, 'node', 'network.json'), 'utf8')) as NodeNetwork;
}

/** One series' value in a Prometheus text exposition (0 when absent). */
export function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** The pod's metrics page, straight from its IP (the host routes the node's pod subnet). */
export async function podMetrics(podIp: string, port = 8080): Promise<string> {
  const res = await fetch(`http://${podIp}:${port}/metrics`);
  if (!res.ok) throw new Error(`GET http://${podIp}:${port}/metrics: ${res.status}`);
  return res.text();
}

/** A version of the Lease as the API server wrote it. */
export interface LeaseVersion {
  /** etcd's revision of the write (one etcd here: a global order across objects). */
  resourceVersion: number;
  holder: string;
  /** When the watch delivered it (performance.now()): the test's clock, for hand-over times. */
  seenAt: number;
}

/**
 * Every version of a Lease from now on, by a watch from the version read at the start, so no
 * write is missed between two polls.
 */
export class LeaseHistory {
  readonly versions: LeaseVersion[] = [];
  #abort: AbortController | undefined;

  private constructor() {}

  static async start(namespace: string, name: string): Promise<LeaseHistory> {
    const h = new LeaseHistory();
    const watch = new Watch(kubeConfig());
    let failed: unknown;
    h.#abort = await watch.watch(
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      { fieldSelector: `metadata.name=${name}` },
      (
        _type: string,
        obj: {
          metadata: { resourceVersion: string };
          spec: { holderIdentity?: string };
        },
      ) => {
        h.versions.push({
          resourceVersion: Number(obj.metadata.resourceVersion),
          holder: obj.spec.holderIdentity ?? '',
          seenAt: performance.now(),
        });
      },
      (err: unknown) => {
        if (err && !h.#abort?.signal.aborted) failed = err;
      },
    );
    h.#failed = () => failed;
    return h;
  }

  #failed: () => unknown = () => undefined;

  /** Stops watching; throws if the watch broke (a gap in the record). */
  stop(): LeaseVersion[] {
    this.#abort?.abort();
    const err = this.#failed();
    if (err) throw new Error(`the Lease watch broke: ${String(err)}`);
    return this.versions;
  }

  /**
   * The revision of the first write after which `identity` no longer held the Lease (released
   * or taken over); undefined while it still holds it, or if it never held it in the record.
   */
  fenceOf(identity: string): number | undefined {
    let held = false;
    for (const v of this.versions) {
      if (v.holder === identity) held = true;
      else if (held) return v.resourceVersion;
    }
    return undefined;
  }

  /**
   * Milliseconds from the write that took the Lease from `identity` to the first write naming
   * another holder (0 when that same write named one: a direct take-over).
   */
  handOverMs(identity: string): number | undefined {
    const fence = this.fenceOf(identity);
    const from = this.versions.find((v) => v.resourceVersion === fence);
    const to = this.versions.find(
      (v) => v.resourceVersion >= (fence ?? 0) && v.holder && v.holder !== identity,
    );
    return from && to ? to.seenAt - from.seenAt : undefined;
  }
}
