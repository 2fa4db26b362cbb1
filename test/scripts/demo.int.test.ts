// `make demo` end to end, shortened: runs scripts/demo.ts against the sandbox
// this test run shares (sandbox/with-sandbox.sh), in its own namespace, and
// checks that the operator scaled the Deployment up, that `kubectl describe`
// shows it, and that the demo stopped its operator but not the sandbox.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { kubectl, NO_SANDBOX, sandboxAvailable, sandboxEnv } from '../support/sandbox.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NAMESPACE = 'tidemark-demo-it';
const SECONDS = 60;

function apiserverPid(dir: string): string {
  return readFileSync(join(dir, 'pids', 'kube-apiserver.pid'), 'utf8').split(' ')[0]!;
}

test('the demo scales a simulated Deployment up and leaves the sandbox running', {
  skip: sandboxAvailable() ? false : NO_SANDBOX,
  timeout: (SECONDS + 240) * 1000,
}, async () => {
  const env = sandboxEnv();
  const pidBefore = apiserverPid(env.dir);
  const child = spawn(
    join(REPO, 'node_modules/.bin/node'),
    [
      '--disable-warning=ExperimentalWarning',
      join(REPO, 'scripts/demo.ts'),
      '--seconds',
      String(SECONDS),
      '--namespace',
      NAMESPACE,
    ],
    { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  try {
    const output = `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
    assert.equal(code, 0, output);

    // env-up reused the running sandbox rather than replacing it.
    assert.match(stderr, /reusing it/, output);
    assert.equal(apiserverPid(env.dir), pidBefore, 'the same kube-apiserver still runs');
    await kubectl(['get', '--raw', '/readyz']);

    // Not a terminal: plain lines, no cursor movement.
    assert.ok(!stdout.includes('\u001b['), 'no escape sequences when stdout is not a TTY');
    assert.match(stdout, /^\[0:00\] quiet +offered/m);
    assert.match(stdout, /^\[load\] spike: constant rps=520$/m);
    assert.match(stdout, /^\[decision\] rps [\d.]+ vs 50\/replica proposes \d+; .*scaling 1→\d+/m, output);

    // The operator ran, was stopped with SIGTERM and exited cleanly.
    assert.match(stderr, /operator stopped \(exit code 0\)/, output);
    const log = readFileSync(join(env.dir, 'logs', 'demo-operator.log'), 'utf8');
    assert.match(log, /"operator starting"/);
    assert.equal(existsSync(join(env.scrapeTargetsDir, `tidemark-demo-${NAMESPACE}.json`)), false);

    // The Deployment was scaled up by the operator.
    const policy = JSON.parse(
      (await kubectl(['get', 'scalingpolicy', '-n', NAMESPACE, 'web', '-o', 'json'])).stdout,
    ) as ScalingPolicy;
    const ups = policy.status?.recentDecisions?.filter((d) => (d.to ?? 0) > (d.from ?? 0)) ?? [];
    assert.ok(ups.length > 0, `a scale-up in recentDecisions: ${JSON.stringify(policy.status)}`);

    // The describe output the demo printed, from the real kubectl, carries the Scaled Events.
    const describe = stdout.slice(stdout.indexOf(`$ kubectl describe scalingpolicy -n ${NAMESPACE} web`));
    assert.ok(describe.length > 0 && describe.startsWith('$ kubectl describe'), output);
    assert.match(describe, /^Kind: +ScalingPolicy$/m);
    assert.match(
      describe,
      new RegExp(`Normal +Scaled +\\S+ +tidemark +scaled Deployment ${NAMESPACE}/web 1→\\d+`),
    );
    assert.match(stdout, /Stop it with: .*make env-down/);
  } finally {
    await kubectl(['delete', 'namespace', NAMESPACE, '--wait=false', '--ignore-not-found']).catch(() => {});
  }
});
