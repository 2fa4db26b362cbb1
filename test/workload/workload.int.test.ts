/**
 * The workload simulator in the real sandbox (started by sandbox/env-up.sh and
 * scraped by its Prometheus): a Deployment with a constant profile gets one
 * http_requests_total series per ready pod at its share of the rate, the latency
 * histogram follows the queueing model, `kubectl annotate` changes the load, and
 * the series of a removed pod leave the exposition.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { deployment as e2eDeployment } from '../e2e/support.ts';
import {
  kubeConfig,
  kubectl,
  NO_SANDBOX,
  promQuery,
  type SandboxEnv,
  sandboxAvailable,
  sandboxEnv,
  waitFor,
} from '../support/sandbox.ts';

const skip = sandboxAvailable() ? false : NO_SANDBOX;

describe('workload simulator in the sandbox', { skip }, () => {
  let env: SandboxEnv;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const namespace = `workload-it-${process.pid}`;
  const name = 'api';
  const sel = `namespace="${namespace}",deployment="${name}"`;
  const promBudget = () => 40_000 + 6 * env.scrapeIntervalMs;
  const one = async (q: string) => {
    const r = await promQuery(q, env);
    return r.length === 1 ? Number(r[0]!.value[1]) : undefined;
  };
  const near = (value: number | undefined, want: number, tol: number) =>
    value !== undefined && Math.abs(value - want) <= tol * want ? value : undefined;
  /** The simulator's own exposition, without Prometheus in between. */
  const exposition = async () => {
    const res = await fetch(`${env.workloadUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    return res.text();
  };

  before(async () => {
    env = sandboxEnv();
    assert.ok(env.workloadUrl, 'env.sh names the workload simulator (WORKLOAD_URL)');
    const kc = kubeConfig(env);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const deployment = e2eDeployment(namespace, name, 3, 60, { capacityRps: 50, readyDelay: null });
    await apps.createNamespacedDeployment({ namespace, body: deployment });
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name, namespace })).status?.readyReplicas === 3,
      { timeoutMs: env.podReadyJitterMs + 60_000, what: '3 ready replicas' },
    );
  });

  after(async () => {
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('gives Prometheus one series per ready pod, splitting the constant rate evenly', async () => {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items
      .map((p) => p.metadata?.name ?? '')
      .sort();
    const series = await waitFor(
      async () => {
        const r = await promQuery(`http_requests_total{${sel}}`, env);
        return r.length === 3 ? r : undefined;
      },
      { timeoutMs: promBudget(), what: '3 per-pod series' },
    );
    assert.deepEqual(series.map((s) => s.metric.pod).sort(), pods);
    assert.equal(await one(`tidemark_workload_offered_rps{${sel}}`), 60);
    await waitFor(async () => (await one(`tidemark_workload_ready_pods{${sel}}`)) === 3, {
      timeoutMs: promBudget(),
      what: 'ready_pods 3 in Prometheus',
    });
    // The window must hold only samples from when all 3 pods were ready: Prometheus
    // saw ready_pods 3 by now, so 30 s (the window) plus a scrape from now it holds
    // nothing from before. Earlier samples skew the split and, while one pod served
    // all 60 rps (over its capacity of 50), put 10 s latencies into the histogram.
    await new Promise((r) => setTimeout(r, 30_000 + env.scrapeIntervalMs));
    const total = await waitFor(
      async () => near(await one(`sum(rate(http_requests_total{${sel}}[30s]))`), 60, 0.1),
      {
        timeoutMs: 60_000 + promBudget(),
        what: 'sum of per-pod rates ≈ 60 rps',
      },
    );
    // The sum is 60 whatever the split (the load is divided among the ready pods),
    // so an even split shows only once the 30 s window holds no sample from before
    // the last pod was ready (ready times differ by the simulated start-up jitter).
    let perPod: Awaited<ReturnType<typeof promQuery>> = [];
    try {
      await waitFor(
        async () => {
          perPod = await promQuery(`rate(http_requests_total{${sel}}[30s])`, env);
          return perPod.length === 3 && perPod.every((s) => near(Number(s.value[1]), 20, 0.15));
        },
        { timeoutMs: 60_000 + promBudget(), what: 'per-pod rates ≈ 20 rps' },
      );
    } finally {
      for (const s of perPod)
        assert.ok(near(Number(s.value[1]), 20, 0.15), `${s.metric.pod}: ${s.value[1]} rps, not ≈ 20`);
    }
    // Histogram: _count advances with the requests, and the mean latency is the
    // M/M/1 sojourn time at ρ = 20/50: 0.02 s / (1 − 0.4) ≈ 0.0333 s.
    const counted = await one(`sum(rate(http_request_duration_seconds_count{${sel}}[30s]))`);
    assert.ok(near(counted, total, 0.05), `histogram count rate ${counted} vs request rate ${total}`);
    const mean = await one(
      `sum(rate(http_request_duration_seconds_sum{${sel}}[30s])) / sum(rate(http_request_duration_seconds_count{${sel}}[30s]))`,
    );
    assert.ok(near(mean, 0.02 / 0.6, 0.05), `mean latency ${mean}`);
    const p99 = await one(
      `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{${sel}}[30s])))`,
    );
    assert.ok(p99 !== undefined && p99 > 0.05 && p99 <= 0.25, `p99 ${p99} s`);
  });

  it('follows `kubectl annotate --overwrite`: a new load at once, and saturation shows as latency', async () => {
    await kubectl([
      'annotate',
      '--overwrite',
      '-n',
      namespace,
      `deployment/${name}`,
      'tidemark.dev/load=rps=180',
    ]);
    await waitFor(async () => (await one(`tidemark_workload_offered_rps{${sel}}`)) === 180, {
      timeoutMs: promBudget(),
      what: 'offered rps 180 in Prometheus',
    });
    // 60 rps per pod against a capacity of 50: every request hits the 10 s timeout.
    await waitFor(
      async () =>
        near(
          await one(
            `sum(rate(http_request_duration_seconds_sum{${sel}}[15s])) / sum(rate(http_request_duration_seconds_count{${sel}}[15s]))`,
          ),
          10,
          0.05,
        ),
      { timeoutMs: promBudget(), what: 'saturated mean latency ≈ 10 s' },
    );
  });

  it('drops the series of a pod that is gone', async () => {
    await kubectl(['scale', '-n', namespace, `deployment/${name}`, '--replicas=1']);
    const left = await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
        return pods.length === 1 ? pods[0]!.metadata!.name! : undefined;
      },
      { timeoutMs: 60_000, what: 'one pod left' },
    );
    await waitFor(
      async () => {
        const lines = (await exposition())
          .split('\n')
          .filter((l) => l.startsWith(`http_requests_total{${sel}`));
        return lines.length === 1 && lines[0]!.includes(`pod="${left}"`);
      },
      { timeoutMs: 10_000, what: 'one pod series in the simulator exposition' },
    );
    await waitFor(async () => (await promQuery(`http_requests_total{${sel}}`, env)).length === 1, {
      timeoutMs: promBudget(),
      what: 'the removed pods to go stale in Prometheus',
    });
  });

  it('offers no load on a bad annotation, and says so', async () => {
    await kubectl([
      'annotate',
      '--overwrite',
      '-n',
      namespace,
      `deployment/${name}`,
      'tidemark.dev/load=rps=lots',
    ]);
    await waitFor(
      async () => {
        const text = await exposition();
        return (
          text.includes(`tidemark_workload_profile_valid{${sel}} 0`) &&
          text.includes(`tidemark_workload_offered_rps{${sel}} 0`)
        );
      },
      { timeoutMs: 10_000, what: 'profile_valid 0 and offered 0' },
    );
  });
});
