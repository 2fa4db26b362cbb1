import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseArgs, readTrace } from '../../src/workload/main.ts';

const entry = new URL('../../src/workload/main.ts', import.meta.url).pathname;

test('parseArgs: flags and defaults', () => {
  const o = parseArgs(['--kubeconfig', '/k', '--port', '9400']);
  assert.equal(o.kubeconfig, '/k');
  assert.equal(o.port, 9400);
  assert.equal(o.host, '127.0.0.1');
  assert.equal(o.tickMs, 1000);
  assert.equal(o.maxLatencySeconds, 10);
});

test('readTrace reports unreadable files as values', () => {
  const r = readTrace('/nonexistent/trace.csv');
  assert.ok(!r.ok && /cannot read: ENOENT/.test(r.error));
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-wl-'));
  writeFileSync(join(dir, 't.csv'), 'minute,requests\n0,60\n1,120\n');
  assert.deepEqual(readTrace(join(dir, 't.csv')), { ok: true, value: [60, 120] });
});

/** A kubeconfig naming an API server that is not there. */
function absentClusterKubeconfig(): string {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'tidemark-wl-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return kubeconfig;
}

test('a port already in use ends the process with exit 1 (no timer keeps it alive)', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = String((taken.address() as { port: number }).port);
  const child = spawn(process.execPath, [entry, '--kubeconfig', absentClusterKubeconfig(), '--port', port], {
    stdio: 'ignore',
  });
  // A process that hangs is killed well after any normal exit, and the assertion says why.
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    assert.deepEqual({ code, signal }, { code: 1, signal: null }, 'still running with its port taken');
  } finally {
    clearTimeout(kill);
    taken.close();
  }
});

test('the process serves /healthz, /readyz and /metrics and stops on SIGTERM', async () => {
  // An API server that is not there: the process must keep serving and report not ready.
  const kubeconfig = absentClusterKubeconfig();
  const child = spawn(process.execPath, [entry, '--kubeconfig', kubeconfig, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  child.stderr.on('data', (b) => {
    out += b;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Until the line or the process's exit, with no wall-clock bound: a loaded CI machine
    // starts a Node.js process in seconds, not milliseconds.
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    const port = await new Promise<number>((resolve, reject) => {
      const check = () => {
        const m = /"port":(\d+),"msg":"serving/.exec(out);
        if (m) resolve(Number(m[1]));
        else if (gone) reject(new Error(`exited without a listening line:\n${out}`));
        else setTimeout(check, 50);
      };
      check();
    });
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /# TYPE http_requests_total counter/);
    assert.match(text, /# TYPE http_request_duration_seconds histogram/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  assert.match(out, /shutting down/);
});

test('bad flags exit non-zero with a message', async () => {
  const child = spawn(process.execPath, [entry, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b) => {
    err += b;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.notEqual(code, 0);
  assert.match(err, /port must be a non-negative integer/);
});
