import { hash32 } from '../core/hash.ts';

/** Timers behind an interface, so the scheduling logic is tested with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SchedulerOptions {
  /** Runs one tick; `dueAt` is when it was due (epoch ms), for the tick-latency histogram. */
  run: (key: string, dueAt: number) => Promise<void>;
  maxConcurrent: number;
  clock?: Clock;
  /** A policy's phase in [0, 1): where in its interval it ticks. Default: from a hash of the key (uid). */
  phase?: (key: string) => number;
  /** Called when a tick is dropped because the previous one of the same policy is still queued or running. */
  onSkip?: (key: string) => void;
}

interface Entry {
  key: string;
  intervalMs: number;
  due: number;
  timer: unknown;
  queued: boolean;
  running: boolean;
  /** Triggered while running: tick again as soon as the running tick ends (coalesced). */
  dirty: boolean;
}

/**
 * A phase in [0, 1) from a hash of the key (src/core/hash.ts): the same policy uid gets the
 * same phase in every replica and after every restart, and many uids spread evenly.
 */
export function hashPhase(key: string): number {
  return hash32(key) / 2 ** 32;
}

/** Spread a policy's first tick over its whole interval: the start-up batch. */
export const OVER_INTERVAL = 'interval';

/**
 * One timer per policy at its polling interval, each at its own phase (hashPhase) so
 * that thousands of policies do not tick in the same millisecond; the period itself
 * stays exact, anchored to the due times, so a load step is seen within one interval.
 * A start-up batch (OVER_INTERVAL) puts each policy on the wall-clock grid of its
 * interval at its phase: the first ticks after a start spread evenly over one interval,
 * and every replica keeps the same grid, so a new leader needs no burst of ticks either
 * (its timers are already at the phases; it just starts running them). Due ticks wait in a FIFO
 * queue for one of `maxConcurrent` slots; a policy whose previous tick is still
 * queued or running skips a tick instead of piling up. A trigger (spec change)
 * while its tick runs marks the policy dirty instead: it ticks once more right
 * after, as a work queue would, so a change is never a whole interval late.
 */
export class TickScheduler {
  readonly #o: Required<Omit<SchedulerOptions, 'onSkip'>> & Pick<SchedulerOptions, 'onSkip'>;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Array<{ entry: Entry; dueAt: number }> = [];
  readonly #inFlight = new Set<Promise<void>>();
  #enabled = true;
  #stopped = false;

  constructor(opts: SchedulerOptions) {
    this.#o = {
      clock: realClock,
      phase: hashPhase,
      ...opts,
      maxConcurrent: Math.max(1, opts.maxConcurrent),
    };
  }

  /**
   * Adds a policy or changes its interval. A new policy's first tick comes after its
   * phase of [0, spreadMs) (default: up to 1 s, so a policy created at runtime acts
   * quickly); at start-up the caller passes OVER_INTERVAL: the first tick is at the
   * policy's phase on the wall-clock grid of its interval, so a batch spreads over it.
   */
  upsert(key: string, intervalSeconds: number, spreadMs?: number | typeof OVER_INTERVAL): void {
    if (this.#stopped) return;
    const intervalMs = Math.max(1, intervalSeconds) * 1000;
    const now = this.#o.clock.now();
    const existing = this.#entries.get(key);
    if (existing) {
      if (existing.intervalMs === intervalMs) return;
      // Keep the phase: the next tick is one new interval after the last one, or now if that passed.
      const last = existing.due - existing.intervalMs;
      existing.intervalMs = intervalMs;
      this.#arm(existing, Math.max(now, last + intervalMs));
      return;
    }
    const entry: Entry = {
      key,
      intervalMs,
      due: 0,
      timer: undefined,
      queued: false,
      running: false,
      dirty: false,
    };
    this.#entries.set(key, entry);
    this.#arm(entry, this.#firstDue(key, intervalMs, now, spreadMs));
  }

  #firstDue(key: string, intervalMs: number, now: number, spreadMs: number | 'interval' | undefined): number {
    const phase = this.#o.phase(key);
    if (spreadMs !== OVER_INTERVAL) return now + Math.floor(phase * (spreadMs ?? Math.min(intervalMs, 1000)));
    // The first grid point at or after now: k × interval + phase × interval, k an integer.
    const offset = Math.floor(phase * intervalMs);
    return now + ((((offset - now) % intervalMs) + intervalMs) % intervalMs);
  }

  /**
   * Runs a policy's tick now (spec changed), keeping its phase for later ticks; if
   * its tick is running, once more right after it (the running one may have read
   * the old spec). Triggers while queued or dirty coalesce.
   */
  trigger(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry || this.#stopped || !this.#enabled) return;
    if (entry.running) {
      entry.dirty = true;
      return;
    }
    if (!entry.queued) this.#enqueue(entry, this.#o.clock.now());
  }

  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#o.clock.clearTimeout(entry.timer);
    this.#entries.delete(key);
    const i = this.#queue.findIndex((q) => q.entry === entry);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** The next due time of a policy (tests, debugging). */
  dueAt(key: string): number | undefined {
    return this.#entries.get(key)?.due;
  }

  /** A standby keeps its timers but runs nothing; the leader runs. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    if (!enabled) {
      for (const e of this.#entries.values()) e.dirty = false;
      for (const q of this.#queue) q.entry.queued = false;
      this.#queue.length = 0;
    }
  }

  /** Stops all timers and waits for the ticks already running (graceful shutdown). */
  async drain(): Promise<void> {
    this.#stopped = true;
    for (const e of this.#entries.values()) this.#o.clock.clearTimeout(e.timer);
    for (const q of this.#queue) q.entry.queued = false;
    this.#queue.length = 0;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #arm(entry: Entry, due: number): void {
    this.#o.clock.clearTimeout(entry.timer);
    entry.due = due;
    entry.timer = this.#o.clock.setTimeout(() => this.#fire(entry), Math.max(0, due - this.#o.clock.now()));
  }

  #fire(entry: Entry): void {
    if (this.#stopped || this.#entries.get(entry.key) !== entry) return;
    const dueAt = entry.due;
    // Next due time on the fixed grid; if the process stalled past several, skip them.
    let next = dueAt + entry.intervalMs;
    const now = this.#o.clock.now();
    if (next <= now) next += Math.ceil((now - next + 1) / entry.intervalMs) * entry.intervalMs;
    this.#arm(entry, next);
    this.#enqueue(entry, dueAt);
  }

  #enqueue(entry: Entry, dueAt: number): void {
    if (!this.#enabled) return;
    if (entry.queued || entry.running) {
      this.#o.onSkip?.(entry.key);
      return;
    }
    entry.queued = true;
    this.#queue.push({ entry, dueAt });
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight.size < this.#o.maxConcurrent && this.#queue.length > 0) {
      const { entry, dueAt } = this.#queue.shift()!;
      entry.queued = false;
      entry.running = true;
      const p: Promise<void> = Promise.resolve()
        .then(() => this.#o.run(entry.key, dueAt))
        // run() reports its own errors; a failing tick must not stop the schedule.
        .catch(() => {})
        .finally(() => {
          entry.running = false;
          this.#inFlight.delete(p);
          if (entry.dirty && this.#entries.get(entry.key) === entry) {
            entry.dirty = false;
            this.#enqueue(entry, this.#o.clock.now());
          }
          this.#pump();
        });
      this.#inFlight.add(p);
    }
  }
}
