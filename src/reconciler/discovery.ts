import { encode, groupVersionPath, isNotFound, type KubeTransport } from './kube.ts';

export interface ScalableResource {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** Why a targetRef cannot be scaled, beyond "the object does not exist". */
export class TargetResolveError extends Error {
  readonly kind: 'UnknownGroupVersion' | 'UnknownKind' | 'NoScaleSubresource' | 'ClusterScoped';
  constructor(kind: TargetResolveError['kind'], message: string) {
    super(message);
    this.name = 'TargetResolveError';
    this.kind = kind;
  }
}

interface ApiResourceList {
  resources?: Array<{ name: string; kind: string; namespaced?: boolean }>;
}

interface Entry {
  at: number;
  list: Promise<ApiResourceList | undefined>;
}

/**
 * Resolves apiVersion + kind to the resource's plural through API discovery, and
 * checks that it has a scale subresource: any kind that has one can be a target,
 * including custom resources installed after the operator started. One discovery
 * request per group-version, cached; a miss re-reads (at most every
 * `missRefreshMs`) so that a newly installed CRD is found without a restart.
 */
export class DiscoveryCache {
  readonly #transport: KubeTransport;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #missRefreshMs: number;
  readonly #cache = new Map<string, Entry>();

  constructor(
    transport: KubeTransport,
    opts: { now?: () => number; ttlMs?: number; missRefreshMs?: number } = {},
  ) {
    this.#transport = transport;
    this.#now = opts.now ?? Date.now;
    this.#ttlMs = opts.ttlMs ?? 10 * 60_000;
    this.#missRefreshMs = opts.missRefreshMs ?? 5_000;
  }

  async resolve(apiVersion: string, kind: string): Promise<ScalableResource> {
    let entry = this.#entry(apiVersion, false);
    let found = find(await entry.list, kind);
    if (!found && this.#now() - entry.at >= this.#missRefreshMs) {
      entry = this.#entry(apiVersion, true);
      found = find(await entry.list, kind);
    }
    const list = await entry.list;
    if (!list)
      throw new TargetResolveError('UnknownGroupVersion', `the API server does not serve ${apiVersion}`);
    if (!found) throw new TargetResolveError('UnknownKind', `${apiVersion} has no kind ${kind}`);
    if (!found.hasScale) {
      throw new TargetResolveError(
        'NoScaleSubresource',
        `${kind} (${found.plural}.${apiVersion}) has no scale subresource`,
      );
    }
    if (!found.namespaced) throw new TargetResolveError('ClusterScoped', `${kind} is cluster-scoped`);
    return { apiVersion, kind, plural: found.plural, namespaced: found.namespaced };
  }

  /** The scale subresource path of a target in a namespace. */
  static scalePath(r: ScalableResource, namespace: string, name: string): string {
    return `${groupVersionPath(r.apiVersion)}/namespaces/${encode(namespace)}/${r.plural}/${encode(name)}/scale`;
  }

  #entry(apiVersion: string, refresh: boolean): Entry {
    const cached = this.#cache.get(apiVersion);
    if (cached && !refresh && this.#now() - cached.at < this.#ttlMs) return cached;
    const entry: Entry = {
      at: this.#now(),
      list: (
        this.#transport({ method: 'GET', path: groupVersionPath(apiVersion) }) as Promise<ApiResourceList>
      )
        .then((l) => l ?? {})
        .catch((err) => {
          if (isNotFound(err)) return undefined;
          // Transient: forget the entry so the next tick asks again.
          this.#cache.delete(apiVersion);
          throw err;
        }),
    };
    this.#cache.set(apiVersion, entry);
    return entry;
  }
}

function find(list: ApiResourceList | undefined, kind: string) {
  const resources = list?.resources ?? [];
  const main = resources.find((r) => r.kind === kind && !r.name.includes('/'));
  if (!main) return undefined;
  return {
    plural: main.name,
    namespaced: main.namespaced !== false,
    hasScale: resources.some((r) => r.name === `${main.name}/scale`),
  };
}
