// `tidemark run` stops on SIGTERM even while it is still starting (the API server not
// answering yet). In a container the operator is PID 1, for which the kernel drops a signal
// that has no handler: a handler installed only after start-up finished left a pod deleted
// during start-up waiting its whole grace period for SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { scratch } from '../support/cli.ts';

// An API server that refuses every connection: start-up never finishes.
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;
const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;

test('SIGTERM during start-up stops the operator cleanly: exit 0, the signal logged', async () => {
  const kubeconfig = scratch('tidemark-run-signal-').file('kubeconfig', KUBECONFIG);
  const child = spawn(process.execPath, [bin, 'run', '--metrics-host', '127.0.0.1', '--metrics-port', '0'], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (stdout.includes('"operator starting"')) resolve();
    }),
  );
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  assert.equal(signal, null, `killed by ${signal} instead of stopping itself\n${stderr}`);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /"signal received"/);
});
