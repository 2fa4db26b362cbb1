/**
 * sandbox/env-down.sh stops every recorded process with its children, kills the
 * ones that ignore TERM, never signals a recycled PID, and leaves nothing
 * running. Runs on stand-in processes in a temporary sandbox directory, so it
 * needs no cluster.
 */

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-env-down-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Process IDs of a process group that are still running (zombies excluded). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Starts `script` under bash in a new session (as env-up does) and records it as `name`. */
function startRecorded(name: string, script: string): number {
  const child = spawn('setsid', ['bash', '-c', script], { stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  mkdirSync(join(dir, 'pids'), { recursive: true });
  writeFileSync(join(dir, 'pids', `${name}.pid`), `${pid} bash\n`);
  return pid;
}

async function waitUntil(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('stops recorded processes and their children, killing those that ignore TERM', async () => {
  // A well-behaved server with a child, and one that ignores TERM (and whose
  // child does too), as the components might.
  const polite = startRecorded('etcd', 'sleep 300 & wait');
  const stubborn = startRecorded('kwok', 'trap "" TERM; (trap "" TERM; sleep 300) & sleep 300 & wait; wait');
  await waitUntil(() => groupMembers(polite).length >= 2 && groupMembers(stubborn).length >= 3, 5000);

  const { stderr } = await run(join(root, 'sandbox', 'env-down.sh'), {
    env: { ...process.env, TIDEMARK_SANDBOX_DIR: dir, TIDEMARK_STOP_GRACE: '1' },
  });
  assert.deepEqual(groupMembers(polite), []);
  assert.deepEqual(groupMembers(stubborn), []);
  assert.match(stderr, /kwok \(pid \d+\) ignored TERM/);
  assert.equal(existsSync(join(dir, 'pids')), false, 'PID files removed');
});

it('leaves a recycled PID alone: a recorded PID running another program is not signalled', async () => {
  const other = spawn('setsid', ['sleep', '300'], { stdio: 'ignore' });
  other.unref();
  const pid = other.pid!;
  try {
    mkdirSync(join(dir, 'pids'), { recursive: true });
    writeFileSync(join(dir, 'pids', 'prometheus.pid'), `${pid} /usr/bin/prometheus\n`);
    const { stderr } = await run(join(root, 'sandbox', 'env-down.sh'), {
      env: { ...process.env, TIDEMARK_SANDBOX_DIR: dir, TIDEMARK_STOP_GRACE: '1' },
    });
    assert.match(stderr, /no sandbox was running/);
    assert.ok(existsSync(`/proc/${pid}`), 'the unrelated process still runs');
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});

it("stops the opt-in real KEDA's processes too (sandbox/keda.sh records them beside the others)", async () => {
  const names = ['keda-proxy', 'keda-operator', 'keda-metrics-apiserver'];
  const pids = names.map((name) => startRecorded(name, 'sleep 300 & wait'));
  await waitUntil(() => pids.every((pid) => groupMembers(pid).length >= 2), 5000);
  try {
    await run(join(root, 'sandbox', 'env-down.sh'), {
      env: { ...process.env, TIDEMARK_SANDBOX_DIR: dir, TIDEMARK_STOP_GRACE: '1' },
    });
    assert.deepEqual(
      pids.map((pid) => groupMembers(pid)),
      pids.map(() => []),
    );
    assert.equal(existsSync(join(dir, 'pids')), false, 'PID files removed');
  } finally {
    for (const pid of pids) if (groupMembers(pid).length > 0) process.kill(-pid, 'SIGKILL');
  }
});
