/**
 * The local sandbox works end to end: the built kubectl (first on PATH after
 * .sandbox/env.sh) sees the KWOK nodes Ready; a Deployment gets its pods
 * scheduled and Ready after KWOK's simulated start-up delay; Prometheus scrapes
 * the workload simulator's per-pod series; every component runs in its own
 * process group, which is what lets env-down stop it with all its children
 * (env-down.sh then checks that nothing survived; test/sandbox/env-down.test.ts
 * tests that check).
 */

import assert from 'node:assert/strict';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { deployment as e2eDeployment } from '../e2e/support.ts';
import {
  kubeConfig,
  kubectl,
  NO_SANDBOX,
  promQuery,
  registerScrapeTarget,
  type SandboxEnv,
  sandboxAvailable,
  sandboxEnv,
  waitFor,
} from '../support/sandbox.ts';

const skip = sandboxAvailable() ? false : NO_SANDBOX;

function firstOnPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir || '.', cmd);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

describe('local sandbox', { skip }, () => {
  let env: SandboxEnv;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const namespace = `sandbox-it-${process.pid}`;

  before(async () => {
    env = sandboxEnv();
    const kc = kubeConfig(env);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  after(async () => {
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('puts the built kubectl first on PATH, and it shows the KWOK nodes Ready', async () => {
    assert.equal(firstOnPath('kubectl'), env.kubectl, 'env.sh puts the sandbox kubectl first on PATH');
    const version = JSON.parse((await kubectl(['version', '-o', 'json'])).stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    assert.match(version.clientVersion.gitVersion, /^v1\.\d+\.\d+$/);
    assert.equal(version.serverVersion.gitVersion, version.clientVersion.gitVersion);

    const table = (await kubectl(['get', 'nodes', '-l', 'type=kwok', '--no-headers'])).stdout;
    const rows = table.trim().split('\n');
    assert.ok(rows.length >= 3, `at least 3 KWOK nodes:\n${table}`);
    for (const row of rows) {
      const [name, status] = row.split(/\s+/);
      assert.match(name ?? '', /^kwok-node-\d+$/);
      assert.equal(status, 'Ready', row);
    }
  });

  it('brings a Deployment of 3 replicas to 3 ready pods after the simulated start-up delay', async () => {
    const name = 'web';
    const deployment = e2eDeployment(namespace, name, 3, 30, { capacityRps: 50, readyDelay: null });
    const created = Date.now();
    await apps.createNamespacedDeployment({ namespace, body: deployment });
    const budget = env.podReadyJitterMs + 60_000;
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name, namespace })).status?.readyReplicas === 3,
      { timeoutMs: budget, what: '3 ready replicas' },
    );
    const tookMs = Date.now() - created;

    const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
    const ready = pods.filter((p) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    assert.equal(ready.length, 3);
    for (const pod of ready) {
      assert.match(pod.spec?.nodeName ?? '', /^kwok-node-\d+$/, 'scheduled onto a KWOK node');
      // Timestamps have one-second resolution: allow a second either way.
      const readyAt = pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
      const startUp =
        new Date(readyAt ?? 0).getTime() - new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
      assert.ok(
        startUp >= env.podReadyDelayMs - 1000,
        `${pod.metadata?.name} became Ready ${startUp} ms after creation, before the ${env.podReadyDelayMs} ms delay`,
      );
    }
    assert.ok(tookMs >= env.podReadyDelayMs - 1000, `all ready after ${tookMs} ms`);
    assert.ok(tookMs <= env.podReadyJitterMs + 30_000, `all ready after ${tookMs} ms`);
  });

  it('has Prometheus scrape one http_requests_total series per pod from the workload simulator', async () => {
    assert.ok(env.workloadUrl, 'env.sh names the workload simulator (WORKLOAD_URL)');
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items
      .map((p) => p.metadata?.name ?? '')
      .sort();
    assert.equal(pods.length, 3);
    const query = `http_requests_total{namespace="${namespace}",deployment="web"}`;
    const series = await waitFor(
      async () => {
        const r = await promQuery(query, env);
        return r.length === pods.length ? r : undefined;
      },
      { timeoutMs: 30_000 + 4 * env.scrapeIntervalMs, what: `3 series of ${query}` },
    );
    assert.deepEqual(series.map((s) => s.metric.pod).sort(), pods);
    for (const s of series) assert.equal(s.metric.job, 'workload');
  });

  it('scrapes targets registered in the file_sd directory', async () => {
    const url = new URL(env.prometheusUrl);
    // Prometheus itself, registered a second time under another job.
    const unregister = await registerScrapeTarget('sandbox-it-self', [url.host]);
    try {
      await waitFor(async () => (await promQuery('up{job="sandbox-it-self"} == 1', env)).length === 1, {
        timeoutMs: 30_000 + 4 * env.scrapeIntervalMs,
        what: 'the registered target to be up',
      });
    } finally {
      await unregister();
    }
  });

  it('runs each component as the leader of its own process group, so env-down can stop it whole', () => {
    const pidDir = join(env.dir, 'pids');
    const files = readdirSync(pidDir).filter((f) => f.endsWith('.pid'));
    const names = files.map((f) => f.replace(/\.pid$/, '')).sort();
    for (const c of [
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
      'prometheus',
    ]) {
      assert.ok(names.includes(c), `${c} has a PID file (${names.join(', ')})`);
    }
    for (const f of files) {
      const [pid, exe] = readFileSync(join(pidDir, f), 'utf8').trim().split(' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command: state ppid pgrp session ...
      const [state, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      assert.notEqual(state, 'Z', `${f}: running`);
      assert.equal(pgrp, pid, `${f}: leads its process group`);
      assert.equal(session, pid, `${f}: leads its session`);
      assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(exe ?? '\0'), `${f}: runs ${exe}`);
    }
  });
});
