import assert from 'node:assert/strict';
import { test } from 'node:test';
import { againstLine, costAtMiss, type TradePoint } from '../../bench/frontier.ts';

// hpa-default itself, then the HPA at two lower targets: more replicas, fewer misses.
const line: TradePoint[] = [
  { cost: 1, miss: 1 },
  { cost: 1.1, miss: 0.6 },
  { cost: 1.2, miss: 0.2 },
];

test('costAtMiss: linear between the points around it, in any input order', () => {
  assert.equal(costAtMiss(line, 1), 1);
  assert.equal(costAtMiss(line, 0.2), 1.2);
  assert.ok(Math.abs((costAtMiss(line, 0.8) as number) - 1.05) < 1e-12);
  assert.ok(Math.abs((costAtMiss([...line].reverse(), 0.4) as number) - 1.15) < 1e-12);
});

test('costAtMiss: not extrapolated beyond the measured points, nor from nothing', () => {
  assert.equal(costAtMiss(line, 0.1), undefined);
  assert.equal(costAtMiss(line, 1.3), undefined);
  assert.equal(costAtMiss([], 0.5), undefined);
  assert.equal(costAtMiss(line, Number.NaN), undefined);
  assert.equal(costAtMiss([{ cost: Number.POSITIVE_INFINITY, miss: 0.5 }], 0.5), undefined);
});

test('costAtMiss: two points at the same misses take the cheaper', () => {
  assert.equal(
    costAtMiss(
      [
        { cost: 1.3, miss: 0.5 },
        { cost: 1.1, miss: 0.5 },
      ],
      0.5,
    ),
    1.1,
  );
});

test('againstLine: below 1 when the same misses cost less than lowering the target', () => {
  const on = againstLine(line, { cost: 1.1, miss: 0.4 });
  assert.equal(on?.atMost, false);
  assert.ok(Math.abs((on?.ratio as number) - 1.1 / 1.15) < 1e-12);
  assert.ok((againstLine(line, { cost: 1.2, miss: 0.8 })?.ratio as number) > 1);
});

test('againstLine: below the fewest misses on the line, a bound against that point; above the range, nothing', () => {
  assert.deepEqual(againstLine(line, { cost: 0.96, miss: 0.05 }), { ratio: 0.8, atMost: true });
  assert.equal(againstLine(line, { cost: 1, miss: 1.2 }), undefined);
  assert.equal(againstLine([], { cost: 1, miss: 0.5 }), undefined);
});
