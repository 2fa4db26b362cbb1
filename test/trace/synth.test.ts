import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseTrace } from '../../src/simulate/trace.ts';
import {
  MAX_DAYS,
  SHAPES,
  type SynthOptions,
  SynthOptionsError,
  synthTrace,
  synthTraceDetailed,
  traceCsv,
} from '../../src/trace/synth.ts';

const DAY = 1440;
const FC = { seed: 14, numRuns: 12 };

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Requests summed by hour of day over the whole trace. */
function hourOfDay(requests: readonly number[]): number[] {
  const h = new Array<number>(24).fill(0);
  requests.forEach((v, m) => {
    h[Math.floor((m % DAY) / 60)]! += v;
  });
  return h;
}

function autocorrelation(xs: readonly number[], lag: number): number {
  const mean = sum(xs) / xs.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    den += (xs[i]! - mean) ** 2;
    if (i + lag < xs.length) num += (xs[i]! - mean) * (xs[i + lag]! - mean);
  }
  return num / den;
}

test('the same options give the same trace; another seed gives another', () => {
  for (const shape of SHAPES) {
    const a = synthTrace({ shape, days: 2, seed: 99 });
    assert.equal(a.length, 2 * DAY);
    assert.deepEqual(synthTrace({ shape, days: 2, seed: 99 }), a, shape);
    assert.notDeepEqual(synthTrace({ shape, days: 2, seed: 100 }), a, shape);
    assert.ok(
      a.every((v) => Number.isInteger(v) && v >= 0),
      `${shape}: whole, non-negative counts`,
    );
  }
});

test("the benchmark's traces keep their minutes (bench/results were measured on them)", () => {
  const digest = (o: SynthOptions) =>
    createHash('sha256')
      .update(Buffer.from(Float64Array.from(synthTrace(o)).buffer))
      .digest('hex');
  assert.equal(
    digest({ shape: 'seasonal', days: 28, seed: 20240601 }),
    '2d8d5a9ba49395b4077d66fdd267dc8136b4512b6f38ba8814de1e1d8fb2e3b0',
  );
  assert.equal(
    digest({ shape: 'trending', days: 21, seed: 7_654_321 }),
    '6fec2212c6f51eea1ba1d137f5c100e2148dde3a250ca4c3cee4fa99718817e9',
  );
  assert.equal(
    digest({ shape: 'flat', days: 14, seed: 4242 }),
    'c13ffbd9f3a0bbf06b85d42a0e085424feed92019bf572acc14d6823d0ba6770',
  );
  assert.equal(
    digest({ shape: 'flash-crowd', days: 21, seed: 31337 }),
    'da8612a403695d24bd8985418c4b316bf6f2cef53e169bf44c218a6c41553a34',
  );
  assert.equal(
    digest({ shape: 'surges', days: 21, seed: 1800 }),
    '883cab4a5779a1b2537b48b56830350b1da6e9b2aafd4125a9867848b6468b9e',
  );
  assert.equal(
    digest({ shape: 'batches', days: 7, seed: 900 }),
    '82b71d14f165fa4a511bc32e4343bf266e01ee6ea64d6446190a35a5ca48e418',
  );
});

test('seasonal has a daily period peaking in the afternoon', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (seed) => {
      const r = synthTrace({ shape: 'seasonal', days: 7, seed });
      assert.ok(autocorrelation(r, DAY) > 0.4, 'a day apart: alike');
      assert.ok(autocorrelation(r, DAY / 2) < -0.2, 'half a day apart: opposite');
      const h = hourOfDay(r);
      const busiest = h.indexOf(Math.max(...h));
      assert.ok(busiest >= 13 && busiest <= 17, `busiest hour ${busiest}`);
      assert.ok(Math.max(...h) / Math.min(...h) > 5, 'busy afternoons, quiet nights');
    }),
    FC,
  );
});

test('flat is flat within noise: no hour of the day stands out, no daily period', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (seed) => {
      const r = synthTrace({ shape: 'flat', days: 7, seed });
      const h = hourOfDay(r);
      assert.ok(
        Math.max(...h) / Math.min(...h) < 1.6,
        `hour-of-day range ${Math.max(...h) / Math.min(...h)}`,
      );
      assert.ok(Math.abs(autocorrelation(r, DAY)) < 0.3);
      const mean = sum(r) / r.length;
      assert.ok(mean > 50 && mean < 100, `mean ${mean} near 70/min`);
    }),
    FC,
  );
});

test('trending grows about threefold from the first day to the last', () => {
  const r = synthTrace({ shape: 'trending', days: 14, seed: 5 });
  const first = sum(r.slice(0, DAY));
  const last = sum(r.slice(-DAY));
  assert.ok(last / first > 2.5 && last / first < 6, `growth ×${(last / first).toFixed(2)}`);
});

test('flash-crowd: one surge a day of 5–20× the surrounding baseline, minutes to hours long', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 5 }), (seed, days) => {
      const { requests, baseline, surges } = synthTraceDetailed({ shape: 'flash-crowd', days, seed });
      assert.equal(surges.length, days);
      for (const s of surges) {
        const where = `surge at minute ${s.startMinute}`;
        assert.ok(s.factor >= 5 && s.factor <= 20, `${where}: factor ${s.factor}`);
        assert.ok(s.rampMinutes <= 5, `${where}: sudden`);
        assert.ok(s.plateauMinutes >= 10 && s.plateauMinutes <= 240, `${where}: ${s.plateauMinutes} min`);
        const plateau = s.startMinute + s.rampMinutes;
        const end = plateau + s.plateauMinutes;
        // Measured on the requests, against the noise-free baseline of the same minutes and
        // the hour before the surge: the surge is in the data, not only in its description.
        const ratio = sum(requests.slice(plateau, end)) / sum(baseline.slice(plateau, end));
        assert.ok(ratio >= 4 && ratio <= 25, `${where}: ${ratio.toFixed(2)}× the baseline`);
        const before = sum(requests.slice(s.startMinute - 60, s.startMinute));
        const quiet = before / sum(baseline.slice(s.startMinute - 60, s.startMinute));
        assert.ok(quiet > 0.6 && quiet < 1.6, `${where}: the hour before is plain baseline (${quiet})`);
        assert.ok(end + s.decayMinutes <= requests.length, `${where}: ends inside the trace`);
      }
    }),
    FC,
  );
});

test('surges: a job on every hour and half hour, the hourly ones larger, in the requests', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 3 }), (seed, days) => {
      const { requests, baseline, surges } = synthTraceDetailed({ shape: 'surges', days, seed });
      assert.deepEqual(
        surges.map((s) => s.startMinute),
        Array.from({ length: days * 48 }, (_, i) => 30 * i),
      );
      // Summed over the trace by minute of the hour, against the noise-free baseline: the
      // minutes just after :00 and :30 carry the jobs, the minutes before them do not.
      const byMinute = (from: number) => {
        let r = 0;
        let b = 0;
        for (let m = from; m < requests.length; m += 60) {
          r += requests[m]!;
          b += baseline[m]!;
        }
        return r / b;
      };
      const hour = byMinute(2);
      const half = byMinute(32);
      const quiet = byMinute(15);
      assert.ok(hour > 2 && hour < 4, `:02 ${hour.toFixed(2)}× the baseline`);
      assert.ok(half > 1.4 && half < 2.5, `:32 ${half.toFixed(2)}×`);
      assert.ok(hour > half, 'the jobs on the hour are the larger ones');
      assert.ok(quiet > 0.7 && quiet < 1.4, `:15 ${quiet.toFixed(2)}×, plain baseline`);
    }),
    FC,
  );
});

test('batches: every 9 to 15 minutes, 2 to 5 minutes at 2.5–4× the baseline', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (seed) => {
      const { requests, baseline, surges } = synthTraceDetailed({ shape: 'batches', days: 1, seed });
      assert.ok(surges.length >= DAY / 15 - 1 && surges.length <= DAY / 9, `${surges.length} batches`);
      for (const [i, s] of surges.entries()) {
        const gap = i === 0 ? undefined : s.startMinute - surges[i - 1]!.startMinute;
        if (gap !== undefined) assert.ok(gap >= 9 && gap <= 15, `gap ${gap}`);
        assert.ok(s.plateauMinutes >= 2 && s.plateauMinutes <= 5 && s.factor >= 2.5 && s.factor <= 4);
      }
      const inside = surges.flatMap((s) =>
        Array.from({ length: s.plateauMinutes }, (_, k) => s.startMinute + s.rampMinutes + k),
      );
      const ratio = sum(inside.map((m) => requests[m]!)) / sum(inside.map((m) => baseline[m]!));
      assert.ok(ratio > 2.3 && ratio < 4.2, `batches at ${ratio.toFixed(2)}× the baseline`);
    }),
    FC,
  );
});

test('--peak sets the highest noise-free rate, and the requests follow it', () => {
  for (const shape of SHAPES) {
    for (const peak of [5, 1000]) {
      const { requests, baseline } = synthTraceDetailed({ shape, days: 3, seed: 8, peak });
      assert.ok(Math.abs(Math.max(...baseline) - peak) < 1e-9, `${shape} ${peak}`);
      // Drift, bursts and surges move the level, but not by an order of magnitude.
      const ratio = sum(requests) / sum(baseline);
      assert.ok(
        ratio > 0.6 && ratio < 3,
        `${shape} peak ${peak}: requests ${ratio.toFixed(2)}× the baseline`,
      );
    }
  }
});

test('options that cannot make a trace are clear errors', () => {
  const cases: [Partial<SynthOptions>, RegExp][] = [
    [
      { shape: 'weekly' as never },
      /shape must be one of seasonal, trending, flat, flash-crowd, surges, batches, got "weekly"/,
    ],
    [{ days: 0 }, /days must be a whole number from 1 to 366, got 0/],
    [{ days: 1.5 }, /days must be a whole number/],
    [{ days: MAX_DAYS + 1 }, /days must be a whole number from 1 to 366, got 367/],
    [{ seed: -1 }, /seed must be a whole number from 0 to 4294967295, got -1/],
    [{ seed: 2 ** 32 }, /seed must be/],
    [{ seed: Number.NaN }, /seed must be/],
    [{ peak: 0 }, /peak must be a positive number/],
    [{ peak: Number.POSITIVE_INFINITY }, /peak must be a positive number/],
  ];
  for (const [bad, message] of cases) {
    const opts = { shape: 'seasonal', days: 1, seed: 1, ...bad } as SynthOptions;
    assert.throws(
      () => synthTrace(opts),
      (err: unknown) => {
        assert.ok(err instanceof SynthOptionsError, String(err));
        assert.match(err.message, message);
        return true;
      },
    );
  }
});

test('traceCsv writes what the simulator reads back', () => {
  const requests = synthTrace({ shape: 'flash-crowd', days: 1, seed: 3 });
  const parsed = parseTrace(traceCsv(requests));
  assert.equal(parsed.firstMinute, 0);
  assert.deepEqual(Array.from(parsed.requests), requests);
});
