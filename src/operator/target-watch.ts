// The targets of the policies, held by watches (issue 12): one ListWatch per
// target kind and watched namespace, started the first time a tick names the
// kind and stopped when no policy names it any more. A tick then reads its
// target from memory, and the API server sees the scale writes and the watches,
// no GET per tick. Where a kind cannot be watched (its CRD cannot be read, no
// list/watch grant) the tick reads GET …/scale as before, and a log line says so.
import { type KubeConfig, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { encode, groupVersionPath, KubeApiError, type KubeTransport } from '../kube/api-client.ts';
import {
  learnScalePaths,
  type ScalableResource,
  type ScalePaths,
  type ScalePathsResult,
} from '../kube/discovery.ts';
import { compactTarget, scaleOf, type TargetCache, type TargetLookup } from '../reconciler/targets.ts';
import { compactingWatch, listPaged, type WatchLike } from './compacting-watch.ts';
import { restartOnError } from './informer-restart.ts';

export interface TargetWatchOptions {
  kubeconfig: KubeConfig;
  /** For the lists and the CRD reads (the operator's shared, rate-limited transport). */
  transport: KubeTransport;
  /** The operator's namespaces; empty or undefined: all. */
  namespaces?: readonly string[];
  log: Logger;
  /** Whether a policy still names this kind: a tick of a policy deleted meanwhile starts no watch. */
  wanted: (apiVersion: string, kind: string) => boolean;
  /** How long a kind that could not be watched is read with GETs before the watch is tried again. */
  retryUnwatchableMs?: number;
  now?: () => number;
  /** Tests: the watch client (client-node's Watch by default). */
  watch?: WatchLike;
}

/** One namespace scope of one kind. */
interface Scope {
  informer: ListWatch<KubernetesObject>;
  synced: boolean;
  stopped: boolean;
  timer?: NodeJS.Timeout;
}

/** One kind: learning its scale paths, watched, or read with GETs until `retryAt`. */
type KindState =
  | { state: 'learning' }
  | { state: 'watching'; paths: ScalePaths; scopes: Map<string, Scope> }
  | { state: 'unwatchable'; retryAt: number };

const ALL = '';

export const kindKey = (apiVersion: string, kind: string) => `${apiVersion} ${kind}`;

export class TargetWatches implements TargetCache {
  readonly #o: TargetWatchOptions;
  readonly #now: () => number;
  readonly #kinds = new Map<string, KindState>();
  #stopped = false;

  constructor(o: TargetWatchOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  lookup(r: ScalableResource, namespace: string, name: string): TargetLookup | undefined {
    const key = kindKey(r.apiVersion, r.kind);
    const k = this.#kinds.get(key);
    if (!k || (k.state === 'unwatchable' && this.#now() >= k.retryAt)) {
      if (!this.#stopped && this.#o.wanted(r.apiVersion, r.kind)) this.#start(key, r);
      return undefined;
    }
    if (k.state !== 'watching') return undefined;
    const scope = k.scopes.get(this.#o.namespaces?.length ? namespace : ALL);
    if (!scope?.synced) return undefined;
    const obj = scope.informer.get(name, namespace);
    return obj ? { found: true, scale: scaleOf(obj, k.paths), object: obj } : { found: false };
  }

  /** No policy names the kind any more: its watches stop. */
  release(apiVersion: string, kind: string): void {
    const key = kindKey(apiVersion, kind);
    const k = this.#kinds.get(key);
    this.#kinds.delete(key);
    if (k?.state !== 'watching') return;
    this.#stopScopes(k.scopes);
    this.#o.log.info({ target: key }, 'no policy names this target kind: its watch stopped');
  }

  /** Kinds watched now and synced in every scope (for tests and logs). */
  synced(apiVersion: string, kind: string): boolean {
    const k = this.#kinds.get(kindKey(apiVersion, kind));
    return k?.state === 'watching' && [...k.scopes.values()].every((s) => s.synced);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const all = [...this.#kinds.values()];
    this.#kinds.clear();
    for (const k of all) if (k.state === 'watching') this.#stopScopes(k.scopes);
  }

  #start(key: string, r: ScalableResource): void {
    this.#kinds.set(key, { state: 'learning' });
    learnScalePaths(this.#o.transport, r)
      .catch((err): ScalePathsResult => ({ unknown: String(err) }))
      .then((learned) => {
        // Released or stopped meanwhile: nothing to start.
        if (this.#kinds.get(key)?.state !== 'learning') return;
        if ('unknown' in learned) return this.#unwatchable(key, learned.unknown);
        const scopes = new Map<string, Scope>();
        this.#kinds.set(key, { state: 'watching', paths: learned.paths, scopes });
        const namespaces = this.#o.namespaces?.length ? this.#o.namespaces : [ALL];
        for (const ns of namespaces) scopes.set(ns, this.#watchScope(key, r, learned.paths, ns));
        this.#o.log.info(
          { target: key, namespaces: namespaces.map((n) => n || '*'), scalePaths: learned.paths },
          'watching targets of this kind',
        );
      });
  }

  #unwatchable(key: string, why: string): void {
    const retryMs = this.#o.retryUnwatchableMs ?? 10 * 60_000;
    const k = this.#kinds.get(key);
    if (k?.state === 'watching') this.#stopScopes(k.scopes);
    this.#kinds.set(key, { state: 'unwatchable', retryAt: this.#now() + retryMs });
    this.#o.log.warn(
      { target: key, reason: why, retryInMs: retryMs },
      'cannot watch targets of this kind: each tick reads its scale with a GET',
    );
  }

  #watchScope(key: string, r: ScalableResource, paths: ScalePaths, ns: string): Scope {
    const path = ns
      ? `${groupVersionPath(r.apiVersion)}/namespaces/${encode(ns)}/${r.plural}`
      : `${groupVersionPath(r.apiVersion)}/${r.plural}`;
    const compact = (o: unknown) => compactTarget(o, paths) as unknown as KubernetesObject;
    const scope = { synced: false, stopped: false } as Scope;
    const list = async () => {
      const res = await listPaged(this.#o.transport, path, compact);
      // The ListWatch adds the listed items right after this resolves; then it has synced.
      setImmediate(() => {
        if (scope.synced) return;
        scope.synced = true;
        this.#o.log.info(
          { target: key, namespace: ns || '*', objects: res.items.length },
          'target watch synced',
        );
      });
      return {
        items: res.items,
        metadata: res.resourceVersion === undefined ? {} : { resourceVersion: res.resourceVersion },
      } as never;
    };
    scope.informer = new ListWatch<KubernetesObject>(
      path,
      compactingWatch(this.#o.watch ?? new Watch(this.#o.kubeconfig), compact, () => scope.stopped),
      list,
      false,
    );
    this.#restartOnError(key, scope);
    scope.informer.start().catch(() => {});
    return scope;
  }

  /**
   * A ListWatch stops on an error. Forbidden or gone (no list/watch grant, the
   * CRD deleted): the kind is read with GETs for a while; else it starts again
   * with backoff, serving what it holds meanwhile (a count changed in between
   * makes the scale write meet a 409, and the tick re-reads with a GET).
   */
  #restartOnError(key: string, scope: Scope): void {
    restartOnError(scope.informer, {
      onError: (err, retryInMs) => {
        if (this.#stopped || scope.stopped) return false;
        const status = statusOf(err);
        if (status === 401 || status === 403 || status === 404) {
          this.#unwatchable(key, `list/watch answered ${status}: ${errText(err)}`);
          return false;
        }
        this.#o.log.warn({ target: key, err: errText(err), retryInMs }, 'target watch failed; restarting');
        return true;
      },
      schedule: (restart, ms) => {
        scope.timer = setTimeout(() => {
          scope.timer = undefined;
          if (!this.#stopped && !scope.stopped) restart();
        }, ms);
      },
    });
  }

  #stopScopes(scopes: Map<string, Scope>): void {
    for (const s of scopes.values()) {
      s.stopped = true;
      if (s.timer) clearTimeout(s.timer);
      s.informer.stop().catch(() => {});
    }
  }
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.status;
  const e = err as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode ?? (typeof e?.code === 'number' ? e.code : undefined);
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
