import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Classified,
  classifyInstant,
  classifyRange,
  DEFAULT_MAX_VALUE,
  parseSampleValue,
  type RawQueryData,
} from '../../src/collector/classify.ts';

const NOW = 1_700_000_000_000;
const opts = { now: NOW, staleAfterMs: 30_000, maxValue: DEFAULT_MAX_VALUE };
const t = NOW / 1000;
const vector = (...values: string[]): RawQueryData => ({
  resultType: 'vector',
  result: values.map((v, i) => ({ metric: { pod: `p${i}` }, value: [t, v] })),
});

function kindOf(c: Classified): string {
  return c.ok ? `ok:${c.value}` : c.error.kind;
}

describe('classifyInstant', () => {
  it('accepts a one-series vector, with its sample time', () => {
    const c = classifyInstant(vector('431.2'), opts);
    assert.deepEqual(c, { ok: true, value: 431.2, sampledAt: NOW });
  });

  it('accepts a scalar', () => {
    assert.deepEqual(classifyInstant({ resultType: 'scalar', result: [t, '3'] }, opts), {
      ok: true,
      value: 3,
      sampledAt: NOW,
    });
  });

  it('accepts zero and turns -0 into 0', () => {
    const c = classifyInstant(vector('-0'), opts);
    assert.ok(c.ok && Object.is(c.value, 0));
  });

  const cases: Array<[string, RawQueryData, string]> = [
    ['empty vector', vector(), 'empty'],
    ['several series', vector('1', '2'), 'multiple-series'],
    ['NaN', vector('NaN'), 'nan'],
    ['+Inf', vector('+Inf'), 'infinite'],
    ['-Inf', vector('-Inf'), 'infinite'],
    ['negative', vector('-1'), 'negative'],
    ['1e308', vector('1e308'), 'too-large'],
    ['above the bound', vector('1.0000001e15'), 'too-large'],
    ['string result', { resultType: 'string', result: [t, 'a string'] }, 'not-scalar'],
    ['matrix', { resultType: 'matrix', result: [{ metric: {}, values: [[t, '1']] }] }, 'not-scalar'],
    ['empty matrix', { resultType: 'matrix', result: [] }, 'not-scalar'],
    [
      'native histogram',
      {
        resultType: 'vector',
        result: [{ metric: {}, histogram: [t, { count: '1', sum: '1', buckets: [] }] }],
      },
      'not-scalar',
    ],
    ['unknown result type', { resultType: 'weird', result: [] }, 'not-scalar'],
    ['malformed sample', { resultType: 'vector', result: [{ metric: {}, value: ['x', '1'] }] }, 'http-error'],
    ['garbage value', vector('abc'), 'http-error'],
    ['empty value', vector(''), 'http-error'],
    ['vector not an array', { resultType: 'vector', result: 'nope' }, 'http-error'],
    ['scalar NaN', { resultType: 'scalar', result: [t, 'NaN'] }, 'nan'],
    ['stale sample', { resultType: 'vector', result: [{ metric: {}, value: [t - 31, '5'] }] }, 'stale'],
  ];
  for (const [title, data, kind] of cases) {
    it(`classifies ${title} as ${kind}`, () => {
      const c = classifyInstant(data, opts);
      assert.equal(kindOf(c), kind);
      if (!c.ok) assert.ok(c.error.message.length > 0);
    });
  }

  it('names the series count and suggests an aggregation for several series', () => {
    const c = classifyInstant(vector('1', '2', '3'), opts);
    assert.ok(!c.ok);
    assert.match(c.error.message, /3 series/);
    assert.match(c.error.message, /pod="p0"/);
    assert.match(c.error.message, /sum\(/);
  });

  it('does not check staleness without a bound, and accepts a sample just inside it', () => {
    const old = { resultType: 'vector', result: [{ metric: {}, value: [t - 3600, '5'] }] };
    assert.equal(kindOf(classifyInstant(old, { now: NOW, maxValue: 1e15 })), 'ok:5');
    const edge = { resultType: 'vector', result: [{ metric: {}, value: [t - 30, '5'] }] };
    assert.equal(kindOf(classifyInstant(edge, opts)), 'ok:5');
  });

  it('never yields a number that is NaN, infinite, negative or above the bound (property)', () => {
    const anyValue = fc.oneof(
      fc.double().map((d) => String(d)),
      fc.constantFrom('NaN', '+Inf', '-Inf', 'Inf', '1e308', '-1e308', '', 'x', '0x10', '1e15', '1e16'),
    );
    fc.assert(
      fc.property(fc.array(anyValue, { maxLength: 3 }), (values) => {
        const c = classifyInstant(vector(...values), opts);
        if (c.ok) {
          assert.equal(values.length, 1);
          assert.ok(Number.isFinite(c.value) && c.value >= 0 && c.value <= DEFAULT_MAX_VALUE);
        }
      }),
      { seed: 4101 },
    );
  });
});

describe('parseSampleValue', () => {
  it('reads the spellings Prometheus uses', () => {
    assert.ok(Number.isNaN(parseSampleValue('NaN')));
    assert.equal(parseSampleValue('+Inf'), Number.POSITIVE_INFINITY);
    assert.equal(parseSampleValue('-Inf'), Number.NEGATIVE_INFINITY);
    assert.equal(parseSampleValue('1e-3'), 0.001);
    assert.equal(parseSampleValue(' '), undefined);
    assert.equal(parseSampleValue(5), undefined);
  });
});

describe('classifyRange', () => {
  it('keeps gaps and drops NaN, ±Inf, negative and too-large points', () => {
    const data = {
      resultType: 'matrix',
      result: [
        {
          metric: {},
          values: [
            [100, '1'],
            [115, 'NaN'],
            [130, '+Inf'],
            [145, '-Inf'],
            [160, '-2'],
            [175, '1e308'],
            // 190 missing: a gap
            [205, '7'],
          ],
        },
      ],
    };
    assert.deepEqual(classifyRange(data, 1e15), {
      ok: true,
      points: [
        [100_000, 1],
        [205_000, 7],
      ],
    });
  });

  it('returns no points for an empty matrix, and errors for several series or a vector', () => {
    assert.deepEqual(classifyRange({ resultType: 'matrix', result: [] }, 1e15), { ok: true, points: [] });
    const two = classifyRange(
      {
        resultType: 'matrix',
        result: [
          { metric: { a: '1' }, values: [] },
          { metric: { a: '2' }, values: [] },
        ],
      },
      1e15,
    );
    assert.ok(!two.ok && two.error.kind === 'multiple-series');
    const vec = classifyRange({ resultType: 'vector', result: [] }, 1e15);
    assert.ok(!vec.ok && vec.error.kind === 'not-scalar');
  });
});
