// Fault injection, part 3: the operator as an API client. A leader's write that
// the API server never answers is abandoned before another replica could take
// the lease; Events of a flapping policy stay bounded; under API Priority and
// Fairness throttling nothing is lost.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import {
  httpTransport,
  isDeadline,
  isNotFound,
  KubeApiError,
  withDeadlineBudget,
} from '../../src/kube/api-client.ts';
import { kubeLeaseClient, LeaderElector } from '../../src/operator/leader.ts';
import {
  apply,
  createNamespace,
  deleteNamespace,
  deployment,
  events,
  getPolicy,
  OperatorProcess,
  replicas,
  scalingPolicy,
} from '../e2e/support.ts';
import {
  apiServerAddress,
  deploymentGeneration,
  FAST_LEASE,
  hasCondition,
  installCrd,
  startOperatorWithKubeconfig,
  sumSamples,
  TcpProxy,
  waitForStatus,
} from '../support/faults.ts';
import { kubeConfig, kubectl, NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';

const RUN = `apic-${Date.now().toString(36)}`;
const skip = sandboxAvailable() ? false : NO_SANDBOX;
const LEASE = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };

before(async () => {
  if (!skip) await installCrd();
});

describe('a leader whose write stalls', { skip }, () => {
  let proxy: TcpProxy;
  const cm = `/api/v1/namespaces/default/configmaps/${RUN}`;
  before(async () => {
    proxy = await new TcpProxy(apiServerAddress()).start();
  });
  after(async () => {
    await proxy.close();
    await kubectl([
      '-n',
      'default',
      'delete',
      `configmap/${RUN}`,
      `lease/${RUN}`,
      '--ignore-not-found',
    ]).catch(() => {});
  });

  it('abandons the write at its deadline, before another replica could take the lease', async (t) => {
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
    t.diagnostic(`abandoned ${Math.round((bLeadsAt ?? 0) - outcome.at)} ms before b led`);
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
  before(() => createNamespace(n));
  after(async () => {
    await op?.kill('SIGTERM');
    await deleteNamespace(n);
  });

  it('fold into a bounded number of Event objects with counts, and are rate-limited per object', async (t) => {
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
    t.diagnostic(
      `${scaled.length} Scaled Event objects, ${all.length} in all, ${writes} writes; combined count ${combined.count}`,
    );
    assert.ok((await sumSamples(started, 'tidemark_events_total', { outcome: 'spam_dropped' })) > 0);
  });
});

/**
 * API Priority and Fairness set to throttle one ServiceAccount hard: its own
 * priority level with one nominal share, no borrowing, and Reject (429 with
 * Retry-After) for whatever exceeds its seats; a "ballast" level with many
 * shares shrinks those seats to one (seats are shared out by shares).
 */
function apfObjects(name: string, namespace: string, serviceAccount: string) {
  const plc = (n: string, shares: number) => ({
    apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
    kind: 'PriorityLevelConfiguration',
    metadata: { name: n },
    spec: {
      type: 'Limited',
      limited: {
        nominalConcurrencyShares: shares,
        lendablePercent: 0,
        borrowingLimitPercent: 0,
        limitResponse: { type: 'Reject' },
      },
    },
  });
  return [
    // Seats are shared out by shares: with ~2,250 in all, one share rounds up to one seat
    // of the server's 600, and the built-in levels keep a fair part of theirs meanwhile.
    plc(`${name}-ballast`, 2_000),
    plc(name, 1),
    {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name },
      spec: {
        priorityLevelConfiguration: { name },
        matchingPrecedence: 100,
        distinguisherMethod: { type: 'ByUser' },
        rules: [
          {
            subjects: [{ kind: 'ServiceAccount', serviceAccount: { name: serviceAccount, namespace } }],
            resourceRules: [
              { verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*'] },
            ],
            nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
          },
        ],
      },
    },
  ];
}

/** A kubeconfig that authenticates as the ServiceAccount (a fresh token), so its FlowSchema applies. */
async function serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string> {
  const { stdout: token } = await kubectl([
    '-n',
    namespace,
    'create',
    'token',
    serviceAccount,
    '--duration=1h',
  ]);
  const kc = parse(await kubectl(['config', 'view', '--raw', '--minify']).then((r) => r.stdout)) as {
    users: Array<{ user: Record<string, unknown> }>;
  };
  for (const u of kc.users) u.user = { token: token.trim() };
  const file = join(tmpdir(), `${namespace}-${serviceAccount}.kubeconfig`);
  writeFileSync(file, stringify(kc));
  return file;
}

describe('an operator throttled by API Priority and Fairness', { skip, timeout: 400_000 }, () => {
  const n = `${RUN}-apf`;
  const sa = 'tidemark-apf';
  const TARGETS = 30;
  let op: OperatorProcess | undefined;
  before(() => createNamespace(n));
  after(async () => {
    await op?.kill('SIGTERM');
    await kubectl(['delete', 'flowschema', n, '--ignore-not-found']).catch(() => {});
    await kubectl(['delete', 'prioritylevelconfiguration', n, `${n}-ballast`, '--ignore-not-found']).catch(
      () => {},
    );
    await kubectl(['delete', 'clusterrolebinding', n, '--ignore-not-found']).catch(() => {});
    await deleteNamespace(n);
  });

  it('loses nothing: every decided scale write lands and every status converges', async (t) => {
    // Real APF, not a proxy answering 429: the operator's ServiceAccount gets one seat.
    // (cluster-admin here keeps the test about throttling; the RBAC is proven in test/deploy.)
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: n } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: n },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: n }],
      },
      ...apfObjects(n, n, sa),
    ]);
    const names = Array.from({ length: TARGETS }, (_, i) => `web-${i}`);
    await apply(
      names.flatMap((name) => [
        deployment(n, name, 1, 0),
        scalingPolicy(n, name, {
          behavior: { scaleUp: { policies: [{ type: 'Pods', value: 10, periodSeconds: 1 }] } },
          // 300 at 50 a replica: 6.
          metrics: [{ name: 'rps', query: 'vector(300)', target: { type: 'AverageValue', value: '50' } }],
        }),
      ]),
    );
    const kubeconfig = await serviceAccountKubeconfig(n, sa);
    op = await startOperatorWithKubeconfig('apiclient-apf', operatorArgs(n), kubeconfig);
    for (const name of names) {
      await waitForStatus(
        n,
        name,
        (p) => p.status?.currentReplicas === 6 && hasCondition('Ready', 'True', 'Reconciled')(p),
        'scaled to 6 and reconciled',
        180_000,
      );
    }
    const throttled = await sumSamples(op, 'tidemark_api_requests_total', { code: '429' });
    assert.ok(throttled > 0, 'APF answered some requests with 429 (else this test proves nothing)');
    t.diagnostic(`${throttled} requests answered 429 by APF`);
    // Every scale write that was decided landed once: the Deployment's generation moved once
    // per recorded decision, and the last decision is in force. (Events are not counted here:
    // with one seat the lease renewals are throttled too, and Events queued while this
    // process briefly did not lead are rightly never sent.)
    for (const name of names) {
      const p = await getPolicy(n, name);
      const decisions = p?.status?.recentDecisions ?? [];
      assert.equal(
        (await deploymentGeneration(n, name)) - 1,
        decisions.length,
        `${name}: ${JSON.stringify(decisions)}`,
      );
      assert.equal(decisions[0]?.to, await replicas(n, name), `${name}: the last decision is in force`);
    }
    const waits = await sumSamples(op, 'tidemark_api_throttle_wait_seconds_count', { source: 'server' });
    assert.ok(waits > 0, 'the operator waited out Retry-After');
  });
});
