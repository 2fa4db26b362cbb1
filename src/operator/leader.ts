// Leader election on a coordination.k8s.io/v1 Lease.
//
// Written here because @kubernetes/client-node (2.x) has no leader elector.
// It follows client-go's leaderelection package: the holder renews every
// retry period; a candidate takes over a lease that nobody renewed for
// leaseDuration as measured by its OWN clock since it last saw the record change
// (never by comparing the renewTime written by another machine's clock); a
// leader that could not renew for renewDeadline (< leaseDuration) stops acting
// before anyone else may start; every write carries the resourceVersion it read,
// so two candidates cannot both win; on shutdown the holder clears the lease so
// a standby takes over at its next retry instead of after the full duration.
//
// Every duration is measured on a monotonic clock (performance.now()): a step of
// the wall clock (NTP, a resumed VM) must neither make a leader step down nor
// keep a cut-off one acting. The wall clock only writes the Lease's timestamps,
// which are informational to every reader that follows client-go.
import type { Clock } from './scheduler.ts';

/** performance.now() and real timers: the elector's default clock. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  /** metadata.resourceVersion of the Lease it was read from. */
  resourceVersion?: string;
}

/** The Lease behind an interface so the state machine is tested without an API server. */
export interface LeaseClient {
  /** undefined when the Lease does not exist. */
  get(): Promise<LeaseRecord | undefined>;
  /** Fails (any error) when it exists already. */
  create(record: LeaseRecord): Promise<LeaseRecord>;
  /** Fails (any error) when record.resourceVersion is not the current one. */
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface ElectorOptions {
  client: LeaseClient;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Measures every duration and runs the timers; must not step (default: monotonicClock). */
  clock?: Clock;
  /** Wall-clock ms for the Lease's acquireTime/renewTime only (default: Date.now). */
  wallNow?: () => number;
  random?: () => number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onError?: (err: unknown) => void;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly #o: Required<Omit<ElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onError'>> &
    Pick<ElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onError'>;
  #leading = false;
  #lastRenew = Number.NEGATIVE_INFINITY;
  #observed: LeaseRecord | undefined;
  #observedAt = Number.NEGATIVE_INFINITY;
  #lastContact = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  #deadlineTimer: unknown;
  #running = false;
  #step: Promise<boolean> | undefined;
  #leadingSince: number | undefined;

  constructor(opts: ElectorOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock: monotonicClock,
      wallNow: Date.now,
      random: Math.random,
      ...opts,
    };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs) {
      throw new Error('renewDeadline must be shorter than leaseDuration');
    }
  }

  get identity(): string {
    return this.#o.identity;
  }

  /**
   * True while this process may act: it holds the lease and renewed it within
   * renewDeadline. Checked before every side effect, so a leader cut off from
   * the API server stops acting even before its renew loop notices.
   */
  isLeader(): boolean {
    return this.#leading && this.#o.clock.now() - this.#lastRenew < this.#o.renewDeadlineMs;
  }

  /**
   * When the current uninterrupted hold began (monotonic ms, taken after the
   * write that won or renewed it came back; a renewal later than renewDeadline
   * starts a new hold): undefined while not leading. Sharding waits a lease
   * duration from here before it acts (docs/sharding.md).
   */
  get leadingSince(): number | undefined {
    return this.isLeader() ? this.#leadingSince : undefined;
  }

  /** The last holder seen in the lease (this process or another). */
  get observedHolder(): string | undefined {
    return this.#observed?.holderIdentity || undefined;
  }

  /** How long since the API server last answered a lease request (for /readyz of a standby). */
  sinceContactMs(): number {
    return this.#o.clock.now() - this.#lastContact;
  }

  /**
   * How long a write started now may take: until the lease could pass to
   * another replica (lastRenew + leaseDuration, counted from before the renew
   * was sent, so never later than any other replica's count), less half the
   * margin between renewDeadline and leaseDuration, kept back for a late timer
   * and for the abort to reach the server. 0 when not leading: no write at all.
   */
  writeBudgetMs(): number {
    if (!this.isLeader()) return 0;
    return Math.max(0, this.#lastRenew + this.#o.leaseDurationMs - this.fenceSlackMs - this.#o.clock.now());
  }

  /** What a write's fence keeps back before the lease could pass: half the margin between renewDeadline and leaseDuration. */
  get fenceSlackMs(): number {
    return (this.#o.leaseDurationMs - this.#o.renewDeadlineMs) / 2;
  }

  /** One attempt to acquire or renew; resolves to whether this process leads afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const c = this.#o.clock;
    const now = c.now();
    const wall = microTime(this.#o.wallNow());
    const durationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const mine: LeaseRecord = {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: wall,
      renewTime: wall,
      leaseTransitions: 0,
    };
    let current: LeaseRecord | undefined;
    let seenAt: number;
    try {
      current = await this.#o.client.get();
      seenAt = c.now();
      this.#lastContact = seenAt;
    } catch (err) {
      this.#o.onError?.(err);
      return this.#checkDeadline();
    }
    if (!current) {
      try {
        const created = await this.#o.client.create(mine);
        this.#lastContact = c.now();
        this.#see(created, now);
        return this.#renewed(now);
      } catch (err) {
        this.#o.onError?.(err);
        return this.#checkDeadline();
      }
    }
    if (
      !this.#observed ||
      this.#observed.holderIdentity !== current.holderIdentity ||
      this.#observed.renewTime !== current.renewTime ||
      this.#observed.resourceVersion !== current.resourceVersion
    ) {
      // Timed from the answer, as client-go does: a GET sent before the holder renewed and
      // answered after it saw that renewal, and a count from the send would end before the
      // holder's own count (from before its renewal was sent) and its writes' fence.
      this.#see(current, seenAt);
    }
    const holder = current.holderIdentity ?? '';
    const held = holder !== '' && holder !== this.#o.identity;
    const observedDurationMs = (current.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (held && this.#observedAt + observedDurationMs > now) {
      // Someone else holds a lease that is still valid.
      this.#lose();
      return false;
    }
    const record: LeaseRecord = {
      ...mine,
      resourceVersion: current.resourceVersion,
      ...(holder === this.#o.identity
        ? {
            acquireTime: current.acquireTime ?? mine.acquireTime,
            leaseTransitions: current.leaseTransitions ?? 0,
          }
        : { leaseTransitions: (current.leaseTransitions ?? 0) + 1 }),
    };
    try {
      const updated = await this.#o.client.update(record);
      this.#lastContact = c.now();
      this.#see(updated, now);
      return this.#renewed(now);
    } catch (err) {
      // A conflict means another candidate wrote first; anything else is a failed renew.
      this.#o.onError?.(err);
      return this.#checkDeadline();
    }
  }

  /** Runs the acquire/renew loop until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = async () => {
      if (!this.#running) return;
      this.#step = this.tryAcquireOrRenew();
      await this.#step;
      this.#step = undefined;
      if (!this.#running) return;
      // Candidates add jitter (as client-go's JitterUntil) so they do not collide every time.
      const wait = this.#leading
        ? this.#o.retryPeriodMs
        : this.#o.retryPeriodMs * (1 + 0.2 * this.#o.random());
      this.#timer = this.#o.clock.setTimeout(() => void loop(), wait);
    };
    void loop();
  }

  /**
   * Stops the loop and, when leading, clears the lease (holder '' and a 1 s
   * duration, as client-go's ReleaseOnCancel) so a standby takes over at once.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#o.clock.clearTimeout(this.#timer);
    if (this.#step) await this.#step.catch(() => false);
    if (!this.#leading) return;
    this.#lose();
    try {
      const current = await this.#o.client.get();
      if (!current || current.holderIdentity !== this.#o.identity) return;
      const wall = microTime(this.#o.wallNow());
      await this.#o.client.update({
        ...current,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: wall,
        renewTime: wall,
      });
    } catch (err) {
      this.#o.onError?.(err);
    }
  }

  #see(record: LeaseRecord, now: number): void {
    this.#observed = record;
    this.#observedAt = now;
  }

  #renewed(now: number): boolean {
    if (!this.#leading || now - this.#lastRenew >= this.#o.renewDeadlineMs) {
      this.#leadingSince = this.#o.clock.now();
    }
    this.#lastRenew = now;
    // Step down (and say so: onStoppedLeading, the leader gauge) when the deadline passes,
    // even while a renew request still hangs on a partitioned network.
    this.#o.clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = this.#o.clock.setTimeout(() => this.#checkDeadline(), this.#o.renewDeadlineMs);
    if (!this.#leading) {
      this.#leading = true;
      this.#o.onStartedLeading?.();
    }
    return true;
  }

  /** After a failed renew: still leading only while within the renew deadline. */
  #checkDeadline(): boolean {
    if (this.#leading && this.#o.clock.now() - this.#lastRenew >= this.#o.renewDeadlineMs) this.#lose();
    return this.#leading;
  }

  #lose(): void {
    this.#o.clock.clearTimeout(this.#deadlineTimer);
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.onStoppedLeading?.();
  }
}

export type LeaseTransport = (req: {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: unknown;
  timeoutMs?: number;
}) => Promise<unknown>;

interface LeaseObject {
  metadata?: { resourceVersion?: string };
  spec?: Omit<LeaseRecord, 'resourceVersion'>;
}

/** A LeaseClient on the API server (coordination.k8s.io/v1). */
export function kubeLeaseClient(
  transport: LeaseTransport,
  namespace: string,
  name: string,
  isNotFound: (err: unknown) => boolean,
  timeoutMs = 5_000,
  /** Labels the Lease carries (every write replaces the object, so they are sent each time). */
  labels?: Record<string, string>,
): LeaseClient {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const toRecord = (o: LeaseObject): LeaseRecord => ({
    ...(o.spec ?? {}),
    resourceVersion: o.metadata?.resourceVersion,
  });
  const toObject = (r: LeaseRecord) => {
    const { resourceVersion, ...spec } = r;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace,
        ...(labels ? { labels } : {}),
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      spec,
    };
  };
  return {
    async get() {
      try {
        return toRecord(
          (await transport({ method: 'GET', path: `${base}/${name}`, timeoutMs })) as LeaseObject,
        );
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(r) {
      return toRecord(
        (await transport({ method: 'POST', path: base, body: toObject(r), timeoutMs })) as LeaseObject,
      );
    },
    async update(r) {
      return toRecord(
        (await transport({
          method: 'PUT',
          path: `${base}/${name}`,
          body: toObject(r),
          timeoutMs,
        })) as LeaseObject,
      );
    },
  };
}
