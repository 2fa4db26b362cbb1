// The Prometheus allow-list as the operator holds it: the entries it was started with
// (--allowed-prometheus, or its defaults) plus, optionally, those of a ConfigMap in its own
// namespace, watched so an edit applies without a restart (issue 7, security).
//
// A ConfigMap entry that does not parse is left out and logged: leaving it out can only
// allow less than meant, never more, and one typo must not take down a running operator.
// A missing ConfigMap (or a missing `allowed` key) contributes nothing.
import { type KubeConfig, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type AddressCheck, AddressPolicy } from '../collector/index.ts';
import { encode, type KubeTransport } from '../kube/api-client.ts';

/** The ConfigMap key holding the allowed base URLs. */
export const ALLOW_LIST_KEY = 'allowed';

export interface ParsedAllowList {
  entries: string[];
  invalid: Array<{ entry: string; reason: string }>;
}

/**
 * The `allowed` value: base URLs separated by newlines and/or commas; blank items are
 * ignored, and `#` starts a comment to the end of the line (an allowed address can never
 * contain `#`, fragments are refused).
 */
export function parseAllowList(text: string | undefined): ParsedAllowList {
  const out: ParsedAllowList = { entries: [], invalid: [] };
  if (!text) return out;
  for (const line of text.split(/\r?\n/)) {
    for (const raw of line.replace(/#.*$/, '').split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      try {
        new AddressPolicy([entry]);
      } catch (err) {
        // The entry is logged: a user:password@ in it must not be.
        out.invalid.push({
          entry: entry.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1[redacted]@'),
          reason: err instanceof Error ? err.message : String(err),
        });
        continue;
      }
      if (!out.entries.includes(entry)) out.entries.push(entry);
    }
  }
  return out;
}

/** The entries a ConfigMap contributes; undefined (deleted or absent) contributes none. */
export function allowListFromConfigMap(
  cm: { data?: Record<string, string> | null } | undefined,
): ParsedAllowList {
  return parseAllowList(cm?.data?.[ALLOW_LIST_KEY] ?? undefined);
}

/** What the collector and the reconciler check addresses against; its ConfigMap part can change at any time. */
export class AllowList {
  readonly #static: readonly string[];
  #fromConfigMap: readonly string[] = [];
  #policy: AddressPolicy;

  /** @param staticEntries from the flag (or its defaults): an invalid one throws, the operator should not start. */
  constructor(staticEntries: readonly string[]) {
    this.#static = [...staticEntries];
    this.#policy = new AddressPolicy(this.#static);
  }

  /** Replaces the ConfigMap's part (entries already parsed by parseAllowList, so none throws). */
  setConfigMapEntries(entries: readonly string[]): void {
    this.#fromConfigMap = [...entries];
    this.#policy = new AddressPolicy([...this.#static, ...this.#fromConfigMap]);
  }

  /** The normalised entries in force. */
  get entries(): string[] {
    return this.#policy.entries;
  }

  get configMapEntries(): readonly string[] {
    return this.#fromConfigMap;
  }

  check(address: string): AddressCheck {
    return this.#policy.check(address);
  }
}

/** The part of client-node's ListWatch the watcher uses (a fake in tests). */
export interface ConfigMapInformer {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: KubernetesObject) => void): void;
  on(verb: 'error', cb: (err: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ConfigMapWatchOptions {
  allowList: AllowList;
  namespace: string;
  name: string;
  log: Logger;
  informer: ConfigMapInformer;
  /** First retry after a failed list or watch; doubles up to 30 s. */
  retryMs?: number;
}

/**
 * Keeps `allowList`'s ConfigMap part equal to the ConfigMap. `started` resolves after the
 * first list (successful or not), so the operator can load it before its first tick.
 */
export function watchAllowListConfigMap(o: ConfigMapWatchOptions): {
  started: Promise<void>;
  stop(): Promise<void>;
} {
  const { allowList, namespace, name, log, informer } = o;
  const where = `${namespace}/${name}`;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = o.retryMs ?? 1000;
  const apply = (cm: KubernetesObject | undefined) => {
    if (cm && cm.metadata?.name !== name) return;
    const parsed = allowListFromConfigMap(cm as { data?: Record<string, string> } | undefined);
    for (const bad of parsed.invalid) {
      log.warn(
        { configMap: where, entry: bad.entry, reason: bad.reason },
        'Prometheus allow-list ConfigMap: entry ignored',
      );
    }
    const before = allowList.configMapEntries.join('\n');
    allowList.setConfigMapEntries(parsed.entries);
    if (before !== parsed.entries.join('\n') || !cm) {
      log.info(
        { configMap: where, present: cm !== undefined, allowedPrometheus: allowList.entries },
        'Prometheus allow-list reloaded',
      );
    }
  };
  informer.on('add', (cm) => {
    delay = o.retryMs ?? 1000;
    apply(cm);
  });
  informer.on('update', (cm) => {
    delay = o.retryMs ?? 1000;
    apply(cm);
  });
  informer.on('delete', (cm) => {
    if (cm.metadata?.name === name) apply(undefined);
  });
  // The watch stops on an error (API server restart, forbidden, expired): start it again with backoff.
  informer.on('error', (err) => {
    if (stopped) return;
    log.warn({ configMap: where, err: String(err), retryInMs: delay }, 'allow-list ConfigMap watch failed');
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) informer.start().catch(() => {});
    }, delay);
    timer.unref?.();
    delay = Math.min(delay * 2, 30_000);
  });
  return {
    started: informer.start().catch(() => {}),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop().catch(() => {});
    },
  };
}

/** A ListWatch on the one ConfigMap (by field selector: no other ConfigMap is read). */
export function configMapInformer(
  kc: KubeConfig,
  transport: KubeTransport,
  namespace: string,
  name: string,
): ConfigMapInformer {
  const path = `/api/v1/namespaces/${encode(namespace)}/configmaps`;
  const selector = `metadata.name=${name}`;
  const list = async () => {
    const res = (await transport({
      method: 'GET',
      path: `${path}?fieldSelector=${encodeURIComponent(selector)}`,
    })) as { items?: KubernetesObject[]; metadata?: { resourceVersion?: string } };
    return {
      ...res,
      items: (res.items ?? []).map((i) => ({ ...i, apiVersion: 'v1', kind: 'ConfigMap' })),
    } as never;
  };
  return new ListWatch<KubernetesObject>(path, new Watch(kc), list, false, undefined, selector);
}
