import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { encode, isNotFound, KubeApiError, type KubeTransport } from './api-client.ts';
import { LruMap, type MonotonicNow, monotonicNow, TokenBucket } from './rate-limit.ts';

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

/** Where the reconciler sends its Events. */
export interface EventSink {
  record(obj: InvolvedObject, e: EventSpec): Promise<void>;
}

export type EventOutcome = 'created' | 'updated' | 'spam_dropped' | 'queue_dropped' | 'failed';

export interface CorrelatorOptions {
  /** Distinct messages of one object and reason before they fold into one Event (client-go: 10). */
  maxSimilar?: number;
  /** The window those are counted in (client-go: 10 minutes). */
  similarWindowMs?: number;
  /** How long an Event is patched (count + 1) rather than created anew. */
  dedupeWindowMs?: number;
  /** Writes one object may make at once (client-go's spam filter: 25)… */
  spamBurst?: number;
  /** …and then one per this many ms (client-go: 5 minutes). */
  spamRefillMs?: number;
  /** Objects and keys remembered; the least recently used are forgotten first. */
  maxKeys?: number;
}

export type Correlation =
  | { kind: 'drop' }
  | { kind: 'create'; key: string; message: string }
  | {
      kind: 'update';
      key: string;
      message: string;
      eventName: string;
      count: number;
      firstTimestamp: string;
    };

interface Seen {
  eventName: string;
  count: number;
  firstTimestamp: string;
  lastSeen: number;
}

/** Worth another try later: throttled, a server error, or no answer. Not: refused, or not leading. */
const retryable = (err: unknown) =>
  err instanceof KubeApiError &&
  (err.status === 429 || err.status >= 500 || (err.status === 0 && err.reason !== 'NotLeader'));

export const COMBINED_PREFIX = '(combined from similar events): ';

/**
 * Decides what one occurrence of an Event becomes, as client-go's
 * EventCorrelator: (1) aggregate: once an object has shown `maxSimilar`
 * different messages for one type and reason within the window, they share one
 * Event keyed without the message, its text marked "(combined from similar
 * events)"; (2) dedupe: an Event seen before is patched with count + 1;
 * (3) spam filter: every write spends a token of the object's bucket, and an
 * occurrence without one is dropped. Times are monotonic ms.
 */
export class EventCorrelator {
  readonly #o: Required<CorrelatorOptions>;
  readonly #similar: LruMap<string, { messages: Set<string>; since: number }>;
  readonly #seen: LruMap<string, Seen>;
  readonly #spam: LruMap<string, TokenBucket>;
  readonly #now: MonotonicNow;

  constructor(opts: CorrelatorOptions = {}, now: MonotonicNow = monotonicNow) {
    this.#o = {
      maxSimilar: 10,
      similarWindowMs: 600_000,
      dedupeWindowMs: 30 * 60_000,
      spamBurst: 25,
      spamRefillMs: 300_000,
      maxKeys: 10_000,
      ...opts,
    };
    this.#now = now;
    this.#similar = new LruMap(this.#o.maxKeys);
    this.#seen = new LruMap(this.#o.maxKeys);
    this.#spam = new LruMap(this.#o.maxKeys);
  }

  correlate(obj: InvolvedObject, e: EventSpec): Correlation {
    const now = this.#now();
    const objectKey = [obj.namespace, obj.name, obj.uid ?? '', obj.kind].join('\u0000');
    const aggregateKey = [objectKey, e.type, e.reason].join('\u0000');
    let group = this.#similar.get(aggregateKey);
    if (!group || now - group.since > this.#o.similarWindowMs) group = { messages: new Set(), since: now };
    group.messages.add(e.message);
    this.#similar.set(aggregateKey, group);
    const combined = group.messages.size >= this.#o.maxSimilar;
    const key = combined ? `${aggregateKey}\u0000*` : `${aggregateKey}\u0000=${e.message}`;
    const message = combined ? COMBINED_PREFIX + e.message : e.message;
    if (!this.#spamToken(objectKey)) return { kind: 'drop' };
    const s = this.#seen.get(key);
    if (s && now - s.lastSeen < this.#o.dedupeWindowMs) {
      return {
        kind: 'update',
        key,
        message,
        eventName: s.eventName,
        count: s.count + 1,
        firstTimestamp: s.firstTimestamp,
      };
    }
    return { kind: 'create', key, message };
  }

  /** After the write succeeded. */
  recorded(key: string, eventName: string, count: number, firstTimestamp: string): void {
    this.#seen.set(key, { eventName, count, firstTimestamp, lastSeen: this.#now() });
  }

  /** The Event is gone (expired): the next occurrence creates a new one. */
  forget(key: string): void {
    this.#seen.delete(key);
  }

  #spamToken(objectKey: string): boolean {
    let bucket = this.#spam.get(objectKey);
    if (!bucket) {
      bucket = new TokenBucket(1000 / this.#o.spamRefillMs, this.#o.spamBurst, this.#now);
      this.#spam.set(objectKey, bucket);
    }
    return bucket.tryTake();
  }
}

/** Records core/v1 Events (what `kubectl describe` lists), correlated as client-go does. */
export class EventRecorder implements EventSink {
  readonly #transport: KubeTransport;
  readonly #correlator: EventCorrelator;
  readonly #component: string;
  readonly #instance: string;
  readonly #wallNow: () => number;
  readonly #log: Logger | undefined;
  readonly #onOutcome: ((o: EventOutcome) => void) | undefined;
  readonly #maxTries: number;
  readonly #retryDelayMs: number;

  constructor(
    transport: KubeTransport,
    opts: {
      instance: string;
      component?: string;
      /** Monotonic ms for the correlation windows and the spam filter. */
      now?: MonotonicNow;
      /** Wall-clock ms for the Events' timestamps. */
      wallNow?: () => number;
      log?: Logger;
      correlation?: CorrelatorOptions;
      onOutcome?: (o: EventOutcome) => void;
      /** Tries of one write that failed for a passing reason (client-go: 12)… */
      maxTries?: number;
      /** …this far apart, plus up to half again as jitter. */
      retryDelayMs?: number;
    },
  ) {
    this.#maxTries = opts.maxTries ?? 12;
    this.#retryDelayMs = opts.retryDelayMs ?? 5_000;
    this.#transport = transport;
    this.#instance = opts.instance;
    this.#component = opts.component ?? 'tidemark';
    this.#wallNow = opts.wallNow ?? Date.now;
    this.#log = opts.log;
    this.#onOutcome = opts.onOutcome;
    this.#correlator = new EventCorrelator(opts.correlation, opts.now);
  }

  /**
   * Never throws: an Event that cannot be written is logged, not allowed to fail
   * a tick. A write refused for a passing reason (429 from API Priority and
   * Fairness, a 5xx, a broken connection) is tried again, as client-go's
   * recorder does; the occurrence is correlated once, whatever the tries.
   */
  async record(obj: InvolvedObject, e: EventSpec): Promise<void> {
    const c = this.#correlator.correlate(obj, e);
    if (c.kind === 'drop') return this.#onOutcome?.('spam_dropped');
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await this.#write(obj, e, c);
        return this.#onOutcome?.(outcome);
      } catch (err) {
        if (!retryable(err) || attempt >= this.#maxTries) {
          this.#onOutcome?.('failed');
          this.#log?.warn(
            {
              namespace: obj.namespace,
              policy: obj.name,
              reason: e.reason,
              attempts: attempt,
              err: String(err),
            },
            'could not record event',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, this.#retryDelayMs * (1 + Math.random() / 2)).unref());
      }
    }
  }

  async #write(obj: InvolvedObject, e: EventSpec, c: Exclude<Correlation, { kind: 'drop' }>) {
    const nowIso = new Date(this.#wallNow()).toISOString();
    const base = `/api/v1/namespaces/${encode(obj.namespace)}/events`;
    if (c.kind === 'update' && (await this.#patch(base, c, nowIso))) return 'updated' as const;
    const name = `${obj.name}.${this.#wallNow().toString(16)}${randomBytes(3).toString('hex')}`;
    await this.#transport({ method: 'POST', path: base, body: this.#event(obj, e, c.message, name, nowIso) });
    this.#correlator.recorded(c.key, name, 1, nowIso);
    return 'created' as const;
  }

  /** Count + 1 on the Event seen before; false when it expired (Events live 1 h by default). */
  async #patch(base: string, c: Extract<Correlation, { kind: 'update' }>, nowIso: string): Promise<boolean> {
    try {
      await this.#transport({
        method: 'PATCH',
        path: `${base}/${encode(c.eventName)}`,
        body: { count: c.count, lastTimestamp: nowIso, message: c.message.slice(0, 1024) },
      });
      this.#correlator.recorded(c.key, c.eventName, c.count, c.firstTimestamp);
      return true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.#correlator.forget(c.key);
      return false;
    }
  }

  #event(obj: InvolvedObject, e: EventSpec, message: string, name: string, nowIso: string) {
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: obj.namespace },
      involvedObject: obj,
      type: e.type,
      reason: e.reason,
      message: message.slice(0, 1024),
      count: 1,
      firstTimestamp: nowIso,
      lastTimestamp: nowIso,
      source: { component: this.#component },
      reportingComponent: `${this.#component}.dev/operator`,
      reportingInstance: this.#instance,
    };
  }
}

/**
 * Takes Events off the tick's critical path: record() only queues; one worker
 * sends them in order (so a repeat patches the Event its first occurrence
 * created). The queue is bounded: when full, an Event is dropped and counted,
 * never waited for.
 */
export class EventQueue implements EventSink {
  readonly #sink: EventSink;
  readonly #capacity: number;
  readonly #onDrop: (() => void) | undefined;
  readonly #queue: Array<[InvolvedObject, EventSpec]> = [];
  #worker: Promise<void> | undefined;

  constructor(sink: EventSink, opts: { capacity?: number; onDrop?: () => void } = {}) {
    this.#sink = sink;
    this.#capacity = opts.capacity ?? 1_000;
    this.#onDrop = opts.onDrop;
  }

  get length(): number {
    return this.#queue.length;
  }

  record(obj: InvolvedObject, e: EventSpec): Promise<void> {
    if (this.#queue.length >= this.#capacity) {
      this.#onDrop?.();
      return Promise.resolve();
    }
    this.#queue.push([obj, e]);
    this.#worker ??= this.#work();
    return Promise.resolve();
  }

  /** Resolves when everything queued was sent (shutdown, tests), or after `timeoutMs`. */
  async drain(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const end = monotonicNow() + timeoutMs;
    while (this.#worker) {
      const left = end - monotonicNow();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#worker,
        new Promise((r) => {
          timer = setTimeout(r, Math.min(left, 2 ** 31 - 1));
        }),
      ]);
      clearTimeout(timer);
    }
  }

  async #work(): Promise<void> {
    // Started from record(): let the tick that queued go on before the first write.
    await Promise.resolve();
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) await this.#sink.record(...next);
    this.#worker = undefined;
  }
}
