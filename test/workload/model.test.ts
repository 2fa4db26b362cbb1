import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  cappedMeanLatency,
  DEFAULT_BUCKETS,
  emptyHistogram,
  latencyCdf,
  meanLatency,
  recordRequests,
  splitRate,
} from '../../src/workload/model.ts';

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} ≉ ${b}`);

describe('splitRate', () => {
  test('divides evenly among ready pods', () => {
    assert.deepEqual(splitRate(90, 3), { perPod: 30, dropped: 0 });
  });
  test('drops everything when no pod is ready', () => {
    assert.deepEqual(splitRate(90, 0), { perPod: 0, dropped: 90 });
  });
  test('conserves the offered rate', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.nat(1000), (rps, n) => {
        const s = splitRate(rps, n);
        close(s.perPod * n + s.dropped, rps);
      }),
      { seed: 4106 },
    );
  });
});

describe('queueing model', () => {
  const m = { serviceTimeSeconds: 0.02, capacityRps: 50, maxLatencySeconds: 10 };
  test('an idle pod answers in the service time', () => {
    close(meanLatency(0, m), 0.02);
  });
  test('latency is S/(1-ρ) and grows as utilisation nears 1', () => {
    close(meanLatency(25, m), 0.04);
    close(meanLatency(45, m), 0.2);
    assert.ok(meanLatency(49.9, m) > meanLatency(49, m));
  });
  test('a saturated pod has unbounded mean, reported as the timeout', () => {
    assert.equal(meanLatency(50, m), Number.POSITIVE_INFINITY);
    assert.equal(meanLatency(500, m), Number.POSITIVE_INFINITY);
    assert.equal(cappedMeanLatency(Number.POSITIVE_INFINITY, 10), 10);
  });
  test('capped mean never exceeds the cap nor the uncapped mean', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1e4, noNaN: true }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        (mean, cap) => {
          const c = cappedMeanLatency(mean, cap);
          assert.ok(c <= cap + 1e-12 && c <= mean + 1e-12 && c > 0);
        },
      ),
      { seed: 4107 },
    );
  });
  test('CDF is exponential below the cap and 1 at the cap', () => {
    close(latencyCdf(0.1, 0.1, 10), 1 - Math.exp(-1));
    assert.equal(latencyCdf(10, 0.1, 10), 1);
    assert.equal(latencyCdf(5, Number.POSITIVE_INFINITY, 10), 0);
    assert.equal(latencyCdf(10, Number.POSITIVE_INFINITY, 10), 1);
  });
});

describe('histogram bucket arithmetic', () => {
  test('weights each bucket by the CDF; _count and +Inf are the requests', () => {
    const h = emptyHistogram([0.05, 0.1, 10]);
    recordRequests(h, [0.05, 0.1, 10], 1000, 0.05, 10);
    close(h.cumulative[0]!, 1000 * (1 - Math.exp(-1)));
    close(h.cumulative[1]!, 1000 * (1 - Math.exp(-2)));
    assert.equal(h.cumulative[2], 1000);
    assert.equal(h.count, 1000);
    close(h.sum, 1000 * 0.05 * (1 - Math.exp(-200)));
  });
  test('saturated requests all land at the timeout bucket', () => {
    const h = emptyHistogram(DEFAULT_BUCKETS);
    recordRequests(h, DEFAULT_BUCKETS, 30, Number.POSITIVE_INFINITY, 10);
    assert.deepEqual(h.cumulative.slice(0, -1), new Array(DEFAULT_BUCKETS.length - 1).fill(0));
    assert.equal(h.cumulative.at(-1), 30);
    assert.equal(h.sum, 300);
  });
  test('zero or negative requests record nothing', () => {
    const h = emptyHistogram(DEFAULT_BUCKETS);
    recordRequests(h, DEFAULT_BUCKETS, 0, 0.1, 10);
    recordRequests(h, DEFAULT_BUCKETS, -3, 0.1, 10);
    assert.deepEqual(h, emptyHistogram(DEFAULT_BUCKETS));
  });
  test('buckets stay cumulative (monotone, ≤ count) over any sequence of records', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: 0, max: 1e5, noNaN: true }),
            fc.double({ min: 1e-4, max: 1e3, noNaN: true }),
          ),
          {
            maxLength: 20,
          },
        ),
        (records) => {
          const h = emptyHistogram(DEFAULT_BUCKETS);
          let total = 0;
          for (const [n, mean] of records) {
            recordRequests(h, DEFAULT_BUCKETS, n, mean, 10);
            total += n;
          }
          close(h.count, total);
          for (let i = 1; i < h.cumulative.length; i++)
            assert.ok(h.cumulative[i]! >= h.cumulative[i - 1]! - 1e-9);
          assert.ok(h.cumulative.at(-1)! <= h.count * (1 + 1e-12) + 1e-9);
          assert.ok(h.sum <= 10 * h.count * (1 + 1e-12) + 1e-9);
        },
      ),
      { seed: 4108 },
    );
  });
});
