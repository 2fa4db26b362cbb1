import assert from 'node:assert/strict';
import { test } from 'node:test';
import { costRatio, faultCosts, onOffLoad, reachableShare, totalCost } from '../../bench/pillars.ts';

const series = (replicas: number[], under: number[]) => ({ replicas, under });

test('faultCosts: the minutes missed and the replicas held beyond the clean run, per fault window and kind', () => {
  const clean = series([2, 2, 2, 2, 2, 2, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
  // A zero at minute 1 scales down (two minutes missed, fewer replicas: no waste); a doubled
  // series at minute 6 adds replicas (and spares two minutes the clean run missed: not a saving).
  const faulted = series([2, 1, 1, 2, 2, 2, 4, 4, 3, 2], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  const costs = faultCosts(
    clean,
    faulted,
    [
      { kind: 'zero', from: 60, seconds: 60 },
      { kind: 'doubled', from: 360, seconds: 60 },
    ],
    2,
  );
  assert.deepEqual(costs.get('zero'), { missedMinutes: 2, wastedReplicaMinutes: 0 });
  assert.deepEqual(costs.get('doubled'), { missedMinutes: 0, wastedReplicaMinutes: 5 });
  assert.deepEqual(totalCost(costs), { missedMinutes: 2, wastedReplicaMinutes: 5 });
});

test('faultCosts adds up repeated faults of a kind and stops at the series end', () => {
  const clean = series([1, 1, 1, 1], [0, 0, 0, 0]);
  const faulted = series([3, 1, 3, 3], [0, 1, 0, 1]);
  // Windows [0, 2) and [2, 4): minutes 0 and 2–3 hold 2 replicas more, minutes 1 and 3 missed.
  const costs = faultCosts(
    clean,
    faulted,
    [
      { kind: 'mad', from: 0, seconds: 30 },
      { kind: 'mad', from: 120, seconds: 60 },
    ],
    1,
  );
  assert.deepEqual(costs.get('mad'), { missedMinutes: 2, wastedReplicaMinutes: 6 });
});

test('costRatio: Level 5 ÷ HPA, undefined where the HPA lost nothing', () => {
  assert.equal(costRatio(3, 12), 0.25);
  assert.equal(costRatio(0, 12), 0);
  assert.equal(costRatio(3, 0), undefined);
});

test('reachableShare: the saving against the line taken, of what foresight saves', () => {
  const share = reachableShare({ ratio: 0.95, atMost: false }, { ratio: 0.8, atMost: false }) ?? 0;
  assert.ok(Math.abs(share - 0.25) < 1e-12, `share ${share}`);
  assert.ok(
    Math.abs((reachableShare({ ratio: 1.1, atMost: false }, { ratio: 0.9, atMost: true }) ?? 0) + 1) < 1e-12,
  );
  assert.equal(reachableShare({ ratio: 0.9, atMost: false }, { ratio: 1.0, atMost: false }), undefined);
  assert.equal(reachableShare(undefined, { ratio: 0.8, atMost: false }), undefined);
  assert.equal(reachableShare({ ratio: 0.9, atMost: true }, { ratio: 0.8, atMost: false }), undefined);
});

test('onOffLoad multiplies the on phases and leaves the off phases, with lengths from their ranges', () => {
  // A source that always draws the low end, then one that always draws the high end.
  const low = onOffLoad(
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    { onMinutes: [2, 3], offMinutes: [1, 2], factor: 3 },
    () => 0,
  );
  assert.deepEqual([...low], [3, 3, 1, 3, 3, 1, 3, 3, 1, 3]);
  const high = onOffLoad(
    [2, 2, 2, 2, 2, 2, 2, 2],
    { onMinutes: [2, 3], offMinutes: [1, 2], factor: 3 },
    () => 0.999,
  );
  assert.deepEqual([...high], [6, 6, 6, 2, 2, 6, 6, 6]);
});
