// client-node's informers (ListWatch) stop on any error and never start again by themselves;
// client-go's reflector retries with backoff, client-node has nothing like it. So every watch
// of the operator (policies, HPAs, targets) restarts through this one rule.

/** The part of an informer (client-node's ListWatch) that a restart needs. */
export interface RestartableInformer {
  on(event: 'add' | 'update' | 'delete', cb: () => void): void;
  on(event: 'error', cb: (err: unknown) => void): void;
  start(): Promise<void>;
}

export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 30_000;

export interface RestartHooks {
  /**
   * Told of each error with the wait before the restart (to log it, or to react first).
   * Returns false when the informer must stay stopped (its owner stops, or the resource
   * cannot be watched).
   */
  onError(err: unknown, retryInMs: number): boolean;
  /** Runs `restart` after `ms`; the owner keeps the timer, to clear it when it stops. */
  schedule(restart: () => void, ms: number): void;
  /** The longest wait, read after onError (which may change it). Default MAX_RETRY_MS. */
  maxDelayMs?(): number;
}

/**
 * Starts the informer again after each error: first after FIRST_RETRY_MS, doubling up to the
 * longest wait; any event it delivers (it works again) resets the wait.
 */
export function restartOnError(informer: RestartableInformer, hooks: RestartHooks): void {
  let delay = FIRST_RETRY_MS;
  const reset = () => {
    delay = FIRST_RETRY_MS;
  };
  for (const e of ['add', 'update', 'delete'] as const) informer.on(e, reset);
  informer.on('error', (err: unknown) => {
    if (!hooks.onError(err, delay)) return;
    hooks.schedule(() => {
      informer.start().catch(() => {});
    }, delay);
    delay = Math.min(delay * 2, hooks.maxDelayMs?.() ?? MAX_RETRY_MS);
  });
}
