// Fault injection, part 3: the operator as an API client. A leader's write that
// the API server never answers is abandoned before another replica could take
// the lease; Events of a flapping policy stay bounded; under API Priority and
// Fairness throttling nothing is lost.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeLeaseClient, LeaderElector } from '../../src/operator/leader.ts';
import {
  httpTransport,
  isDeadline,
  isNotFound,
  KubeApiError,
  withDeadlineBudget,
} from '../../src/reconciler/kube.ts';
import {
  api,
  apply,
  createNamespace,
  deleteNamespace,
  deployment,
  events,
  OperatorProcess,
  scalingPolicy,
} from '../e2e/support.ts';
import { apiServerAddress, FAST_LEASE, installCrd, sumSamples, TcpProxy } from '../support/faults.ts';
import { kubeConfig, NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';

const RUN = `apic-${Date.now().toString(36)}`;
const skip = sandboxAvailable() ? false : NO_SANDBOX;
const LEASE = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };

describe('a leader whose write stalls', { skip }, () => {
  let proxy: TcpProxy;
  const cm = `/api/v1/namespaces/default/configmaps/${RUN}`;
  before(async () => {
    proxy = await new TcpProxy(apiServerAddress()).start();
  });
  after(async () => {
    await proxy.close();
    await api()({ method: 'DELETE', path: cm }).catch(() => {});
    await api()({
      method: 'DELETE',
      path: `/apis/coordination.k8s.io/v1/namespaces/default/leases/${RUN}`,
    }).catch(() => {});
  });

  it('abandons the write at its deadline, before another replica could take the lease', async () => {
    // The stall is injected by a TCP proxy that swallows the server's answers: a real
    // kube-apiserver cannot be made to hold one request. Leader `a` reaches the API
    // server only through the proxy (its renewals stall too, as a cut-off leader's
    // would); `b` reaches it directly and takes over once the lease has passed.
    const viaProxy = new KubeConfig();
    viaProxy.loadFromFile(proxy.kubeconfig(join(tmpdir(), `${RUN}.kubeconfig`)));
    const lease = (kc: KubeConfig) => kubeLeaseClient(httpTransport(kc), 'default', RUN, isNotFound);
    let bLeadsAt: number | undefined;
    const a = new LeaderElector({ client: lease(viaProxy), identity: 'a', ...LEASE });
    const b = new LeaderElector({
      client: lease(kubeConfig()),
      identity: 'b',
      ...LEASE,
      onStartedLeading: () => {
        bLeadsAt ??= performance.now();
      },
    });
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 30_000, intervalMs: 50, what: 'a leads' });
    b.start();
    // As the operator wires it: the leader's writes get the lease's write budget.
    const writes = withDeadlineBudget(httpTransport(viaProxy), (req) =>
      req.method === 'GET' ? undefined : a.writeBudgetMs(),
    );
    await writes({
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: RUN }, data: { n: '1' } },
    });
    proxy.stall();
    // The reconciler's own timeout for a write is 10 s: longer than the lease margin.
    const outcome = await writes({
      method: 'PATCH',
      path: cm,
      body: { data: { n: '2' } },
      timeoutMs: 10_000,
    }).then(
      () => ({ ok: true as const }),
      (err: unknown) => ({ err, at: performance.now() }),
    );
    await waitFor(() => bLeadsAt !== undefined, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'b takes the lease',
    });
    proxy.heal();
    await Promise.all([a.stop(), b.stop()]);
    assert.ok('err' in outcome, 'the stalled write cannot have succeeded');
    assert.ok(isDeadline(outcome.err), `abandoned at its deadline: ${String(outcome.err)}`);
    assert.ok(
      outcome.at < (bLeadsAt ?? 0),
      `abandoned ${Math.round((bLeadsAt ?? 0) - outcome.at)} ms before b could lead (negative: after)`,
    );
    assert.equal(a.isLeader(), false);
    assert.ok(outcome.err instanceof KubeApiError);
  });
});

/**
 * A policy that flaps on purpose: its metric jumps every second between 100 and
 * 500 (2 to 10 replicas at 50 each), and no stabilization or rate limit holds
 * it, so nearly every tick scales with a new message ("scaled … 4→9: …").
 */
function flappingPolicy(namespace: string) {
  return scalingPolicy(namespace, 'web', {
    pollingIntervalSeconds: 1,
    maxReplicas: 10,
    behavior: {
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 20, periodSeconds: 1 }] },
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 20, periodSeconds: 1 }] },
    },
    metrics: [
      {
        name: 'rps',
        query: '50 * (2 + floor(vector(time())) * 7 % 9)',
        target: { type: 'AverageValue', value: '50' },
      },
    ],
  });
}

const operatorArgs = (namespace: string, extra: string[] = []) => [
  '--namespaces',
  namespace,
  '--lease-name',
  namespace,
  ...FAST_LEASE,
  ...extra,
];

describe('Events of a flapping policy', { skip, timeout: 300_000 }, () => {
  const n = `${RUN}-flap`;
  let op: OperatorProcess | undefined;
  before(async () => {
    await installCrd();
    await createNamespace(n);
  });
  after(async () => {
    await op?.kill('SIGTERM');
    await deleteNamespace(n);
  });

  it('fold into a bounded number of Event objects with counts, and are rate-limited per object', async () => {
    await apply([deployment(n, 'web', 2, 0), flappingPolicy(n)]);
    op = await OperatorProcess.start('apiclient-flap', operatorArgs(n));
    const started = op;
    await waitFor(
      async () => (await sumSamples(started, 'tidemark_scaling_actions_total')) >= 30 || undefined,
      { timeoutMs: 180_000, intervalMs: 2_000, what: '30 scaling actions' },
    );
    const scaled = (await events(n, 'web')).filter((e) => e.reason === 'Scaled');
    const detail = JSON.stringify(scaled.map((e) => [e.count, e.message.slice(0, 60)]));
    assert.ok(
      scaled.length <= 10,
      `30+ scale actions make at most 10 Scaled Events, got ${scaled.length}: ${detail}`,
    );
    const combined = scaled.find((e) => e.message.startsWith('(combined from similar events): '));
    assert.ok(combined && (combined.count ?? 1) > 1, `similar ones folded into one with a count: ${detail}`);
    const all = await events(n, 'web');
    const writes = all.reduce((s, e) => s + (e.count ?? 1), 0);
    // Burst 25, then one per 5 minutes: the test ends well within one refill.
    assert.ok(writes <= 26, `the object's Event writes are capped by its token bucket: ${writes}`);
    assert.ok((await sumSamples(started, 'tidemark_events_total', { outcome: 'spam_dropped' })) > 0);
  });
});
