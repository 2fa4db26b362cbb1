import { encode, groupVersionPath, isNotFound, type KubeTransport } from './api-client.ts';

/**
 * Where a kind keeps what its scale subresource shows: the CRD's
 * `subresources.scale` (JSON paths such as `.spec.replicas`).
 */
export interface ScalePaths {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

/**
 * The apps/v1 kinds: their scale's selector is `spec.selector` (a LabelSelector
 * object) in its string form.
 */
export const APPS_SCALE_PATHS: ScalePaths = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.spec.selector',
};

/** The kinds whose scale paths are built in (no CRD to read). */
export const BUILT_IN_SCALE_PATHS: ReadonlyMap<string, ScalePaths> = new Map([
  ['apps/v1 Deployment', APPS_SCALE_PATHS],
  ['apps/v1 StatefulSet', APPS_SCALE_PATHS],
  ['apps/v1 ReplicaSet', APPS_SCALE_PATHS],
]);

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

/** The kind's scale paths, or why they are unknown (the tick then reads the scale subresource). */
export type ScalePathsResult = { paths: ScalePaths } | { unknown: string };

/**
 * Where a kind keeps the values its scale subresource shows: built in for the
 * apps/v1 kinds, else the `subresources.scale` of its CRD for the version named.
 * A CRD that cannot be read (no RBAC grant for it, an aggregated API that is no
 * CRD) leaves them unknown.
 */
export async function learnScalePaths(
  transport: KubeTransport,
  r: ScalableResource,
): Promise<ScalePathsResult> {
  const builtIn = BUILT_IN_SCALE_PATHS.get(`${r.apiVersion} ${r.kind}`);
  if (builtIn) return { paths: builtIn };
  const [group, version] = r.apiVersion.includes('/') ? r.apiVersion.split('/') : ['', r.apiVersion];
  if (!group) return { unknown: `${r.kind} is a built-in kind of the core group (no CRD)` };
  const crd = `${r.plural}.${group}`;
  let obj: CrdLike;
  try {
    obj = (await transport({ method: 'GET', path: `${CRD_PATH}/${encode(crd)}` })) as CrdLike;
  } catch (err) {
    return { unknown: `reading CustomResourceDefinition ${crd} failed: ${(err as Error).message}` };
  }
  const scale = obj?.spec?.versions?.find((v) => v.name === version)?.subresources?.scale;
  if (!scale?.specReplicasPath || !scale.statusReplicasPath) {
    return { unknown: `CustomResourceDefinition ${crd} declares no scale paths for ${version}` };
  }
  return {
    paths: {
      specReplicasPath: scale.specReplicasPath,
      statusReplicasPath: scale.statusReplicasPath,
      ...(scale.labelSelectorPath ? { labelSelectorPath: scale.labelSelectorPath } : {}),
    },
  };
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

interface CrdLike {
  spec?: {
    versions?: Array<{
      name: string;
      subresources?: { scale?: Partial<ScalePaths> };
    }>;
  };
}
