// Exponential backoff with full jitter for transient query failures. Hand-written
// because it is a dozen lines and must take an injected sleep and random source
// (tests run it without waiting) and a time budget (a tick's retries must not
// run into the next tick).

export interface RetryOptions {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };

/**
 * The delay before attempt `attempt + 1` (attempt is 1-based): uniform in
 * [0, min(maxDelay, base * 2^(attempt-1))] ("full jitter"), so that policies
 * failing together do not retry together.
 */
export function backoffDelayMs(attempt: number, opts: RetryOptions, random: () => number): number {
  const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(cap * r);
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
