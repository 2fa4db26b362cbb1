// The operator's watches keep only what it reads: a ListWatch caches every object it is
// sent, so at thousands of policies and targets what the cache holds is most of the memory.
import type { KubernetesObject, Watch } from '@kubernetes/client-node';
import type { KubeTransport } from '../kube/api-client.ts';

/** client-node's Watch, as ListWatch uses it. */
export type WatchLike = Pick<Watch, 'watch'>;

/**
 * A Watch whose objects are compacted before the ListWatch caches them
 * (compactTarget, withoutManagedFields: memory). A ListWatch stopped while its list was in flight
 * would still open its watch afterwards: `stopped` keeps that one from starting.
 */
export function compactingWatch(
  w: WatchLike,
  compact: (o: unknown) => KubernetesObject,
  stopped: () => boolean,
): Watch {
  return {
    watch: async (path, query, callback, done) =>
      stopped()
        ? new AbortController()
        : w.watch(
            path,
            query,
            (phase, obj, watchObj) => {
              const keep = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
              callback(phase, keep ? compact(obj) : obj, watchObj);
            },
            done,
          ),
  } as Watch;
}

/**
 * The object without metadata.managedFields: server-side apply's record of who set which
 * field, which the operator never reads and which is 40 % of a ScalingPolicy's JSON (one entry
 * per writer, each listing every field it set), as controller-runtime's
 * TransformStripManagedFields drops it.
 */
export function withoutManagedFields<T>(o: T): T {
  const meta = (o as { metadata?: { managedFields?: unknown } } | undefined)?.metadata;
  if (!meta || meta.managedFields === undefined) return o;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...o, metadata: rest };
}

/** Objects per page of a list: a list of thousands is never one response held at once. */
export const LIST_PAGE_SIZE = 500;

/** A list response: its items and the resourceVersion a watch resumes from. */
export interface PagedList<T> {
  items: T[];
  resourceVersion?: string;
}

/**
 * A list read LIST_PAGE_SIZE objects at a time, each page's items passed through `keep` (which
 * compacts them) before the next page is read: the start-up list of 10,000 policies was one
 * response of tens of MB, parsed whole next to what the operator keeps of it. The pages of one
 * list share the first page's snapshot (the API server's `continue`), so its resourceVersion is
 * the list's. Items `keep` returns undefined for are not collected.
 */
export async function listPaged<T>(
  transport: KubeTransport,
  path: string,
  keep: (o: KubernetesObject) => T | undefined,
  pageSize = LIST_PAGE_SIZE,
): Promise<PagedList<T>> {
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let cont: string | undefined;
  do {
    const query = `limit=${pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
    const page = (await transport({ method: 'GET', path: `${path}?${query}` })) as {
      items?: KubernetesObject[];
      metadata?: { resourceVersion?: string; continue?: string };
    };
    resourceVersion ??= page.metadata?.resourceVersion;
    for (const i of page.items ?? []) {
      const kept = keep(i);
      if (kept !== undefined) items.push(kept);
    }
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return resourceVersion === undefined ? { items } : { items, resourceVersion };
}
