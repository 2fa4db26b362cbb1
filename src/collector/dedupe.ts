// Shares one request among every caller that asks for the same key at about the
// same time. The operator runs one timer per policy, so policies with the same
// interval tick a few milliseconds apart rather than together: a per-call
// "batch" would miss them. Instead a request is joined by any caller for the
// same key while it is in flight, and its result is reused for `windowMs`
// after it started; after that the next caller starts a fresh request.

interface Entry<V> {
  promise: Promise<V>;
  startedAt: number;
  settled: boolean;
}

export class SharedRequests<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #windowMs: number;
  readonly #now: () => number;
  /** Requests actually started (for tests and debugging). */
  started = 0;

  constructor(windowMs: number, now: () => number) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The shared result for `key`; `start` runs only when no usable request exists. `start` must not reject. */
  get(key: string, start: () => Promise<V>): Promise<V> {
    const now = this.#now();
    const existing = this.#entries.get(key);
    if (existing && (!existing.settled || now - existing.startedAt <= this.#windowMs))
      return existing.promise;
    const entry: Entry<V> = { promise: start(), startedAt: now, settled: false };
    this.started++;
    this.#entries.set(key, entry);
    const forget = () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    };
    entry.promise.then(
      () => {
        entry.settled = true;
        const left = entry.startedAt + this.#windowMs - this.#now();
        if (left <= 0) forget();
        else setTimeout(forget, left).unref();
      },
      () => {
        // A rejected request is never reused.
        entry.settled = true;
        forget();
      },
    );
    return entry.promise;
  }

  clear(): void {
    this.#entries.clear();
  }
}
