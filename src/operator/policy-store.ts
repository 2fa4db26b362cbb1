// What a replica holds of each ScalingPolicy (docs/sharding.md, issue 20). With sharding on,
// every replica watches every policy, but it acts only on its share: holding the others in
// full made a replica's memory grow with the whole cluster's policies (4.2 GiB projected per
// replica at 100,000). So a policy this replica does not own is kept as a stub: only what the
// one-owner-per-target rule reads (uid, name, namespace, creation time, target reference),
// what the informer compares (resourceVersion) and what its timer reads (generation, polling
// interval). A policy that becomes owned is read in full again (one GET, or one paged list
// when many move at once, as after a start or a rebalance).
import type { ScalingPolicy } from '../crd/types.generated.ts';

/** Above this many policies to read in full at once, one paged list is cheaper than a GET each. */
export const REFILL_BY_LIST_ABOVE = 32;

const stubs = new WeakSet<object>();

/** True for a stub made by stubOf (a policy held only for ownership decisions). */
export function isStub(p: ScalingPolicy): boolean {
  return stubs.has(p);
}

/** The policy reduced to what a replica that does not own it reads (see the header). */
export function stubOf(p: ScalingPolicy): ScalingPolicy {
  if (isStub(p)) return p;
  const m = p.metadata;
  const metadata: ScalingPolicy['metadata'] = {};
  for (const k of ['uid', 'name', 'namespace', 'resourceVersion', 'creationTimestamp', 'generation'])
    if (m[k] !== undefined) metadata[k] = m[k];
  const spec: Record<string, unknown> = { targetRef: p.spec?.targetRef };
  if (p.spec?.pollingIntervalSeconds !== undefined)
    spec.pollingIntervalSeconds = p.spec.pollingIntervalSeconds;
  const s = { apiVersion: p.apiVersion, kind: p.kind, metadata, spec } as unknown as ScalingPolicy;
  stubs.add(s);
  return s;
}

export interface PolicyStoreOptions {
  /** Whether this replica owns the policy now: only those are held in full. */
  holdsFull(uid: string): boolean;
  /** Reads one policy; undefined when it is not found. */
  read(namespace: string, name: string): Promise<ScalingPolicy | undefined>;
  /** Reads every policy (paged), each passed through `keep`. */
  list(keep: (p: ScalingPolicy) => undefined): Promise<unknown>;
}

/** The policies a replica watches, by uid: owned ones in full, the others as stubs. */
export class PolicyStore {
  readonly #o: PolicyStoreOptions;
  readonly #byUid = new Map<string, ScalingPolicy>();
  /** Reads in flight, so that a tick and a refill never read the same policy twice. */
  readonly #reading = new Map<string, Promise<ScalingPolicy | undefined>>();
  #refill: Promise<void> | undefined;

  constructor(o: PolicyStoreOptions) {
    this.#o = o;
  }

  /** What to hold of a policy as it arrives (list or watch): in full when owned, else its stub. */
  admit(p: ScalingPolicy): ScalingPolicy {
    const uid = p.metadata?.uid;
    return uid && this.#o.holdsFull(uid) ? p : stubOf(p);
  }

  get(uid: string): ScalingPolicy | undefined {
    return this.#byUid.get(uid);
  }

  set(uid: string, p: ScalingPolicy): void {
    this.#byUid.set(uid, p);
  }

  delete(uid: string): void {
    this.#byUid.delete(uid);
  }

  has(uid: string): boolean {
    return this.#byUid.has(uid);
  }

  keys(): IterableIterator<string> {
    return this.#byUid.keys();
  }

  values(): IterableIterator<ScalingPolicy> {
    return this.#byUid.values();
  }

  get size(): number {
    return this.#byUid.size;
  }

  /** How many are held in full (the rest are stubs). */
  get fullCount(): number {
    let n = 0;
    for (const p of this.#byUid.values()) if (!isStub(p)) n++;
    return n;
  }

  /** The policy left this replica's share: keep only its stub. */
  release(uid: string): void {
    const p = this.#byUid.get(uid);
    if (p && !isStub(p)) this.#byUid.set(uid, stubOf(p));
  }

  /**
   * The policy in full, reading it when only its stub is held (it became owned); undefined
   * when it is not held, or was deleted or replaced (another uid under its name) meanwhile.
   */
  async full(uid: string): Promise<ScalingPolicy | undefined> {
    if (this.#refill) await this.#refill;
    const held = this.#byUid.get(uid);
    if (!held || !isStub(held)) return held;
    let reading = this.#reading.get(uid);
    if (!reading) {
      reading = this.#readOne(uid, held).finally(() => this.#reading.delete(uid));
      this.#reading.set(uid, reading);
    }
    return reading;
  }

  async #readOne(uid: string, stub: ScalingPolicy): Promise<ScalingPolicy | undefined> {
    const read = await this.#o.read(stub.metadata.namespace ?? '', stub.metadata.name ?? '');
    if (!read || read.metadata.uid !== uid) return undefined;
    const held = this.#byUid.get(uid);
    if (!held || !isStub(held)) return held;
    // The watch's stub is newer than what the read answered: its full object is on the way.
    if (olderThan(read, held)) return undefined;
    this.#byUid.set(uid, read);
    return read;
  }

  /**
   * Many policies became owned at once (a start, a rebalance): one paged list reads them all,
   * keeping in full those owned that are held as stubs. Ticks that need one wait for it.
   */
  refill(): Promise<void> {
    this.#refill ??= this.#o
      .list((p) => {
        const uid = p.metadata?.uid ?? '';
        const held = this.#byUid.get(uid);
        if (held && isStub(held) && this.#o.holdsFull(uid) && !olderThan(p, held)) this.#byUid.set(uid, p);
        return undefined;
      })
      // A failed list leaves the stubs: each tick then reads its own policy (full()).
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.#refill = undefined;
      });
    return this.#refill;
  }
}

/** A read answered with an older spec than the stub the watch delivered since. */
function olderThan(read: ScalingPolicy, stub: ScalingPolicy): boolean {
  return (read.metadata.generation ?? 0) < (stub.metadata.generation ?? 0);
}
