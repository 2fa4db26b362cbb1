import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruMap, TokenBucket } from '../../src/kube/rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then spaces requests at the rate, in the order they came', () => {
    let t = 0;
    const b = new TokenBucket(10, 3, () => t);
    assert.deepEqual([b.reserve(), b.reserve(), b.reserve()], [0, 0, 0]);
    assert.equal(b.reserve(), 100, 'the 4th waits one refill (1/10 s)');
    assert.equal(b.reserve(), 200, 'the 5th waits behind the 4th');
    t = 1_000;
    assert.equal(b.reserve(), 0, 'refilled after a quiet second (never beyond the burst)');
  });

  it('takes nothing when the wait would pass the deadline', () => {
    let t = 0;
    const b = new TokenBucket(1, 1, () => t);
    assert.equal(b.reserve(), 0);
    assert.equal(b.reserve(500), undefined, 'a token is 1 s away');
    assert.equal(b.reserve(1_000), 1_000, 'the refused reservation did not push this one out');
    t = 2_000;
    assert.equal(b.tryTake(), true);
    assert.equal(b.tryTake(), false);
  });

  it('refuses a bucket that could never give a token', () => {
    assert.throws(() => new TokenBucket(0, 1), /rate > 0/);
    assert.throws(() => new TokenBucket(1, 0), /burst >= 1/);
  });
});

describe('LruMap', () => {
  it('forgets the least recently used key beyond its size', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.get('a');
    m.set('c', 3);
    assert.equal(m.get('b'), undefined);
    assert.equal(m.get('a'), 1);
    assert.equal(m.size, 2);
  });
});
