// bin/tidemark.js: the hand-over to the project's Node.js 24 when an older Node starts it
// (bin/relaunch.js), `--version`, and the Node versions package.json accepts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runTidemark, scratch } from '../support/cli.ts';

const relaunchJs = new URL('../../bin/relaunch.js', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

// The relaunched process: says its pid once its handlers are in place, then waits for a signal.
const { file } = scratch('tidemark-bin-');
const child = file(
  'child.mjs',
  `process.on('SIGTERM', () => { process.stdout.write('child got SIGTERM\\n'); process.exit(7); });
process.stdout.write(\`ready \${process.pid}\\n\`);
setInterval(() => {}, 1 << 30);
`,
);
const parent = file(
  'parent.mjs',
  `import { relaunch } from ${JSON.stringify(relaunchJs)};
relaunch(process.execPath, [${JSON.stringify(child)}]);
`,
);

/** Starts parent.mjs, sends `signal` once the child is ready; resolves with how each ended. */
function signalParent(signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; childPid: number }>(
    (resolve) => {
      // No terminal among its stdio, as under a supervisor (at a terminal, Ctrl-C reaches the child itself).
      const p = spawn(process.execPath, [parent], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let childPid = 0;
      p.stdout.on('data', (d: Buffer) => {
        stdout += d;
        const m = /ready (\d+)/.exec(stdout);
        if (m && childPid === 0) {
          childPid = Number(m[1]);
          p.kill(signal);
        }
      });
      p.on('close', (code, sig) => resolve({ code, signal: sig, stdout, childPid }));
    },
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('SIGTERM to the relaunching parent reaches the child, and the parent exits with its code', async () => {
  const r = await signalParent('SIGTERM');
  assert.match(r.stdout, /child got SIGTERM/);
  assert.equal(r.code, 7);
  assert.equal(alive(r.childPid), false, 'no orphaned child');
});

test('a child that a signal ends ends the parent with the same signal', async () => {
  const r = await signalParent('SIGHUP');
  assert.equal(r.signal, 'SIGHUP');
  assert.equal(alive(r.childPid), false, 'no orphaned child');
});

test('SIGINT is passed on too when no terminal sent it to the child already', async () => {
  const r = await signalParent('SIGINT');
  assert.equal(r.signal, 'SIGINT');
  assert.equal(alive(r.childPid), false, 'no orphaned child');
});

test('tidemark --version prints the version of package.json', async () => {
  const r = await runTidemark(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

test('package.json accepts every Node.js from 24 on', () => {
  assert.equal(pkg.engines.node, '>=24');
});
