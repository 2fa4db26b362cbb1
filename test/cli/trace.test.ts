import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthTrace, traceCsv } from '../../src/trace/synth.ts';
import { assertNoStack, tidemark } from '../support/cli.ts';

test('trace synth writes the minute,requests CSV of synthTrace to stdout', async () => {
  const r = await tidemark('trace', 'synth', '--shape', 'flash-crowd', '--days', '2', '--seed', '7');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, traceCsv(synthTrace({ shape: 'flash-crowd', days: 2, seed: 7 })));
});

test('trace synth --shape surges writes the trace with jobs on the hour and the half hour', async () => {
  const r = await tidemark('trace', 'synth', '--shape', 'surges', '--days', '1', '--seed', '5');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, traceCsv(synthTrace({ shape: 'surges', days: 1, seed: 5 })));
});

test('trace synth --out writes the file, and --peak reaches synthTrace', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'tidemark-synth-')), 'seasonal.csv');
  const r = await tidemark(
    'trace',
    'synth',
    '--shape',
    'seasonal',
    '--days',
    '1',
    '--seed',
    '42',
    '--peak',
    '600',
    '--out',
    out,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /wrote .*seasonal\.csv: 1440 minutes of seasonal \(seed 42\)/);
  assert.equal(
    readFileSync(out, 'utf8'),
    traceCsv(synthTrace({ shape: 'seasonal', days: 1, seed: 42, peak: 600 })),
  );
});

test('bad flags are one clear error each, exit 2, no stack trace', async () => {
  const base = ['trace', 'synth', '--shape', 'flat', '--days', '1', '--seed', '1'];
  const cases: [string[], RegExp][] = [
    [
      ['--shape', 'spiky'],
      /--shape must be one of seasonal, trending, flat, flash-crowd, surges, batches, got "spiky"/,
    ],
    [['--days', '0'], /--days must be a whole number from 1 to 366, got 0/],
    [['--days', '2.5'], /--days must be a whole number, got "2.5"/],
    [['--days', '400'], /--days must be a whole number from 1 to 366, got 400/],
    [['--seed', '-3'], /--seed must be a whole number, got "-3"/],
    [['--seed', '4294967296'], /--seed must be a whole number from 0 to 4294967295, got 4294967296/],
    [['--peak', 'lots'], /--peak must be a positive number, got "lots"/],
    [['--peak', '0'], /--peak must be a positive number, got "0"/],
    [['--out', '/nonexistent-dir/x.csv'], /cannot write \/nonexistent-dir\/x.csv: ENOENT/],
  ];
  for (const [flags, message] of cases) {
    const r = await tidemark(...base, ...flags);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
    assertNoStack(r.stderr);
  }
});

test('a missing required flag names it', async () => {
  const r = await tidemark('trace', 'synth', '--shape', 'flat', '--days', '1');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /required option '--seed <s>' not specified/);
  assertNoStack(r.stderr);
});

test('a reader that stops early (`| head`) ends the output quietly, exit 0', () => {
  const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;
  const r = spawnSync(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `"${process.execPath}" "${bin}" trace synth --shape flat --days 366 --seed 1 | head -2`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.stdout, 'minute,requests\n0,60\n');
  assertNoStack(r.stderr);
  assert.equal(r.status, 0, r.stderr);
});
