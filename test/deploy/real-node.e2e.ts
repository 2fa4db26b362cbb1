// Tidemark as real pods: the sandbox's real node (TIDEMARK_REAL_NODE=1, sandbox/real-node.sh:
// kubelet + containerd + runc + CNI in a network namespace of the sandbox's own) runs the
// image `make image` built. Run by `make test-real-node`, which starts a sandbox of its own
// with the real node; not a *.test.ts file, so neither `make test-unit` nor the shared
// integration sandbox (which has no real node) picks it up.
//
// The chart is installed as shipped (RBAC, probes, security context, 2 replicas) with these
// settings, each for a reason of the sandbox, not of the chart:
// - image.pullPolicy=Never: the image was imported into containerd; no registry is reachable.
// - webhook.enabled=false: no kube-proxy runs, so the API server cannot reach a Service's
//   ClusterIP; a chart webhook would take the CRD's conversion over from the sandbox's own.
// - nodeSelector and tolerations (the chart's values) put the operator on the real node,
//   whose taint keeps the workload pods on the KWOK nodes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kubectl, waitFor } from '../support/sandbox.ts';
import { CHART, helm } from './support/helm.ts';
import { imageName } from './support/image.ts';

const NODE_NAME = 'tidemark-real-node';
// Its label and taint (sandbox/real-node.sh).
const REAL_NODE_LABEL = 'tidemark.dev/real-node';
const NS = 'tidemark-system';
const image = imageName();

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
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
});
after(async () => {
  await helm(['uninstall', 'tidemark', '--namespace', NS, '--ignore-not-found', '--wait']).catch(() => {});
  await kubectl(['delete', 'pod', 'tidemark-help', '--ignore-not-found', '--wait=false']).catch(() => {});
});

test('the real node is Ready at an address of its own namespace, tainted, beside the KWOK nodes', async () => {
  const node = await json<{
    spec: { taints?: { key: string; effect: string }[] };
    status: { addresses: { type: string; address: string }[]; nodeInfo: { containerRuntimeVersion: string } };
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
  await helm([
    'install',
    'tidemark',
    CHART,
    '--namespace',
    NS,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'webhook.enabled=false',
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
      const l = await json<{ items: Pod[] }>([
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app.kubernetes.io/name=tidemark',
      ]);
      return l.items.length === 2 && l.items.every(ready) ? l.items : undefined;
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

test('kubectl delete pod of the leader: SIGTERM reaches the operator as PID 1, it releases the Lease, another pod leads', async () => {
  const lease = async () =>
    (await json<{ spec: { holderIdentity?: string } }>(['get', 'lease', 'tidemark-leader', '-n', NS])).spec
      .holderIdentity ?? '';
  const leader = await lease();
  const pods = await json<{ items: Pod[] }>([
    'get',
    'pods',
    '-n',
    NS,
    '-l',
    'app.kubernetes.io/name=tidemark',
  ]);
  const standby = pods.items.map((p) => p.metadata.name).find((n) => n !== leader);
  assert.ok(leader && standby, `a leader (${leader}) and a standby (${standby})`);
  const t0 = performance.now();
  // Graceful: the kubelet sends SIGTERM and waits up to terminationGracePeriodSeconds (30).
  await kubectl(['delete', 'pod', '-n', NS, leader, '--wait=false']);
  const next = await waitFor(
    async () => {
      const h = await lease();
      return h && h !== leader ? h : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200, what: `a new Lease holder after ${leader}` },
  );
  const seconds = (performance.now() - t0) / 1000;
  // Whoever asks first takes the released Lease: usually the standby, but the Deployment's
  // replacement pod, asking as soon as it starts, won the race in one rehearsal. Either is a
  // hand-over; what must not happen is the deleted pod holding on.
  const now = await json<{ items: Pod[] }>([
    'get',
    'pods',
    '-n',
    NS,
    '-l',
    'app.kubernetes.io/name=tidemark',
  ]);
  const candidates = now.items.map((p) => p.metadata.name).filter((n) => n !== leader);
  assert.ok(candidates.includes(next), `${next} is a live operator pod other than ${leader}: ${candidates}`);
  process.stdout.write(
    `# leader hand-over after kubectl delete pod: ${seconds.toFixed(1)} s, to ${next === standby ? 'the standby' : 'the replacement pod'}\n`,
  );
});

// The replacement pod of the previous test may still be starting here: its SIGTERM handler is
// installed before start-up (src/cli/run.ts), so as PID 1 it still stops at once (it went only at
// SIGKILL, 30 s later, before that fix).
test('helm uninstall removes the operator pods and leaves the CRD (resource-policy keep)', async () => {
  await helm(['uninstall', 'tidemark', '--namespace', NS, '--wait']);
  await waitFor(
    async () =>
      (await json<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=tidemark'])).items
        .length === 0,
    { timeoutMs: 90_000, what: 'the operator pods to go' },
  );
  await kubectl(['get', 'crd', 'scalingpolicies.tidemark.dev']);
});
