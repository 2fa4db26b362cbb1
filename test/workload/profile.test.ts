import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  evaluateProfile,
  type Profile,
  parseKeyValues,
  parsePositiveAnnotation,
  parseProfileSpec,
  parseStartAnnotation,
  parseTraceCsv,
} from '../../src/workload/profile.ts';

function ok<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('parseProfileSpec', () => {
  test('parses every profile kind', () => {
    assert.deepEqual(ok(parseProfileSpec('constant', 'rps=50')), { kind: 'constant', rps: 50 });
    assert.deepEqual(ok(parseProfileSpec('step', 'before=10, after=200 ,atSeconds=30')), {
      kind: 'step',
      before: 10,
      after: 200,
      atSeconds: 30,
    });
    assert.deepEqual(ok(parseProfileSpec('ramp', 'from=10,to=200,seconds=300')), {
      kind: 'ramp',
      from: 10,
      to: 200,
      seconds: 300,
    });
    assert.deepEqual(ok(parseProfileSpec('sine', 'base=100,amplitude=50,periodSeconds=600')), {
      kind: 'sine',
      base: 100,
      amplitude: 50,
      periodSeconds: 600,
    });
    assert.deepEqual(ok(parseProfileSpec('trace', 'file=/data/t.csv,speedup=60')), {
      kind: 'trace',
      file: '/data/t.csv',
      speedup: 60,
      scale: 1,
      startMinute: 0,
    });
    assert.deepEqual(ok(parseProfileSpec('trace', 'file=t.csv,scale=0.5,startMinute=600')), {
      kind: 'trace',
      file: 't.csv',
      speedup: 1,
      scale: 0.5,
      startMinute: 600,
    });
  });

  const bad: Array<[string, string | undefined, RegExp]> = [
    ['bogus', 'rps=1', /unknown profile "bogus" \(expected one of constant, step, ramp, sine, trace\)/],
    ['constant', undefined, /missing annotation tidemark.dev\/load/],
    ['constant', '', /missing key "rps"/],
    ['constant', 'rps=fast', /rps: "fast" is not a finite number/],
    ['constant', 'rps=', /rps: "" is not a finite number/],
    ['constant', 'rps=-1', /rps: must be >= 0/],
    ['constant', 'rps=Infinity', /not a finite number/],
    ['constant', 'rps=1,burst=2', /unknown key "burst" \(expected rps\)/],
    ['constant', 'rps=1,rps=2', /key "rps" given twice/],
    ['constant', 'rps', /expected key=value, found "rps"/],
    ['ramp', 'from=1,to=2,seconds=0', /seconds: must be > 0/],
    ['ramp', 'from=1,to=2', /missing key "seconds"/],
    ['sine', 'base=1,amplitude=1,periodSeconds=-5', /periodSeconds: must be > 0/],
    ['step', 'before=1,after=2', /missing key "atSeconds"/],
    ['trace', 'speedup=2', /missing key "file"/],
    ['trace', 'file=a.csv,speedup=0', /speedup: must be > 0/],
    ['trace', 'file=a.csv,startMinute=1.5', /startMinute: must be an integer/],
  ];
  for (const [kind, load, re] of bad) {
    test(`rejects ${kind} "${load}" with a clear message`, () => {
      const r = parseProfileSpec(kind, load);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.match(r.error, re);
        assert.match(r.error, new RegExp(`^tidemark.dev/load-profile=${kind} `));
      }
    });
  }

  test('never throws, whatever the annotation says', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('constant', 'step', 'ramp', 'sine', 'trace', 'x'),
        fc.string(),
        (kind, load) => {
          const r = parseProfileSpec(kind, load);
          // Either way something definite: an unknown kind is never accepted, an accepted
          // profile has the kind asked for, and a rejection names the label and annotation.
          assert.ok(!r.ok || (kind !== 'x' && r.value.kind === kind), JSON.stringify(r));
          assert.ok(r.ok || r.error.startsWith(`tidemark.dev/load-profile=${kind} `), JSON.stringify(r));
        },
      ),
      { seed: 93, numRuns: 200 },
    );
  });
});

test('parseKeyValues ignores empty items and whitespace', () => {
  assert.deepEqual(
    [...ok(parseKeyValues(' a = 1 ,, b=2, '))],
    [
      ['a', '1'],
      ['b', '2'],
    ],
  );
});

describe('evaluateProfile', () => {
  test('constant', () => {
    const p: Profile = { kind: 'constant', rps: 42 };
    assert.equal(evaluateProfile(p, 0), 42);
    assert.equal(evaluateProfile(p, 1e6), 42);
  });
  test('step changes at atSeconds', () => {
    const p: Profile = { kind: 'step', before: 10, after: 90, atSeconds: 60 };
    assert.equal(evaluateProfile(p, 59.9), 10);
    assert.equal(evaluateProfile(p, 60), 90);
    assert.equal(evaluateProfile(p, -5), 10);
  });
  test('ramp interpolates, then holds its end', () => {
    const p: Profile = { kind: 'ramp', from: 10, to: 210, seconds: 100 };
    assert.equal(evaluateProfile(p, 0), 10);
    assert.equal(evaluateProfile(p, 50), 110);
    assert.equal(evaluateProfile(p, 100), 210);
    assert.equal(evaluateProfile(p, 1000), 210);
    const down: Profile = { kind: 'ramp', from: 200, to: 0, seconds: 10 };
    assert.equal(evaluateProfile(down, 5), 100);
  });
  test('sine oscillates around its base and never goes negative', () => {
    const p: Profile = { kind: 'sine', base: 100, amplitude: 50, periodSeconds: 60 };
    assert.equal(evaluateProfile(p, 0), 100);
    assert.ok(Math.abs(evaluateProfile(p, 15) - 150) < 1e-9);
    assert.ok(Math.abs(evaluateProfile(p, 45) - 50) < 1e-9);
    const deep: Profile = { kind: 'sine', base: 10, amplitude: 50, periodSeconds: 60 };
    assert.equal(evaluateProfile(deep, 45), 0);
  });
  test('trace replays requests/60 per minute, sped up and scaled, and loops', () => {
    const p: Profile = {
      kind: 'trace',
      file: 'x',
      speedup: 60,
      scale: 2,
      startMinute: 1,
      perMinute: [60, 120, 180],
    };
    // speedup 60: one trace minute per second, starting at minute 1.
    assert.equal(evaluateProfile(p, 0), 4);
    assert.equal(evaluateProfile(p, 0.99), 4);
    assert.equal(evaluateProfile(p, 1), 6);
    assert.equal(evaluateProfile(p, 2), 2); // looped back to minute 0
    const real: Profile = {
      kind: 'trace',
      file: 'x',
      speedup: 1,
      scale: 1,
      startMinute: 0,
      perMinute: [600, 60],
    };
    assert.equal(evaluateProfile(real, 59), 10);
    assert.equal(evaluateProfile(real, 60), 1);
  });
});

describe('parseTraceCsv', () => {
  test('reads minute,requests with a header, filling gaps with zero', () => {
    assert.deepEqual(ok(parseTraceCsv('minute,requests\n5,10\n6,20\n8,40\n')), [10, 20, 0, 40]);
    assert.deepEqual(ok(parseTraceCsv('0,1\r\n1,2\r\n')), [1, 2]);
  });
  test('rejects bad rows with their line number', () => {
    const r = parseTraceCsv('minute,requests\n0,1\n1,abc\n');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /line 3: expected minute,requests/);
    const order = parseTraceCsv('0,1\n0,2\n');
    assert.ok(!order.ok && /minutes must increase/.test(order.error));
    const neg = parseTraceCsv('0,-1\n');
    assert.ok(!neg.ok && /negative requests/.test(neg.error));
    const empty = parseTraceCsv('minute,requests\n');
    assert.ok(!empty.ok && /no data rows/.test(empty.error));
  });
});

test('optional annotations: capacity and start time', () => {
  assert.equal(ok(parsePositiveAnnotation('tidemark.dev/capacity-rps', undefined, 100)), 100);
  assert.equal(ok(parsePositiveAnnotation('tidemark.dev/capacity-rps', ' 25 ', 100)), 25);
  const zero = parsePositiveAnnotation('tidemark.dev/capacity-rps', '0', 100);
  assert.ok(!zero.ok && /tidemark.dev\/capacity-rps: must be > 0/.test(zero.error));
  assert.equal(ok(parseStartAnnotation('2030-01-01T00:00:00Z')), Date.UTC(2030, 0, 1));
  assert.equal(ok(parseStartAnnotation(undefined)), undefined);
  assert.equal(parseStartAnnotation('yesterday').ok, false);
});
