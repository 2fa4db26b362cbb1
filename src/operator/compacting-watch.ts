// The operator's watches keep only what it reads: a ListWatch caches every object it is
// sent, so at thousands of policies and targets what the cache holds is most of the memory.
import type { KubernetesObject, Watch } from '@kubernetes/client-node';

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
