import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isPositiveDecimal, quantityToDecimal } from '../../src/convert/quantity.ts';

test('Kubernetes quantities become exact decimals', () => {
  const cases: [unknown, string | undefined][] = [
    ['500m', '0.5'],
    ['1500m', '1.5'],
    ['1.5k', '1500'],
    ['2Ki', '2048'],
    ['1536Mi', '1610612736'],
    ['1e3', '1000'],
    ['2.5E-3', '0.0025'],
    ['100n', '0.0000001'],
    ['0.1', '0.1'],
    ['.5', '0.5'],
    ['7', '7'],
    [7, '7'],
    [0.25, '0.25'],
    ['-3', '-3'],
    ['0', '0'],
    ['1.5Ki', '1536'],
    ['', undefined],
    ['12 apples', undefined],
    ['1x', undefined],
    [null, undefined],
    [{}, undefined],
    ['1e400', undefined],
  ];
  for (const [input, want] of cases) assert.equal(quantityToDecimal(input), want, JSON.stringify(input));
});

test('a decimal without a suffix comes back as the same number (seed 7)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 6 }), (n, places) => {
      const text = (n / 10 ** places).toFixed(places);
      const d = quantityToDecimal(text);
      assert.ok(d !== undefined);
      assert.equal(Number(d), Number(text));
      assert.equal(isPositiveDecimal(d), n > 0);
    }),
    { seed: 7, numRuns: 500 },
  );
});
