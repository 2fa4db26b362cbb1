import type { LeaseClient, LeaseRecord } from '../../src/operator/leader.ts';

/** An in-memory Lease with the API server's optimistic concurrency. */
export class FakeLease implements LeaseClient {
  record: LeaseRecord | undefined;
  rv = 0;
  down = false;
  writes = 0;
  /** Requests never answer (a partition that black-holes packets) until heal(). */
  hang = false;
  #hung: Array<(err: Error) => void> = [];
  #never(): Promise<never> {
    return new Promise<never>((_, reject) => this.#hung.push(reject));
  }
  /** Ends the partition: hung requests fail (connection reset), new ones are answered. */
  heal(): void {
    this.hang = false;
    for (const r of this.#hung.splice(0)) r(new Error('connection reset'));
  }
  async get() {
    if (this.hang) return this.#never();
    if (this.down) throw new Error('connection refused');
    return this.record ? { ...this.record } : undefined;
  }
  async create(r: LeaseRecord) {
    if (this.down) throw new Error('connection refused');
    if (this.record) throw Object.assign(new Error('exists'), { status: 409 });
    this.writes++;
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }
  async update(r: LeaseRecord) {
    if (this.hang) return this.#never();
    if (this.down) throw new Error('connection refused');
    if (!this.record || r.resourceVersion !== this.record.resourceVersion) {
      throw Object.assign(new Error('conflict'), { status: 409 });
    }
    this.writes++;
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }
}
