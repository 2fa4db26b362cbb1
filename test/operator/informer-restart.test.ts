// The one restart rule of every watch the operator holds (src/operator/informer-restart.ts).
// A fake informer stands in for client-node's ListWatch: the rule only needs its events and
// start(), and the test needs to fire errors on demand.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import {
  MAX_RETRY_MS,
  type RestartableInformer,
  restartOnError,
} from '../../src/operator/informer-restart.ts';

class FakeInformer extends EventEmitter implements RestartableInformer {
  starts = 0;
  async start(): Promise<void> {
    this.starts++;
  }
}

function setup(opts: { refuse?: (err: unknown) => boolean; maxDelayMs?: () => number } = {}) {
  const informer = new FakeInformer();
  const pending: Array<{ restart: () => void; ms: number }> = [];
  const told: number[] = [];
  restartOnError(informer, {
    onError: (err, retryInMs) => {
      told.push(retryInMs);
      return !opts.refuse?.(err);
    },
    schedule: (restart, ms) => pending.push({ restart, ms }),
    ...(opts.maxDelayMs ? { maxDelayMs: opts.maxDelayMs } : {}),
  });
  const fail = () => informer.emit('error', new Error('watch closed'));
  return { informer, pending, told, fail };
}

describe('restartOnError', () => {
  it('restarts after 1 s, doubling up to 30 s', () => {
    const { informer, pending, told, fail } = setup();
    for (let i = 0; i < 8; i++) fail();
    assert.deepEqual(
      pending.map((p) => p.ms),
      [1000, 2000, 4000, 8000, 16000, MAX_RETRY_MS, MAX_RETRY_MS, MAX_RETRY_MS],
    );
    assert.deepEqual(
      told,
      pending.map((p) => p.ms),
      'onError is told the wait it will have',
    );
    assert.equal(informer.starts, 0, 'nothing starts before its time');
    pending[0]!.restart();
    assert.equal(informer.starts, 1);
  });

  it('starts from 1 s again once the informer delivers an event', () => {
    const { informer, pending, fail } = setup();
    fail();
    fail();
    informer.emit('update', {});
    fail();
    assert.deepEqual(
      pending.map((p) => p.ms),
      [1000, 2000, 1000],
    );
  });

  it('does not restart when onError says so', () => {
    const { pending, fail } = setup({ refuse: () => true });
    fail();
    assert.equal(pending.length, 0);
  });

  it('reads the longest wait after onError', () => {
    let max = 30_000;
    const { pending, fail } = setup({
      refuse: () => {
        max = 5000;
        return false;
      },
      maxDelayMs: () => max,
    });
    for (let i = 0; i < 5; i++) fail();
    assert.deepEqual(
      pending.map((p) => p.ms),
      [1000, 2000, 4000, 5000, 5000],
    );
  });
});
