import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { seriesToTrace, traceCsv } from '../../src/backtest/series.ts';
import { classifyRange } from '../../src/collector/index.ts';
import { parseTrace } from '../../src/simulate/trace.ts';

const MIN = 60_000;
const T0 = 1_764_600_000_000;

test('each sample is the load of the minute that ends at its time, in the metric units', () => {
  const r = seriesToTrace([
    [T0, 5],
    [T0 + MIN, 7.5],
    [T0 + 2 * MIN, 0],
  ]);
  assert.deepEqual([...r.trace.requests], [5, 7.5, 0]);
  assert.equal(r.trace.firstMinute, 0);
  assert.equal(r.startMs, T0 - MIN, 'the first minute starts one step before the first sample');
  assert.deepEqual(r.outages, []);
  assert.equal(r.missingMinutes, 0);
});

test('a gap holds the last load and becomes a metric outage; leading and trailing absence is trimmed', () => {
  const r = seriesToTrace([
    [T0, 4],
    [T0 + MIN, 6],
    [T0 + 4 * MIN, 9],
    [T0 + 6 * MIN, 1],
  ]);
  assert.deepEqual([...r.trace.requests], [4, 6, 6, 6, 9, 9, 1]);
  assert.deepEqual(r.outages, [
    { startMinute: 2, lengthMinutes: 2 },
    { startMinute: 5, lengthMinutes: 1 },
  ]);
  assert.equal(r.missingMinutes, 3);
});

test('NaN, ±Inf and negative samples (dropped by the collector) are gaps, not numbers', () => {
  const data = {
    resultType: 'matrix',
    result: [
      {
        metric: {},
        values: [
          [T0 / 1000, '3'],
          [(T0 + MIN) / 1000, 'NaN'],
          [(T0 + 2 * MIN) / 1000, '+Inf'],
          [(T0 + 3 * MIN) / 1000, '-1'],
          [(T0 + 4 * MIN) / 1000, '8'],
        ],
      },
    ],
  };
  const c = classifyRange(data, 1e15);
  assert.ok(c.ok);
  const r = seriesToTrace(c.points);
  assert.deepEqual([...r.trace.requests], [3, 3, 3, 3, 8]);
  assert.deepEqual(r.outages, [{ startMinute: 1, lengthMinutes: 3 }]);
});

test('timestamps a few ms off the grid (float seconds) still land on their minute', () => {
  const r = seriesToTrace([
    [T0 + 0.4, 1],
    [T0 + MIN - 0.3, 2],
    [T0 + 2 * MIN + 0.1, 3],
  ]);
  assert.deepEqual([...r.trace.requests], [1, 2, 3]);
});

test('an empty history is a clear error', () => {
  assert.throws(() => seriesToTrace([]), /no samples/);
});

test('traceCsv is read back by simulate exactly', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }), {
        minLength: 1,
        maxLength: 50,
      }),
      (values) => {
        const trace = { requests: Float64Array.from(values), firstMinute: 0 };
        const back = parseTrace(traceCsv(trace), 'x.csv');
        assert.deepEqual([...back.requests], [...trace.requests]);
      },
    ),
    { seed: 1403, numRuns: 200 },
  );
});
