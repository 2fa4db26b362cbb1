// Tidemark as real pods: the sandbox's real node (TIDEMARK_REAL_NODE=1, sandbox/real-node.sh:
// kubelet + containerd + runc + CNI in a network namespace of the sandbox's own) runs the
// image `make image` built. Run by `make test-real-node`, which starts a sandbox of its own
// with the real node; not a *.test.ts file, so neither `make test-unit` nor the shared
// integration sandbox (which has no real node) picks it up.
//
// The chart is installed as shipped (RBAC, probes, security context, 2 replicas, the conversion
// webhook with its own certificates) with these settings, each for a reason of the sandbox,
// not of the chart:
// - image.pullPolicy=Never: the image was imported into containerd; no registry is reachable.
// - allowedPrometheus.urls: the sandbox's Prometheus as pods on the node reach it.
// - nodeSelector and tolerations (the chart's values) put the operator on the real node,
//   whose taint keeps the workload pods on the KWOK nodes.
// The API server calls the pods' webhook through its Service: no kube-proxy runs, but the
// API server resolves the Service to its endpoints (--enable-aggregator-routing) and reaches
// the pod IPs by the host route sandbox/real-node.sh adds. The sandbox's own webhook (a host
// process that keeps the CRD's conversion pointing at itself) is stopped for the chart's
// while it is installed, so only the pods can answer.
import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import { stringify } from 'yaml';
import * as e2e from '../e2e/support.ts';
import * as faults from '../support/faults.ts';
import { policyManifest } from '../support/policies.ts';
import { kubectl, waitFor } from '../support/sandbox.ts';
import { CHART, helm } from './support/helm.ts';
import { imageName } from './support/image.ts';
import { LeaseHistory, type NodeNetwork, nodeNetwork, podMetrics, sample } from './support/real-node.ts';

const NODE_NAME = 'tidemark-real-node';
// Its label and taint (sandbox/real-node.sh).
const REAL_NODE_LABEL = 'tidemark.dev/real-node';
const NS = 'tidemark-system';
const LEASE = 'tidemark-leader';
const OPERATOR = 'app.kubernetes.io/name=tidemark';
const image = imageName();
/** The workloads the operator pods scale (KWOK Deployments), kept through upgrade and uninstall. */
const LOAD_NS = 'real-node-load';
let net: NodeNetwork;

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string; containers?: { image: string }[] };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; restartCount: number }[];
  };
}
const json = async <T>(args: string[]): Promise<T> =>
  JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T;
const ready = (p: Pod) =>
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

before(() => {
  assert.equal(
    process.env.TIDEMARK_REAL_NODE,
    '1',
    'this file needs a sandbox started with TIDEMARK_REAL_NODE=1 (make test-real-node)',
  );
  net = nodeNetwork();
});
after(async () => {
  await helm(['uninstall', 'tidemark', '--namespace', NS, '--ignore-not-found', '--wait']).catch(() => {});
  await kubectl(['delete', 'pod', 'tidemark-help', '--ignore-not-found', '--wait=false']).catch(() => {});
  // The sandbox's own webhook again (it takes the CRD's conversion back).
  await faults.component('start', 'webhook').catch(() => {});
});

const operatorPods = async () =>
  (await json<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', OPERATOR])).items;
const leaseHolder = async () =>
  (await json<{ spec: { holderIdentity?: string } }>(['get', 'lease', LEASE, '-n', NS])).spec
    .holderIdentity ?? '';
/** The pods' own count of one webhook series, summed over the operator pods. */
const webhookCount = async (pods: Pod[], series: string) => {
  let n = 0;
  for (const p of pods) n += sample(await podMetrics(p.status.podIP ?? ''), series);
  return n;
};

test('the real node is Ready at an address of its own namespace, tainted, beside the KWOK nodes', async () => {
  const node = await json<{
    spec: { taints?: { key: string; effect: string }[] };
    status: {
      addresses: { type: string; address: string }[];
      nodeInfo: { containerRuntimeVersion: string };
    };
  }>(['get', 'node', NODE_NAME]);
  const ip = node.status.addresses.find((a) => a.type === 'InternalIP')?.address ?? '';
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  assert.doesNotMatch(ip, /^127\./, 'the kubelet refuses a loopback node IP');
  assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  assert.deepEqual(
    node.spec.taints?.filter((t) => t.key === REAL_NODE_LABEL).map((t) => t.effect),
    ['NoSchedule'],
  );
  const kwok = await json<{ items: unknown[] }>(['get', 'nodes', '-l', 'type=kwok']);
  assert.ok(kwok.items.length >= 1, 'the KWOK nodes are still there');
});

test('a pod from the image runs on the real node, read-only and non-root, and `kubectl logs` reads it', async () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'tidemark-help', namespace: 'default' },
    spec: {
      restartPolicy: 'Never',
      nodeSelector: { [REAL_NODE_LABEL]: 'true' },
      tolerations: [{ key: REAL_NODE_LABEL, operator: 'Exists', effect: 'NoSchedule' }],
      containers: [
        {
          name: 'tidemark',
          image,
          imagePullPolicy: 'Never',
          command: ['node', '/app/bin/tidemark.js', '--help'],
          securityContext: {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const done = await waitFor(
    async () => {
      const p = await json<Pod>(['get', 'pod', 'tidemark-help', '-n', 'default']);
      return p.status.phase === 'Succeeded' || p.status.phase === 'Failed' ? p : undefined;
    },
    { timeoutMs: 120_000, what: 'pod tidemark-help to finish' },
  );
  assert.equal(done.spec.nodeName, NODE_NAME);
  assert.equal(done.status.phase, 'Succeeded');
  // The API server reaches the kubelet at the node's InternalIP for this.
  const logs = await kubectl(['logs', 'tidemark-help', '-n', 'default']);
  assert.match(logs.stdout, /^Usage: tidemark /m);
});

test('helm install: 2 operator pods on the real node, in-cluster config, probes passing, one leader', async () => {
  await kubectl(['create', 'namespace', NS]).catch(() => {});
  // The chart's webhook takes the CRD's conversion over; the sandbox's would take it back.
  await faults.component('stop', 'webhook');
  await helm([
    'install',
    'tidemark',
    CHART,
    '--namespace',
    NS,
    '--set',
    'image.pullPolicy=Never',
    '--set-json',
    `allowedPrometheus.urls=${JSON.stringify([net.prometheusUrl])}`,
    '--set-json',
    `nodeSelector=${JSON.stringify({ [REAL_NODE_LABEL]: 'true' })}`,
    '--set-json',
    `tolerations=${JSON.stringify([{ key: REAL_NODE_LABEL, operator: 'Exists', effect: 'NoSchedule' }])}`,
    '--wait',
    '--timeout',
    '180s',
  ]);
  const pods = await waitFor(
    async () => {
      const l = await operatorPods();
      return l.length === 2 && l.every(ready) ? l : undefined;
    },
    { timeoutMs: 120_000, what: 'two Ready operator pods' },
  );
  for (const p of pods) {
    assert.equal(p.spec.nodeName, NODE_NAME, `${p.metadata.name} is on ${p.spec.nodeName}`);
    // Liveness and startup probes never failed into a restart.
    assert.deepEqual(
      p.status.containerStatuses?.map((c) => c.restartCount),
      [0],
    );
  }
  // In-cluster config from the ServiceAccount token, RBAC as shipped: one pod leads.
  const holder = await waitFor(
    async () => {
      const lease = await json<{ spec: { holderIdentity?: string } }>([
        'get',
        'lease',
        'tidemark-leader',
        '-n',
        NS,
      ]);
      return lease.spec.holderIdentity || undefined;
    },
    { timeoutMs: 60_000, what: 'a leader' },
  );
  assert.ok(
    pods.some((p) => p.metadata.name === holder),
    `the Lease holder ${holder} is one of the pods`,
  );
  const logs = await kubectl(['logs', '-n', NS, holder]);
  assert.match(logs.stdout, /"msg":"became leader"/);
  assert.doesNotMatch(logs.stdout, /forbidden/i, 'a missing RBAC grant');
});

interface Crd {
  spec: {
    conversion?: {
      strategy: string;
      webhook?: {
        clientConfig?: {
          url?: string;
          caBundle?: string;
          service?: {
            namespace: string;
            name: string;
            path?: string;
            port?: number;
          };
        };
      };
    };
  };
}
const CONVERT_NS = 'real-node-convert';
const ALPHA_TO_BETA = 'tidemark_webhook_conversions_total{from_version="v1alpha1",to_version="v1beta1"}';
const BETA_TO_ALPHA = 'tidemark_webhook_conversions_total{from_version="v1beta1",to_version="v1alpha1"}';

test('the conversion webhook: served by the pods, called by the API server through its Service', async () => {
  // The pods point the CRD at their Service, with their own CA (the chart's self-managed path).
  const clientConfig = await waitFor(
    async () => {
      const c = (await json<Crd>(['get', 'crd', 'scalingpolicies.tidemark.dev'])).spec.conversion;
      const cc = c?.webhook?.clientConfig;
      return c?.strategy === 'Webhook' && cc?.service && cc.caBundle ? cc : undefined;
    },
    { timeoutMs: 60_000, what: "the CRD's conversion pointing at a Service" },
  );
  assert.deepEqual(
    { ...clientConfig.service, url: clientConfig.url },
    {
      namespace: NS,
      name: 'tidemark-webhook',
      path: '/convert',
      port: 443,
      url: undefined,
    },
  );
  // The Service's endpoints are the pods, at addresses of the node's pod subnet.
  const pods = await operatorPods();
  const endpoints = await waitFor(
    async () => {
      const slices = await json<{
        items: { endpoints?: { addresses: string[] }[] }[];
      }>(['get', 'endpointslices', '-n', NS, '-l', 'kubernetes.io/service-name=tidemark-webhook']);
      const ips = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();
      return ips.length === pods.length ? ips : undefined;
    },
    {
      timeoutMs: 60_000,
      what: 'the webhook Service to have the pods as endpoints',
    },
  );
  assert.deepEqual(endpoints, pods.map((p) => p.status.podIP ?? '').sort());
  const before = {
    up: await webhookCount(pods, ALPHA_TO_BETA),
    down: await webhookCount(pods, BETA_TO_ALPHA),
  };

  await kubectl(['create', 'namespace', CONVERT_NS]).catch(() => {});
  const spec = {
    maxReplicas: 5,
    prometheus: { address: 'http://prometheus.invalid:9090' },
    metrics: [
      {
        name: 'rps',
        query: 'vector(1)',
        target: { type: 'AverageValue', value: '10' },
      },
    ],
  };
  // Written as v1alpha1 (stored as v1beta1: the API server asks the webhook), read as v1beta1.
  await kubectl(['apply', '-f', '-'], {
    input: stringify(policyManifest(CONVERT_NS, 'alpha', spec)),
  });
  const asBeta = await json<{
    apiVersion: string;
    spec: { maxReplicas: number };
  }>(['get', 'scalingpolicies.v1beta1.tidemark.dev', 'alpha', '-n', CONVERT_NS]);
  assert.equal(asBeta.apiVersion, 'tidemark.dev/v1beta1');
  assert.equal(asBeta.spec.maxReplicas, 5);
  // Written as v1beta1 (the converted object, renamed), read as v1alpha1.
  const beta = {
    apiVersion: asBeta.apiVersion,
    kind: 'ScalingPolicy',
    metadata: { name: 'beta', namespace: CONVERT_NS },
    spec: asBeta.spec,
  };
  await kubectl(['apply', '-f', '-'], { input: stringify(beta) });
  const asAlpha = await json<{
    apiVersion: string;
    spec: Record<string, unknown>;
  }>(['get', 'scalingpolicies.v1alpha1.tidemark.dev', 'beta', '-n', CONVERT_NS]);
  assert.equal(asAlpha.apiVersion, 'tidemark.dev/v1alpha1');
  assert.deepEqual(
    {
      maxReplicas: asAlpha.spec.maxReplicas,
      // The API server adds the schema's defaults (timeoutSeconds, insecureSkipVerify).
      address: (asAlpha.spec.prometheus as { address?: string }).address,
      metrics: asAlpha.spec.metrics,
    },
    { maxReplicas: spec.maxReplicas, address: spec.prometheus.address, metrics: spec.metrics },
    'the round trip v1alpha1 -> v1beta1 -> v1alpha1 keeps the spec',
  );
  // The calls reached the pods (the sandbox's own webhook is stopped): their counters moved.
  const after = {
    up: await webhookCount(pods, ALPHA_TO_BETA),
    down: await webhookCount(pods, BETA_TO_ALPHA),
  };
  assert.ok(after.up > before.up, `v1alpha1 -> v1beta1 conversions by the pods: ${before.up} -> ${after.up}`);
  assert.ok(
    after.down > before.down,
    `v1beta1 -> v1alpha1 conversions by the pods: ${before.down} -> ${after.down}`,
  );
  process.stdout.write(
    `# conversions by the pods' webhook: v1alpha1->v1beta1 ${after.up - before.up}, v1beta1->v1alpha1 ${after.down - before.down}\n`,
  );
  await kubectl(['delete', 'namespace', CONVERT_NS, '--wait=false']);
});

test('kubectl delete pod of the leader: SIGTERM reaches the operator as PID 1, it releases the Lease, another pod leads', async () => {
  const leader = await leaseHolder();
  const pods = await operatorPods();
  const standby = pods.map((p) => p.metadata.name).find((n) => n !== leader);
  assert.ok(leader && standby, `a leader (${leader}) and a standby (${standby})`);
  const t0 = performance.now();
  // Graceful: the kubelet sends SIGTERM and waits up to terminationGracePeriodSeconds (30).
  await kubectl(['delete', 'pod', '-n', NS, leader, '--wait=false']);
  const next = await waitFor(
    async () => {
      const h = await leaseHolder();
      return h && h !== leader ? h : undefined;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: `a new Lease holder after ${leader}`,
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  // Whoever asks first takes the released Lease: usually the standby, but the Deployment's
  // replacement pod, asking as soon as it starts, won the race in one rehearsal. Either is a
  // hand-over; what must not happen is the deleted pod holding on.
  const now = await operatorPods();
  const candidates = now.map((p) => p.metadata.name).filter((n) => n !== leader);
  assert.ok(candidates.includes(next), `${next} is a live operator pod other than ${leader}: ${candidates}`);
  process.stdout.write(
    `# leader hand-over after kubectl delete pod: ${seconds.toFixed(1)} s, to ${next === standby ? 'the standby' : 'the replacement pod'}\n`,
  );
});

interface RawEvent {
  metadata: { resourceVersion: string };
  reason: string;
  message: string;
  reportingInstance?: string;
}
/** Each load is 50 rps per replica: one scale action per change, within the behavior below. */
const LOADS = [250, 150, 300, 100, 200, 350, 150, 250, 100];

test('helm upgrade to a newer image rolls the pods: no scaling action lost or doubled, no write after an old pod lost the Lease', async (t: TestContext) => {
  await kubectl(['create', 'namespace', LOAD_NS]).catch(() => {});
  // No stabilization and no rate limit in the way: every load change is one scale action.
  const fast = {
    stabilizationWindowSeconds: 0,
    policies: [{ type: 'Pods', value: 10, periodSeconds: 1 }],
  };
  await e2e.apply([
    e2e.deployment(LOAD_NS, 'web', 2, 100),
    e2e.rpsPolicy(LOAD_NS, {
      maxReplicas: 10,
      prometheus: { address: net.prometheusUrl, timeoutSeconds: 2 },
      behavior: { scaleUp: fast, scaleDown: fast },
    }),
  ]);
  await faults.waitForStatus(
    LOAD_NS,
    'web',
    (p) => p.status?.currentReplicas === 2 && faults.hasCondition('Ready', 'True', 'Reconciled')(p),
    'reconciled at 2 replicas by the pods',
    120_000,
  );
  const baseGeneration = await faults.deploymentGeneration(LOAD_NS, 'web');
  const oldPods = (await operatorPods()).map((p) => p.metadata.name);
  const leases = await LeaseHistory.start(NS, LEASE);
  t.after(() => leases.stop());
  const oldLeader = await leaseHolder();
  assert.ok(oldPods.includes(oldLeader), `an old pod leads before the upgrade (${oldLeader} of ${oldPods})`);

  const version = image.split(':').at(-1) ?? '';
  await helm([
    'upgrade',
    'tidemark',
    CHART,
    '--namespace',
    NS,
    '--reuse-values',
    '--set',
    `image.tag=${version}-next`,
  ]);
  const rolled = async () => {
    const pods = await operatorPods();
    return (
      pods.length === 2 &&
      pods.every((p) => ready(p) && !oldPods.includes(p.metadata.name)) &&
      pods.every((p) => p.spec.containers?.[0]?.image === `${image}-next`)
    );
  };
  // The load keeps changing through the rollout: each change waits for its scale, so every
  // action is asked for while some pod (old, new, or none between leaders) should act.
  const timeline: string[] = [];
  let loadChanges = 0;
  const step = async () => {
    const rps = LOADS[loadChanges++] ?? 0;
    await e2e.setLoad(LOAD_NS, 'web', rps);
    await e2e.waitForReplicas(LOAD_NS, 'web', rps / 50, 120_000);
    const done = await rolled();
    timeline.push(`${rps / 50} (leader ${await leaseHolder()}${done ? ', rolled' : ''})`);
    return done;
  };
  // During the rollout, then twice with only new pods (recentDecisions keeps 10: LOADS has 9).
  while (loadChanges < LOADS.length - 2 && !(await step()));
  await waitFor(rolled, {
    timeoutMs: 300_000,
    what: 'the rollout onto the -next image',
  });
  await step();
  await step();
  // The old pods gone for good, so nothing of theirs can still be in flight.
  await waitFor(async () => (await operatorPods()).every((p) => !oldPods.includes(p.metadata.name)), {
    timeoutMs: 120_000,
    what: 'the old pods to terminate',
  });
  const history = leases.stop();
  process.stdout.write(`# upgrade: replicas ${timeline.join(' -> ')}\n`);

  // The accounting of test/e2e/upgrade.int.test.ts: every change of the Deployment's replicas
  // has one Scaled Event and one recorded decision, the decisions chain to the count in force.
  const scaled = await faults.assertActionsAccountedFor(LOAD_NS, 'web', {
    loadChanges,
    baseGeneration,
  });
  const seen = scaled.reduce((n, e) => n + e.count, 0);
  const changes = (await faults.deploymentGeneration(LOAD_NS, 'web')) - baseGeneration - loadChanges;
  process.stdout.write(
    `# upgrade accounting: actions expected ${loadChanges}, replica changes ${changes}, Scaled Events ${seen}, ` +
      `lost ${Math.max(0, loadChanges - seen)}, doubled ${Math.max(0, seen - loadChanges)}\n`,
  );
  assert.equal(changes, loadChanges, 'one replica change per load change: none lost, none doubled');
  assert.equal(seen, loadChanges);
  const byNew = scaled.filter((e) => e.reportingInstance && !oldPods.includes(e.reportingInstance)).length;
  assert.ok(byNew >= 1, `the new pods acted after the rollout: ${JSON.stringify(scaled)}`);
  // What a user reads: `kubectl describe` of the policy shows the pods' last decision.
  const last = (await e2e.getPolicy(LOAD_NS, 'web'))?.status?.recentDecisions?.[0];
  assert.ok(last, 'a recorded decision');
  const described = await kubectl(['describe', 'scalingpolicies.v1beta1.tidemark.dev', 'web', '-n', LOAD_NS]);
  assert.match(described.stdout, new RegExp(`Scaled\\s.*${last.from}→${last.to}`));

  // No write after the fence, from the API server's side: etcd's revision orders every write
  // across objects (one etcd here), so each Event an old pod wrote (its reportingInstance;
  // resourceVersion is the revision of its last create or patch) must come before the Lease
  // write that took the Lease from it. A pod that did not hold the Lease in the record must
  // write nothing after the record began.
  const events = (await json<{ items: RawEvent[] }>(['get', 'events', '-n', LOAD_NS])).items;
  const start = history[0]?.resourceVersion ?? 0;
  for (const pod of oldPods) {
    const fence = leases.fenceOf(pod) ?? start;
    const writes = events
      .filter((e) => e.reportingInstance === pod)
      .map((e) => Number(e.metadata.resourceVersion));
    const late = writes.filter((rv) => rv > fence);
    process.stdout.write(
      `# ${pod}: ${writes.length} Events, last at revision ${Math.max(0, ...writes)}; Lease left it at revision ${fence}\n`,
    );
    assert.deepEqual(late, [], `${pod} wrote after revision ${fence}: ${JSON.stringify(history)}`);
    const back = history.filter((v) => v.resourceVersion > fence && v.holder === pod);
    assert.deepEqual(back, [], `${pod} never holds the Lease again`);
  }
  assert.ok(
    leases.fenceOf(oldLeader) !== undefined,
    `the Lease left the old leader: ${JSON.stringify(history)}`,
  );
  const next = history.find((v) => v.resourceVersion > (leases.fenceOf(oldLeader) ?? 0) && v.holder)?.holder;
  process.stdout.write(
    `# hand-over in the rollout: ${((leases.handOverMs(oldLeader) ?? Number.NaN) / 1000).toFixed(1)} s from ${oldLeader} letting go to ${next} holding\n`,
  );
});

// The replacement pod of the previous test may still be starting here: its SIGTERM handler is
// installed before start-up (src/cli/run.ts), so as PID 1 it still stops at once (it went only at
// SIGKILL, 30 s later, before that fix).
test('helm uninstall removes the operator pods, leaves the CRD (resource-policy keep) and the workloads as they are', async () => {
  const before = await json<{
    metadata: { generation: number };
    spec: { replicas: number };
  }>(['get', 'deployment', 'web', '-n', LOAD_NS]);
  await helm(['uninstall', 'tidemark', '--namespace', NS, '--wait']);
  await waitFor(async () => (await operatorPods()).length === 0, {
    timeoutMs: 90_000,
    what: 'the operator pods to go',
  });
  await kubectl(['get', 'crd', 'scalingpolicies.tidemark.dev']);
  // Not a write to the workload: the same generation (no spec change) and replica count.
  const after = await json<{
    metadata: { generation: number };
    spec: { replicas: number };
  }>(['get', 'deployment', 'web', '-n', LOAD_NS]);
  assert.deepEqual(
    { generation: after.metadata.generation, replicas: after.spec.replicas },
    { generation: before.metadata.generation, replicas: before.spec.replicas },
  );
  await kubectl(['get', 'scalingpolicies.v1beta1.tidemark.dev', 'web', '-n', LOAD_NS]);
});
