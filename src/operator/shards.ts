// Which replica acts on which policy when every replica works (--sharding=on):
// rendezvous (highest-random-weight) hashing of the policy UID over the live
// members, and the rule that says which members are live. Pure: no I/O, no
// clock of its own (the caller passes its monotonic `now`), so every rule here
// is unit-tested without an API server (docs/sharding.md).

import { hash32 } from '../core/hash.ts';

/** The weight of one member for one policy: every replica computes the same number. */
export function weight(member: string, uid: string): number {
  return hash32(`${member}\n${uid}`);
}

/**
 * The member that owns `uid`: the one of highest weight (ties, which are rare,
 * go to the smaller identity). Adding a member moves only the policies it now
 * wins; removing one moves only the policies it had: about 1/N either way.
 */
export function ownerOf(uid: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestW = -1;
  for (const m of members) {
    const w = weight(m, uid);
    if (w > bestW || (w === bestW && best !== undefined && m < best)) {
      best = m;
      bestW = w;
    }
  }
  return best;
}

/** A member Lease as listed: who holds it, for how long, and what changes on every renewal. */
export interface MemberRecord {
  /** The Lease's name: the key under which it is tracked. */
  name: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
  resourceVersion?: string;
}

interface Seen {
  record: MemberRecord;
  /** Our monotonic time when the record was last seen to change. */
  changedAt: number;
}

/**
 * The live members as one replica sees them. The rule is the leader elector's:
 * a member is live while its Lease's record (renewTime, resourceVersion) was
 * seen to CHANGE within its lease duration, measured on OUR monotonic clock
 * from when we saw the change; the renewTime another machine wrote is never
 * compared with our clock. A Lease released on shutdown (no holder) is gone at
 * once. A Lease seen for the first time counts as just renewed, so a replica
 * that starts never takes over a member it has not watched for a lease duration.
 */
export class MemberView {
  readonly #seen = new Map<string, Seen>();

  /**
   * Takes one complete list of the member Leases, seen at `now` (take it AFTER
   * the answer arrived: a later time only makes a dead member live longer).
   */
  observe(records: readonly MemberRecord[], now: number): void {
    const names = new Set<string>();
    for (const r of records) {
      names.add(r.name);
      const prev = this.#seen.get(r.name);
      const same =
        prev &&
        prev.record.holderIdentity === r.holderIdentity &&
        prev.record.renewTime === r.renewTime &&
        prev.record.resourceVersion === r.resourceVersion;
      if (!same) this.#seen.set(r.name, { record: r, changedAt: now });
    }
    for (const name of this.#seen.keys()) if (!names.has(name)) this.#seen.delete(name);
  }

  /** The identities of the live members at `now`, sorted. */
  live(now: number): string[] {
    const out = new Set<string>();
    for (const { record, changedAt } of this.#seen.values()) {
      const holder = record.holderIdentity ?? '';
      if (holder !== '' && now < changedAt + durationMs(record)) out.add(holder);
    }
    return [...out].sort();
  }

  /**
   * Leases nobody renewed for `ageMs` (released or dead): safe to delete, so
   * that replicas with a new identity per start do not leave one Lease each.
   */
  stale(now: number, ageMs: number): MemberRecord[] {
    return [...this.#seen.values()]
      .filter(({ record, changedAt }) => now >= changedAt + Math.max(ageMs, durationMs(record)))
      .map((s) => s.record);
  }
}

function durationMs(r: MemberRecord): number {
  return (r.leaseDurationSeconds ?? 15) * 1000;
}

/** A Lease name of at most 63 characters from any identity (lower-case DNS label characters). */
export function memberLeaseName(group: string, identity: string): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '');
  // A hash of the raw identity keeps two identities that clean to the same text apart.
  const tail = hash32(identity).toString(36);
  const head = `${clean(group)}-member-${clean(identity)}`.slice(0, 62 - tail.length).replace(/-+$/, '');
  return `${head}-${tail}`;
}

/** A label value (≤ 63 characters) naming the group of members that share policies. */
export function memberGroupLabel(group: string): string {
  const clean = group.replace(/[^A-Za-z0-9_.-]+/g, '-');
  if (clean.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(clean)) return clean;
  return `g${hash32(group).toString(36)}`;
}
