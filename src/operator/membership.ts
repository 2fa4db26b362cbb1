// Active-active sharding (--sharding=on): every replica holds a Lease of its
// own as its membership, lists the member Leases of its group, and acts on the
// policies that rendezvous hashing gives it among the live members. The own
// Lease is held by the LeaderElector (acquire, renew, release, write budget:
// the same code and the same monotonic clock as the single leader). Why two
// replicas never act on one policy at once: docs/sharding.md.
import { encode, type KubeTransport } from '../kube/api-client.ts';
import { type ElectorOptions, kubeLeaseClient, LeaderElector, monotonicClock } from './leader.ts';
import type { Clock } from './scheduler.ts';
import { type MemberRecord, MemberView, memberGroupLabel, memberLeaseName, ownerOf } from './shards.ts';

export const MEMBER_LABEL = 'tidemark.dev/member-of';

export interface MembershipOptions {
  /** The Lease transport (its own connections, outside the QPS limit). */
  transport: KubeTransport;
  namespace: string;
  /** Replicas of one group share the policies: the --lease-name. */
  group: string;
  identity: string;
  isNotFound: (err: unknown) => boolean;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  /** Whether this replica acts, or the live members, changed (seen at a list, or the own Lease lost). */
  onChange?: (s: { acting: boolean; members: readonly string[] }) => void;
  onError?: (err: unknown) => void;
}

interface LeaseItem {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

export class Membership {
  readonly #o: Required<Omit<MembershipOptions, 'onChange' | 'onError'>> &
    Pick<MembershipOptions, 'onChange' | 'onError'>;
  readonly #elector: LeaderElector;
  readonly #view = new MemberView();
  readonly #leaseName: string;
  readonly #base: string;
  /** The live members at the last successful list, and when that list was SENT (monotonic ms). */
  #members: readonly string[] = [];
  #viewAt = Number.NEGATIVE_INFINITY;
  #lastContact = Number.NEGATIVE_INFINITY;
  #reported: { acting: boolean; members: string } | undefined;
  #timer: unknown;
  #running = false;
  #step: Promise<void> | undefined;

  constructor(opts: MembershipOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock: monotonicClock,
      ...opts,
    };
    this.#leaseName = memberLeaseName(opts.group, opts.identity);
    this.#base = `/apis/coordination.k8s.io/v1/namespaces/${encode(opts.namespace)}/leases`;
    const eo: ElectorOptions = {
      client: kubeLeaseClient(opts.transport, opts.namespace, this.#leaseName, opts.isNotFound, 5_000, {
        [MEMBER_LABEL]: memberGroupLabel(opts.group),
      }),
      identity: opts.identity,
      leaseDurationMs: this.#o.leaseDurationMs,
      renewDeadlineMs: this.#o.renewDeadlineMs,
      retryPeriodMs: this.#o.retryPeriodMs,
      clock: this.#o.clock,
      onStartedLeading: () => this.#report(),
      onStoppedLeading: () => this.#report(),
      ...(opts.onError ? { onError: opts.onError } : {}),
    };
    this.#elector = new LeaderElector(eo);
  }

  get identity(): string {
    return this.#o.identity;
  }

  get leaseName(): string {
    return this.#leaseName;
  }

  /** The live members of the last list (this replica among them once its Lease is seen). */
  get members(): readonly string[] {
    return this.#members;
  }

  /**
   * True while this replica may act on the policies it owns: it holds its own
   * Lease (renewed within renewDeadline), has held it for a whole lease duration
   * (every other replica has listed it since, so none acts on a policy that now
   * hashes here: docs/sharding.md), and its view of the members is recent
   * enough that a write may still start on it (#viewBudgetMs).
   */
  acting(): boolean {
    const since = this.#elector.leadingSince;
    const now = this.#o.clock.now();
    return (
      since !== undefined &&
      now - since >= this.#o.leaseDurationMs &&
      this.#viewBudgetMs(now) > 0 &&
      this.#members.includes(this.#o.identity)
    );
  }

  /**
   * How long writes may still start on the last list: a replica that joined
   * after the list was sent acts a lease duration after it joined, so until
   * then, less half the margin between lease duration and renew deadline
   * (kept back for a late timer and for the abort to reach the server).
   */
  #viewBudgetMs(now: number): number {
    return this.#viewAt + this.#o.leaseDurationMs - this.fenceSlackMs - now;
  }

  /** What a write's fence keeps back (the elector's, same durations). */
  get fenceSlackMs(): number {
    return this.#elector.fenceSlackMs;
  }

  /** Whether the policy hashes to this replica among the members of the last list (acting or not). */
  assigned(uid: string): boolean {
    return ownerOf(uid, this.#members) === this.#o.identity;
  }

  /** Whether this replica acts on the policy now. */
  owns(uid: string): boolean {
    return this.acting() && ownerOf(uid, this.#members) === this.#o.identity;
  }

  /**
   * How long a write started now may take: until the own Lease could be taken
   * for expired (the elector's budget), and until a view from the last list
   * could be out of date for a replica that joined since it was sent.
   */
  writeBudgetMs(): number {
    if (!this.acting()) return 0;
    return Math.max(0, Math.min(this.#elector.writeBudgetMs(), this.#viewBudgetMs(this.#o.clock.now())));
  }

  /** How long since the API server last answered a Lease request (for /readyz). */
  sinceContactMs(): number {
    return Math.min(this.#elector.sinceContactMs(), this.#o.clock.now() - this.#lastContact);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#elector.start();
    const loop = async () => {
      if (!this.#running) return;
      this.#step = this.refresh();
      await this.#step;
      this.#step = undefined;
      if (this.#running) this.#timer = this.#o.clock.setTimeout(() => void loop(), this.#o.retryPeriodMs);
    };
    void loop();
  }

  /** Stops listing and releases the own Lease, so the others take its policies at their next list. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#o.clock.clearTimeout(this.#timer);
    await this.#step;
    await this.#elector.stop();
    this.#report();
  }

  /** One list of the member Leases: the view, and whether this replica acts, are renewed together. */
  async refresh(): Promise<void> {
    const c = this.#o.clock;
    const sent = c.now();
    let items: LeaseItem[];
    try {
      const selector = encode(`${MEMBER_LABEL}=${memberGroupLabel(this.#o.group)}`);
      const list = (await this.#o.transport({
        method: 'GET',
        path: `${this.#base}?labelSelector=${selector}`,
        timeoutMs: 5_000,
      })) as { items?: LeaseItem[] };
      items = list.items ?? [];
    } catch (err) {
      this.#o.onError?.(err);
      this.#report();
      return;
    }
    const seen = c.now();
    this.#lastContact = seen;
    this.#view.observe(items.map(toRecord), seen);
    this.#members = this.#view.live(seen);
    this.#viewAt = sent;
    this.#report();
    if (this.acting()) await this.#collect(seen);
  }

  /** Deletes member Leases nobody renewed for ten lease durations (a replica per pod name and pid leaves one each). */
  async #collect(now: number): Promise<void> {
    for (const r of this.#view.stale(now, 10 * this.#o.leaseDurationMs)) {
      if (r.name === this.#leaseName) continue;
      await this.#o
        .transport({
          method: 'DELETE',
          path: `${this.#base}/${encode(r.name)}`,
          body: { preconditions: { resourceVersion: r.resourceVersion } },
          timeoutMs: 5_000,
        })
        // Renewed or deleted meanwhile: nothing to do.
        .catch((err: unknown) => this.#o.onError?.(err));
    }
  }

  #report(): void {
    const acting = this.acting();
    const members = this.#members.join(',');
    if (this.#reported?.acting === acting && this.#reported.members === members) return;
    this.#reported = { acting, members };
    this.#o.onChange?.({ acting, members: this.#members });
  }
}

function toRecord(i: LeaseItem): MemberRecord {
  return {
    name: i.metadata?.name ?? '',
    ...(i.spec?.holderIdentity !== undefined ? { holderIdentity: i.spec.holderIdentity } : {}),
    ...(i.spec?.leaseDurationSeconds !== undefined
      ? { leaseDurationSeconds: i.spec.leaseDurationSeconds }
      : {}),
    ...(i.spec?.renewTime !== undefined ? { renewTime: i.spec.renewTime } : {}),
    ...(i.metadata?.resourceVersion !== undefined ? { resourceVersion: i.metadata.resourceVersion } : {}),
  };
}
