// Storage migration (`tidemark migrate-storage`): rewrites every stored ScalingPolicy in the
// CRD's storage version, then records that only that version is stored, so a later release
// may stop serving the old one. A no-op update is enough: the API server encodes the object
// in the storage version when it writes it back (what kube-storage-version-migrator does).
// Idempotent: a second run rewrites the same objects again and sets the same list.
import {
  encode,
  isConflict,
  isNotFound,
  KubeApiError,
  type KubeRequest,
  type KubeTransport,
  listPages,
} from '../kube/api-client.ts';

export interface MigrateOptions {
  transport: KubeTransport;
  crdName: string;
  /** One progress line at a time, e.g. to stderr. */
  progress?: (line: string) => void;
  pageSize?: number;
}

export interface MigrateResult {
  storageVersion: string;
  rewritten: number;
  /** Deleted between the list and their rewrite: nothing to migrate. */
  gone: number;
  storedVersionsBefore: string[];
  storedVersions: string[];
}

interface Crd {
  spec: { group: string; names: { plural: string }; versions: Array<{ name: string; storage: boolean }> };
  status?: { storedVersions?: string[] };
}

interface Item {
  metadata: { name: string; namespace: string; resourceVersion?: string };
}

const CONFLICT_RETRIES = 5;

/**
 * A 403 during the migration, said as the one RBAC grant it lacks. The shipped RBAC does not
 * grant the migration's writes (update on every ScalingPolicy, patch of the CRD's status): a
 * one-off step after an upgrade is no reason to give the operator those rights for good.
 */
export class MigrationForbiddenError extends Error {
  override name = 'MigrationForbiddenError';
}

const VERBS: Record<KubeRequest['method'], string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};
const CLUSTER_SCOPED = new Set(['customresourcedefinitions']);

/** The RBAC grant a request needs, in the words of a rule: verb, resource, group, name, scope. */
export function grantOf(req: KubeRequest): string {
  const segs = (req.path.split('?')[0] ?? '').split('/').filter(Boolean);
  const group = segs[0] === 'apis' ? segs[1]! : '';
  let rest = segs.slice(segs[0] === 'apis' ? 3 : 2);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = decodeURIComponent(rest[1]!);
    rest = rest.slice(2);
  }
  const [resource, name, sub] = rest;
  const verb = req.method === 'GET' && name === undefined ? 'list' : VERBS[req.method];
  const scope = namespace
    ? `in namespace ${namespace}`
    : CLUSTER_SCOPED.has(resource ?? '')
      ? '(cluster-scoped)'
      : 'in every namespace (a ClusterRole)';
  const named = name === undefined ? '' : ` named ${decodeURIComponent(name)}`;
  return `\`${verb}\` on ${resource}${sub ? `/${sub}` : ''} in API group ${group || '"" (core)'}${named} ${scope}`;
}

/** The transport, with a 403 turned into the one line that names the missing grant. */
function sayingMissingGrants(transport: KubeTransport): KubeTransport {
  return async (req) => {
    try {
      return await transport(req);
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 403) throw err;
      throw new MigrationForbiddenError(
        `storage migration needs ${grantOf(req)}, which the identity it runs as is not granted (403 Forbidden): ` +
          "grant it for the migration (docs/install.md, 'Storage migration') or run `tidemark migrate-storage` " +
          "with a cluster administrator's kubeconfig",
      );
    }
  };
}

export async function migrateStorage(options: MigrateOptions): Promise<MigrateResult> {
  const o = { ...options, transport: sayingMissingGrants(options.transport) };
  const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encode(o.crdName)}`;
  const crd = (await o.transport({ method: 'GET', path: crdPath })) as Crd;
  const storage = crd.spec.versions.find((v) => v.storage)?.name;
  if (!storage) throw new Error(`${o.crdName} has no storage version`);
  const base = `/apis/${crd.spec.group}/${storage}`;
  const plural = crd.spec.names.plural;
  const result: MigrateResult = {
    storageVersion: storage,
    rewritten: 0,
    gone: 0,
    storedVersionsBefore: crd.status?.storedVersions ?? [],
    storedVersions: [],
  };
  for await (const page of listPages<Item>(o.transport, `${base}/${plural}`, o.pageSize ?? 500)) {
    for (const item of page.items) {
      if (
        await rewrite(o.transport, `${base}/namespaces/${encode(item.metadata.namespace)}/${plural}`, item)
      ) {
        result.rewritten++;
      } else result.gone++;
    }
    o.progress?.(`rewrote ${result.rewritten} ${plural} in ${storage}${page.more ? ', more to come' : ''}`);
  }
  // Only after every object is rewritten: from here on nothing in etcd is in another version.
  const patched = (await o.transport({
    method: 'PATCH',
    path: `${crdPath}/status`,
    body: { status: { storedVersions: [storage] } },
  })) as Crd;
  result.storedVersions = patched.status?.storedVersions ?? [];
  o.progress?.(`${o.crdName} status.storedVersions: [${result.storedVersions.join(', ')}]`);
  return result;
}

/** PUTs the object back unchanged; on a conflict (someone wrote meanwhile) reads it again. False when it is gone. */
async function rewrite(transport: KubeTransport, collection: string, first: Item): Promise<boolean> {
  const path = `${collection}/${encode(first.metadata.name)}`;
  let item = first;
  for (let attempt = 0; ; attempt++) {
    try {
      await transport({ method: 'PUT', path, body: item });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
    }
    try {
      item = (await transport({ method: 'GET', path })) as Item;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
