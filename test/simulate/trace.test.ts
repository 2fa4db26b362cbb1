import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrace, SimulationInputError } from '../../src/simulate/trace.ts';

test('parses a trace with CRLF, a BOM, blank trailing lines and decimals', () => {
  const t = parseTrace('\uFEFFminute,requests\r\n0,42\r\n1,0\r\n2,7.5\r\n\r\n', 'a.csv');
  assert.deepEqual([...t.requests], [42, 0, 7.5]);
  assert.equal(t.firstMinute, 0);
});

test('a trace may start at any minute as long as minutes are consecutive', () => {
  const t = parseTrace('minute,requests\n100,1\n101,2\n');
  assert.equal(t.firstMinute, 100);
  assert.deepEqual([...t.requests], [1, 2]);
});

const bad: Array<[string, string, RegExp]> = [
  ['wrong header', 'time,count\n0,1\n', /^t\.csv:1: expected the header "minute,requests"/],
  ['too many columns', 'minute,requests\n0,1\n1,2,3\n', /^t\.csv:3: expected 2 columns/],
  ['one column', 'minute,requests\n0,1\n1\n', /^t\.csv:3: expected 2 columns/],
  [
    'non-numeric requests',
    'minute,requests\n0,1\n1,abc\n2,3\n',
    /^t\.csv:3: requests must be a non-negative number, found "abc"/,
  ],
  ['negative requests', 'minute,requests\n0,-4\n', /^t\.csv:2: requests must be a non-negative number/],
  ['NaN requests', 'minute,requests\n0,NaN\n', /^t\.csv:2: requests must be a non-negative number/],
  ['fractional minute', 'minute,requests\n0,1\n1.5,2\n', /^t\.csv:3: minute must be a non-negative integer/],
  [
    'gap in minutes',
    'minute,requests\n0,1\n1,1\n3,1\n',
    /^t\.csv:4: minute 3 follows minute 1; minutes must be consecutive/,
  ],
  ['repeated minute', 'minute,requests\n0,1\n0,1\n', /^t\.csv:3: minute 0 follows minute 0/],
  ['blank line counts toward line numbers', 'minute,requests\n0,1\n\n2,x\n', /^t\.csv:4: requests must be/],
  ['no rows', 'minute,requests\n', /^t\.csv: the trace has no rows/],
  ['empty file', '', /^t\.csv:1: expected the header/],
];

for (const [name, text, message] of bad) {
  test(`rejects a malformed trace: ${name}`, () => {
    assert.throws(
      () => parseTrace(text, 't.csv'),
      (err: unknown) => {
        assert.ok(err instanceof SimulationInputError);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}
