import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { encode, isNotFound, type KubeTransport } from './kube.ts';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

interface Seen {
  eventName: string;
  count: number;
  firstTimestamp: string;
  lastSeen: number;
}

export type AggregateAction =
  | { kind: 'create'; count: 1 }
  | { kind: 'update'; eventName: string; count: number; firstTimestamp: string };

/**
 * Folds repeats of the same Event (same object, type, reason and message) into
 * one Event with a growing count, as client-go's event correlator does, so a
 * flapping condition shows as "x12 over 5m" in `kubectl describe` rather than
 * as a wall of lines. Bounded: the oldest keys are forgotten first.
 */
export class EventAggregator {
  readonly #seen = new Map<string, Seen>();
  readonly #windowMs: number;
  readonly #maxKeys: number;

  constructor(opts: { windowMs?: number; maxKeys?: number } = {}) {
    this.#windowMs = opts.windowMs ?? 30 * 60_000;
    this.#maxKeys = opts.maxKeys ?? 10_000;
  }

  static key(obj: InvolvedObject, e: EventSpec): string {
    return [obj.namespace, obj.name, obj.uid ?? '', e.type, e.reason, e.message].join('\u0000');
  }

  /** What to do with this occurrence; call recorded() once the API call succeeded. */
  plan(key: string, now: number): AggregateAction {
    const s = this.#seen.get(key);
    if (s && now - s.lastSeen < this.#windowMs) {
      return { kind: 'update', eventName: s.eventName, count: s.count + 1, firstTimestamp: s.firstTimestamp };
    }
    return { kind: 'create', count: 1 };
  }

  recorded(key: string, eventName: string, count: number, firstTimestamp: string, now: number): void {
    this.#seen.delete(key);
    this.#seen.set(key, { eventName, count, firstTimestamp, lastSeen: now });
    while (this.#seen.size > this.#maxKeys) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
  }

  forget(key: string): void {
    this.#seen.delete(key);
  }
}

/** Records core/v1 Events (what `kubectl describe` lists), aggregating repeats. */
export class EventRecorder {
  readonly #transport: KubeTransport;
  readonly #aggregator: EventAggregator;
  readonly #component: string;
  readonly #instance: string;
  readonly #now: () => number;
  readonly #log: Logger | undefined;

  constructor(
    transport: KubeTransport,
    opts: {
      instance: string;
      component?: string;
      now?: () => number;
      log?: Logger;
      aggregator?: EventAggregator;
    },
  ) {
    this.#transport = transport;
    this.#instance = opts.instance;
    this.#component = opts.component ?? 'tidemark';
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#aggregator = opts.aggregator ?? new EventAggregator();
  }

  /** Never throws: an Event that cannot be written is logged, not allowed to fail a tick. */
  async record(obj: InvolvedObject, e: EventSpec): Promise<void> {
    const key = EventAggregator.key(obj, e);
    const now = this.#now();
    const nowIso = new Date(now).toISOString();
    const base = `/api/v1/namespaces/${encode(obj.namespace)}/events`;
    const plan = this.#aggregator.plan(key, now);
    try {
      if (plan.kind === 'update') {
        try {
          await this.#transport({
            method: 'PATCH',
            path: `${base}/${encode(plan.eventName)}`,
            body: { count: plan.count, lastTimestamp: nowIso },
          });
          this.#aggregator.recorded(key, plan.eventName, plan.count, plan.firstTimestamp, now);
          return;
        } catch (err) {
          // Events expire (1 h by default); start a new one.
          if (!isNotFound(err)) throw err;
          this.#aggregator.forget(key);
        }
      }
      const name = `${obj.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`;
      await this.#transport({
        method: 'POST',
        path: base,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace: obj.namespace },
          involvedObject: obj,
          type: e.type,
          reason: e.reason,
          message: e.message.slice(0, 1024),
          count: 1,
          firstTimestamp: nowIso,
          lastTimestamp: nowIso,
          source: { component: this.#component },
          reportingComponent: `${this.#component}.dev/operator`,
          reportingInstance: this.#instance,
        },
      });
      this.#aggregator.recorded(key, name, 1, nowIso, now);
    } catch (err) {
      this.#log?.warn(
        { namespace: obj.namespace, policy: obj.name, reason: e.reason, err: String(err) },
        'could not record event',
      );
    }
  }
}
