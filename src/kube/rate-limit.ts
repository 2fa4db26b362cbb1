// A token bucket with reservations, as golang.org/x/time/rate (which client-go's
// flowcontrol limiter wraps): a caller reserves a token and learns at once how
// long it must wait for it, so a request that could not be sent before its
// deadline fails fast instead of waiting in vain, and waiters are served in the
// order they came (each reservation pushes the next one further out).
//
// Hand-written because the npm limiters do not fit: `limiter` polls for tokens
// without order, deadline or cancellation (its README asks callers to add their
// own queue) and reads a clock tests cannot inject; `p-throttle` and
// `bottleneck` queue whole functions and cancel all-or-nothing, not per request.

/** Milliseconds from a clock that never steps (performance.now()). */
export type MonotonicNow = () => number;
export const monotonicNow: MonotonicNow = () => performance.now();

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #now: MonotonicNow;
  #tokens: number;
  #at: number;

  constructor(ratePerSecond: number, burst: number, now: MonotonicNow = monotonicNow) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new Error('a token bucket needs rate > 0 and burst >= 1');
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /**
   * Takes a token, possibly one not yet refilled: returns how many ms to wait
   * before using it, or undefined (and takes nothing) when that wait would be
   * longer than `maxWaitMs`.
   */
  reserve(maxWaitMs = Number.POSITIVE_INFINITY): number | undefined {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.ratePerSecond);
    this.#at = now;
    const left = this.#tokens - 1;
    const waitMs = left >= 0 ? 0 : (-left / this.ratePerSecond) * 1000;
    if (waitMs > maxWaitMs) return undefined;
    this.#tokens = left;
    return waitMs;
  }

  /** A token now or nothing (the Event spam filter). */
  tryTake(): boolean {
    return this.reserve(0) !== undefined;
  }
}

/** A Map that forgets its least recently used keys beyond `max` (per-object state for many objects). */
export class LruMap<K, V> {
  readonly #m = new Map<K, V>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get(k: K): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.#m.delete(k);
    this.#m.set(k, v);
    while (this.#m.size > this.#max) this.#m.delete(this.#m.keys().next().value as K);
  }
  delete(k: K): void {
    this.#m.delete(k);
  }
  get size(): number {
    return this.#m.size;
  }
}
