// `tidemark … | true`: a reader that has gone is not an error for any command that writes
// to stdout. The pipe's read end is closed before the child can write: it is closed in the
// same tick as the spawn, and the child needs a whole Node.js start-up before its first write.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { assertNoStack, scratch } from '../support/cli.ts';

const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;
const repo = new URL('../..', import.meta.url).pathname;

function intoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const { file } = scratch('tidemark-epipe-');
const trace = file('t.csv', 'minute,requests\n0,10\n1,10\n2,30\n3,30\n4,10\n');

for (const args of [
  ['convert', 'examples/migrate/scaledobject-worker.yaml'],
  [
    'simulate',
    '--trace',
    trace,
    '--policy',
    'examples/request-rate.yaml',
    '--capacity',
    '10',
    '--format',
    'json',
  ],
  ['simulate', '--trace', trace, '--policy', 'examples/request-rate.yaml', '--capacity', '10'],
  ['validate', 'examples/request-rate.yaml'],
  ['trace', 'synth', '--shape', 'flat', '--days', '1', '--seed', '1'],
]) {
  test(`tidemark ${args.slice(0, 2).join(' ')} … ${args.includes('json') ? '--format json ' : ''}| true ends quietly, exit 0`, async () => {
    const r = await intoClosedPipe(args);
    assertNoStack(r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE/);
    assert.equal(r.code, 0, r.stderr);
  });
}
