// Storage migration (`tidemark migrate-storage`): rewrites every stored ScalingPolicy in the
// CRD's storage version, then records that only that version is stored, so a later release
// may stop serving the old one. A no-op update is enough: the API server encodes the object
// in the storage version when it writes it back (what kube-storage-version-migrator does).
// Idempotent: a second run rewrites the same objects again and sets the same list.
import { encode, isConflict, isNotFound, type KubeTransport, listPages } from '../kube/api-client.ts';

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

export async function migrateStorage(o: MigrateOptions): Promise<MigrateResult> {
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
