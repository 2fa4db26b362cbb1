import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPhase, OVER_INTERVAL, TickScheduler } from '../../src/operator/scheduler.ts';
import { FakeClock, flush } from './fake-clock.ts';

function setup(opts: { maxConcurrent?: number; random?: () => number; hold?: boolean } = {}) {
  const clock = new FakeClock();
  const runs: Array<{ key: string; dueAt: number; at: number }> = [];
  const releases: Array<() => void> = [];
  const skips: string[] = [];
  const s = new TickScheduler({
    clock,
    maxConcurrent: opts.maxConcurrent ?? 10,
    phase: opts.random ?? (() => 0.5),
    onSkip: (k) => skips.push(k),
    run: async (key, dueAt) => {
      runs.push({ key, dueAt, at: clock.now() });
      if (opts.hold) await new Promise<void>((r) => releases.push(r));
    },
  });
  return { clock, s, runs, releases, skips };
}

describe('TickScheduler', () => {
  it('ticks each policy at its interval after a random phase within the spread', async () => {
    const { clock, s, runs } = setup({ random: () => 0.25 });
    const t0 = clock.now();
    s.upsert('a', 10, 8000);
    await clock.advance(1999);
    assert.equal(runs.length, 0);
    await clock.advance(1);
    assert.deepEqual(
      runs.map((r) => r.at - t0),
      [2000],
    );
    await clock.advance(30_000);
    assert.deepEqual(
      runs.map((r) => r.at - t0),
      [2000, 12_000, 22_000, 32_000],
    );
    assert.ok(
      runs.every((r) => r.dueAt === r.at),
      'no queueing delay with free slots',
    );
  });

  it('a new policy without a spread acts within a second', async () => {
    const { clock, s, runs } = setup({ random: () => 0.999 });
    const t0 = clock.now();
    s.upsert('a', 30);
    await clock.advance(1000);
    assert.equal(runs.length, 1);
    assert.ok(runs[0]!.at - t0 < 1000);
  });

  it('keeps the phase on the grid: a slow tick does not shift later ticks', async () => {
    const { clock, s, runs, releases } = setup({ random: () => 0, hold: true });
    const t0 = clock.now();
    s.upsert('a', 5, 0);
    await clock.advance(0);
    assert.equal(runs.length, 1);
    await clock.advance(3000);
    releases.shift()!();
    await flush();
    await clock.advance(2000);
    assert.deepEqual(
      runs.map((r) => r.dueAt - t0),
      [0, 5000],
    );
  });

  it('skips a tick while the previous one of the same policy still runs', async () => {
    const { clock, s, runs, releases, skips } = setup({ random: () => 0, hold: true });
    s.upsert('a', 1, 0);
    await clock.advance(0);
    await clock.advance(3000);
    assert.equal(runs.length, 1);
    assert.equal(skips.length, 3);
    releases.shift()!();
    await flush();
    await clock.advance(1000);
    assert.equal(runs.length, 2);
  });

  it('bounds the ticks in flight and runs the queue in due order', async () => {
    const { clock, s, runs, releases } = setup({ maxConcurrent: 2, random: () => 0, hold: true });
    for (const k of ['a', 'b', 'c', 'd']) s.upsert(k, 60, 0);
    await clock.advance(0);
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a', 'b'],
    );
    assert.equal(s.inFlight, 2);
    assert.equal(s.queued, 2);
    releases.shift()!();
    await flush();
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a', 'b', 'c'],
    );
    await clock.advance(500);
    releases.shift()!();
    await flush();
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(runs[3]!.dueAt, runs[0]!.dueAt, 'dueAt is when it was due, not when it ran');
    assert.equal(runs[3]!.at - runs[3]!.dueAt, 500);
  });

  it('remove() stops a policy; a changed interval keeps the phase', async () => {
    const { clock, s, runs } = setup({ random: () => 0 });
    const t0 = clock.now();
    s.upsert('a', 10, 0);
    s.upsert('b', 10, 0);
    await clock.advance(0);
    s.remove('b');
    s.upsert('a', 4);
    assert.equal(s.upsert('a', 4), undefined, 'same interval is a no-op');
    await clock.advance(12_000);
    assert.deepEqual(
      runs.map((r) => `${r.key}@${r.dueAt - t0}`),
      ['a@0', 'b@0', 'a@4000', 'a@8000', 'a@12000'],
    );
    assert.equal(s.has('b'), false);
  });

  it('trigger() runs at once without moving the schedule', async () => {
    const { clock, s, runs } = setup({ random: () => 0 });
    const t0 = clock.now();
    s.upsert('a', 10, 0);
    await clock.advance(3000);
    s.trigger('a');
    await flush();
    await clock.advance(7000);
    assert.deepEqual(
      runs.map((r) => r.at - t0),
      [0, 3000, 10_000],
    );
  });

  it('a trigger while the tick runs marks it dirty: one more tick right after, however many triggers', async () => {
    const { clock, s, runs, releases } = setup({ random: () => 0, hold: true });
    s.upsert('a', 300, 0);
    await clock.advance(0);
    assert.equal(runs.length, 1);
    // A spec change (or three) arrives while the tick runs.
    s.trigger('a');
    s.trigger('a');
    s.trigger('a');
    await clock.advance(10);
    assert.equal(runs.length, 1, 'one tick in flight per policy');
    releases.shift()!();
    await flush();
    assert.equal(runs.length, 2, 'the dirty policy ticks again right after, not 300 s later');
    releases.shift()!();
    await flush();
    await clock.advance(1000);
    assert.equal(runs.length, 2, 'coalesced: one extra tick, not one per trigger');
  });

  it('a timer tick that falls due while the tick runs stays skipped (not dirty)', async () => {
    const { clock, s, runs, releases, skips } = setup({ random: () => 0, hold: true });
    s.upsert('a', 1, 0);
    await clock.advance(0);
    await clock.advance(1000);
    assert.deepEqual(skips, ['a']);
    releases.shift()!();
    await flush();
    assert.equal(runs.length, 1);
  });

  it('a disabled scheduler (standby) runs nothing but keeps its timers', async () => {
    const { clock, s, runs } = setup({ random: () => 0 });
    s.setEnabled(false);
    s.upsert('a', 2, 0);
    await clock.advance(10_000);
    assert.equal(runs.length, 0);
    assert.equal(clock.pending, 1);
    s.setEnabled(true);
    await clock.advance(2000);
    assert.equal(runs.length, 1);
  });

  it('drain() waits for running ticks and starts no new ones', async () => {
    const { clock, s, runs, releases } = setup({ maxConcurrent: 1, random: () => 0, hold: true });
    s.upsert('a', 1, 0);
    s.upsert('b', 1, 0);
    await clock.advance(0);
    let drained = false;
    const d = s.drain().then(() => {
      drained = true;
    });
    await flush();
    assert.equal(drained, false);
    releases.shift()!();
    await d;
    assert.equal(drained, true);
    await clock.advance(5000);
    assert.deepEqual(
      runs.map((r) => r.key),
      ['a'],
    );
    assert.equal(clock.pending, 0);
  });

  it('a throwing tick does not stop the schedule', async () => {
    const clock = new FakeClock();
    let n = 0;
    const s = new TickScheduler({
      clock,
      maxConcurrent: 1,
      phase: () => 0,
      run: async () => {
        n++;
        throw new Error('boom');
      },
    });
    s.upsert('a', 1, 0);
    await clock.advance(3000);
    assert.equal(n, 4);
  });

  describe('start-up without a stampede', () => {
    const INTERVAL_S = 15;
    const N = 1000;
    /** uid-shaped keys, as the operator uses (a fixed list: the test is the same every run). */
    const uids = Array.from({ length: N }, (_, i) => {
      const h = (i * 2654435761) >>> 0;
      return `${h.toString(16).padStart(8, '0')}-4b1e-4c2a-9d3f-${String(i).padStart(12, '0')}`;
    });

    /** First-tick counts per tenth of the interval after t0. */
    function tenths(runs: Array<{ key: string; at: number }>, t0: number): number[] {
      const counts = new Array(10).fill(0);
      const first = new Map<string, number>();
      for (const r of runs) if (!first.has(r.key)) first.set(r.key, r.at);
      for (const at of first.values()) counts[Math.floor(((at - t0) / (INTERVAL_S * 1000)) * 10)]++;
      return counts;
    }

    function scheduler(clock: FakeClock, runs: Array<{ key: string; at: number }>) {
      return new TickScheduler({
        clock,
        maxConcurrent: 10_000,
        run: async (key) => {
          runs.push({ key, at: clock.now() });
        },
      });
    }

    it(`spreads ${N} policies' first ticks over one interval (no tenth above twice its share)`, async () => {
      const clock = new FakeClock(1_700_000_000_123);
      const runs: Array<{ key: string; at: number }> = [];
      const s = scheduler(clock, runs);
      const t0 = clock.now();
      for (const uid of uids) s.upsert(uid, INTERVAL_S, OVER_INTERVAL);
      await clock.advance(INTERVAL_S * 1000 - 1);
      assert.equal(new Set(runs.map((r) => r.key)).size, N, 'every policy ticked within one interval');
      const counts = tenths(runs, t0);
      console.log(`start-up: first ticks per tenth of the interval: ${counts.join(', ')}`);
      assert.ok(
        counts.every((c) => c <= (2 * N) / 10),
        `first ticks per tenth of the interval: ${counts.join(', ')}`,
      );
    });

    it('puts a policy at the same phase in every replica and after a restart', async () => {
      const at = async (start: number) => {
        const clock = new FakeClock(start);
        const runs: Array<{ key: string; at: number }> = [];
        scheduler(clock, runs).upsert(uids[7]!, INTERVAL_S, OVER_INTERVAL);
        await clock.advance(INTERVAL_S * 1000);
        return runs[0]!.at % (INTERVAL_S * 1000);
      };
      const phaseMs = Math.floor(hashPhase(uids[7]!) * INTERVAL_S * 1000);
      assert.equal(await at(1_700_000_000_000), phaseMs);
      assert.equal(await at(1_700_000_004_321), phaseMs);
    });

    it('a new leader runs the policies at their phases, not all at once', async () => {
      const clock = new FakeClock(1_700_000_000_000);
      const runs: Array<{ key: string; at: number }> = [];
      const s = scheduler(clock, runs);
      s.setEnabled(false);
      for (const uid of uids) s.upsert(uid, INTERVAL_S, OVER_INTERVAL);
      await clock.advance(40_000);
      assert.equal(runs.length, 0, 'a standby runs nothing');
      const t0 = clock.now();
      s.setEnabled(true);
      await clock.advance(INTERVAL_S * 1000 - 1);
      assert.equal(new Set(runs.map((r) => r.key)).size, N);
      const counts = tenths(runs, t0);
      console.log(`failover: first ticks per tenth of the interval: ${counts.join(', ')}`);
      assert.ok(
        counts.every((c) => c <= (2 * N) / 10),
        `first ticks per tenth: ${counts.join(', ')}`,
      );
    });

    it('a policy created at runtime still ticks within a second', async () => {
      const clock = new FakeClock();
      const runs: Array<{ key: string; at: number }> = [];
      const s = scheduler(clock, runs);
      const t0 = clock.now();
      for (const uid of uids.slice(0, 50)) s.upsert(uid, 60);
      await clock.advance(999);
      assert.equal(runs.length, 50);
      assert.ok(runs.every((r) => r.at - t0 < 1000));
    });
  });
});
