// deploy/ checked by the real tools against the sandbox's API server:
// kustomize builds every variant, `kubectl apply --dry-run=server` accepts
// them, and the operator does its job under the ServiceAccount's own identity
// (a token for it), which proves the RBAC is enough. A recording proxy between
// the operator and the API server lists every call it made, which must all be
// granted and, together, use the grants (nothing granted that is not called).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeConfig, kubectl, sandboxEnv, waitEstablished, waitFor } from '../support/sandbox.ts';
import {
  CLUSTER_ONLY,
  DEPLOY,
  grants,
  type K8sObject,
  OWN,
  REPO,
  rulesOf,
  WATCHED,
} from './support/manifests.ts';
import { type RunningOperator, startOperator } from './support/operator.ts';
import { type Recorded, startRecorder } from './support/recorder.ts';

const PROMETHEUS_OPERATOR_KINDS = new Set(['ServiceMonitor', 'PrometheusRule']);
const SA = 'system:serviceaccount:tidemark-system:tidemark';

async function kustomize(dir: string): Promise<K8sObject[]> {
  const { stdout } = await kubectl(['kustomize', dir]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
}

function toYaml(objects: K8sObject[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

async function servesPrometheusOperatorCrds(): Promise<boolean> {
  const { stdout } = await kubectl(['api-resources', '--api-group=monitoring.coreos.com', '-o', 'name']);
  return /servicemonitors/.test(stdout) && /prometheusrules/.test(stdout);
}

before(async () => {
  // A server-side dry run does not create the namespace or the CRD, and the
  // namespaced objects need both: install those two for real (idempotent).
  await kubectl(['apply', '-f', join(DEPLOY, 'base/namespace.yaml')]);
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  await waitEstablished();
});

for (const variant of ['', 'namespaced']) {
  test(`kubectl apply --dry-run=server -k deploy/${variant} succeeds`, async () => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-k', join(DEPLOY, variant)]);
    assert.match(stdout, /deployment\.apps\/tidemark (created|configured|unchanged) \(server dry run\)/);
    assert.match(stdout, /(clusterrole|role)\.rbac\.authorization\.k8s\.io\/tidemark-operator/);
  });
}

test('kubectl apply --dry-run=server of deploy/prometheus-operator/', async (t) => {
  const objects = await kustomize(join(DEPLOY, 'prometheus-operator'));
  let kept = objects;
  if (!(await servesPrometheusOperatorCrds())) {
    // Their published CRDs cannot be fetched here (no network beyond the
    // package registries, and no registry package ships them): the two objects
    // are checked by manifests.test.ts and, for the rules, by promtool.
    t.diagnostic('ServiceMonitor and PrometheusRule skipped: the Prometheus Operator CRDs are not installed');
    kept = objects.filter((o) => !PROMETHEUS_OPERATOR_KINDS.has(o.kind));
    assert.equal(objects.length - kept.length, 2);
  }
  const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: toYaml(kept) });
  assert.match(stdout, /deployment\.apps\/tidemark (created|configured|unchanged) \(server dry run\)/);
});

test('deploy/cert-manager/ builds: every replica reads its certificates, the rest applies', async (t) => {
  const objects = await kustomize(join(DEPLOY, 'cert-manager'));
  const [d] = objects.filter((o) => o.kind === 'Deployment') as unknown as Array<{
    spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
  }>;
  const args = d!.spec.template.spec.containers[0]!.args;
  assert.ok(args.includes('--webhook') && args.includes('--webhook-certs=external'), args.join(' '));
  // cert-manager writes the Secret; the operator may read it and nothing more.
  const own = objects.find((o) => o.kind === 'Role' && o.metadata.name === 'tidemark-leader-election');
  assert.deepEqual(grants(rulesOf(own)), [
    ...OWN.filter((g) => !g.startsWith('core/secrets')),
    'core/secrets get tidemark-webhook-tls',
  ]);
  // cert-manager's CRDs are not in the sandbox (not fetchable here, as the Prometheus
  // Operator's): its four objects are checked by manifests.test.ts.
  const kept = objects.filter((o) => !o.apiVersion.startsWith('cert-manager.io/'));
  assert.equal(objects.length - kept.length, 4);
  t.diagnostic('Issuer and Certificate objects not applied: cert-manager is not installed in the sandbox');
  const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: toYaml(kept) });
  assert.match(stdout, /deployment\.apps\/tidemark (created|configured|unchanged) \(server dry run\)/);
});

// --- the operator under the ServiceAccount's identity ---------------------------

const NS = `tidemark-rbac-${process.pid}`;
let op: RunningOperator | undefined;
let recorder: Awaited<ReturnType<typeof startRecorder>> | undefined;
let tmp = '';

after(async () => {
  await op?.stop(5000);
  await recorder?.close();
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']).catch(() => {});
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * A kubeconfig that authenticates as the operator's ServiceAccount with a fresh
 * token, against `server` (the recording proxy, plain HTTP on loopback).
 */
async function serviceAccountKubeconfig(server: string): Promise<string> {
  const { stdout: token } = await kubectl([
    'create',
    'token',
    'tidemark',
    '-n',
    'tidemark-system',
    '--duration=1h',
  ]);
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-sa-'));
  const file = join(tmp, 'kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain HTTP unless told to skip TLS checks; the
      // proxy on loopback verifies the real API server's certificate itself.
      clusters: [{ name: 'sandbox', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tidemark', user: { token: token.trim() } }],
      contexts: [{ name: 'tidemark', context: { cluster: 'sandbox', user: 'tidemark' } }],
      'current-context': 'tidemark',
    }),
  );
  return file;
}

/** `kubectl auth can-i` as the ServiceAccount; `resource` may be TYPE/NAME, `sub` a subresource. */
async function canI(verb: string, resource: string, ns?: string, sub?: string): Promise<boolean> {
  const args = [
    'auth',
    'can-i',
    verb,
    resource,
    `--as=${SA}`,
    ...(ns ? ['-n', ns] : []),
    ...(sub ? [`--subresource=${sub}`] : []),
  ];
  try {
    await kubectl(args);
    return true;
  } catch {
    return false; // `kubectl auth can-i` exits 1 for "no"
  }
}

const workload = (kind: string, name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind,
  metadata: { name, namespace: NS },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name, image: 'example.invalid/web:1' }] },
    },
    ...extra,
  },
});

const scalingPolicy = (kind: string, name: string, prometheus: Record<string, unknown>) => ({
  apiVersion: 'tidemark.dev/v1alpha1',
  kind: 'ScalingPolicy',
  metadata: { name, namespace: NS },
  spec: {
    targetRef: { apiVersion: 'apps/v1', kind, name },
    minReplicas: 1,
    maxReplicas: 10,
    pollingIntervalSeconds: 2,
    prometheus,
    // A constant: 120 / 40 per replica = 3 replicas, whatever else runs.
    metrics: [{ name: 'load', query: 'vector(120)', target: { type: 'AverageValue', value: '40' } }],
  },
});

async function replicasOf(kind: string, name: string): Promise<string> {
  const { stdout } = await kubectl(['get', kind, name, '-n', NS, '-o', 'jsonpath={.spec.replicas}']);
  return stdout.trim();
}

/** The documented grants without resource names, as the recorder reports calls. */
function grantedCalls(): Set<string> {
  return new Set([...WATCHED, ...CLUSTER_ONLY, ...OWN].map((g) => g.split(' ').slice(0, 2).join(' ')));
}

// Calls the code makes only in rare cases, which a short run may not reach.
const RARE = new Map([
  ['core/events patch', 'a repeated Event folded into the previous one'],
  ['coordination.k8s.io/leases create', 'only when the Lease does not exist yet'],
  // A tick reads its target from the watch; GET …/scale only before the watch synced or after a 409.
  ...['deployments', 'statefulsets', 'replicasets'].map(
    (r) => [`apps/${r}/scale get`, 'only before the target watch synced, or after a 409'] as [string, string],
  ),
  ['apiextensions.k8s.io/customresourcedefinitions get', 'only when a policy names a custom resource'],
  // The conversion webhook's Secret: only with --webhook, which this run leaves to the
  // sandbox's own webhook (a CRD has one conversion webhook); test/webhook/*.int.test.ts.
  ['core/secrets create', 'the webhook Secret, with --webhook only'],
  ['core/secrets update', 'the webhook Secret, with --webhook only'],
]);

test('the operator scales Deployment, StatefulSet and ReplicaSet targets as the tidemark ServiceAccount', async (t) => {
  const env = sandboxEnv();
  // RBAC only (no Deployment: the sandbox has no image to run), for real.
  const rbac = (await kustomize(DEPLOY)).filter((o) =>
    ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap'].includes(
      o.kind,
    ),
  );
  // The sandbox's Prometheus is allowed through the shipped ConfigMap, not the
  // flag, so that its watch runs under the Role too.
  for (const o of rbac) {
    if (o.kind === 'ConfigMap')
      (o as unknown as { data: Record<string, string> }).data.allowed = env.prometheusUrl;
  }
  await kubectl(['apply', '-f', '-'], { input: toYaml(rbac) });

  // Spot checks through the API server's own authorizer.
  assert.equal(await canI('update', 'deployments.apps', 'default', 'scale'), true);
  assert.equal(await canI('patch', 'deployments.apps', 'default', 'scale'), false);
  assert.equal(await canI('patch', 'scalingpolicies.tidemark.dev', 'default', 'status'), true);
  assert.equal(await canI('update', 'scalingpolicies.tidemark.dev', 'default', 'status'), false);
  assert.equal(await canI('watch', 'horizontalpodautoscalers.autoscaling', 'default'), true);
  assert.equal(await canI('update', 'horizontalpodautoscalers.autoscaling', 'default'), false);
  assert.equal(await canI('get', 'secrets/any-name', 'default'), true);
  assert.equal(await canI('list', 'scalingpolicies.tidemark.dev'), true);
  assert.equal(await canI('update', 'leases.coordination.k8s.io/tidemark-leader', 'tidemark-system'), true);
  assert.equal(await canI('update', 'leases.coordination.k8s.io/tidemark-leader', 'default'), false);
  assert.equal(await canI('update', 'leases.coordination.k8s.io/another-lease', 'tidemark-system'), false);
  assert.equal(await canI('list', 'secrets', 'default'), false);
  assert.equal(await canI('patch', 'deployments.apps', 'default'), false);
  assert.equal(await canI('list', 'pods', 'default'), false);
  assert.equal(await canI('watch', 'configmaps/tidemark-allowed-prometheus', 'tidemark-system'), true);
  assert.equal(await canI('watch', 'configmaps/kube-root-ca.crt', 'tidemark-system'), false);

  await kubectl(['create', 'namespace', NS]);
  await kubectl(['apply', '-n', NS, '-f', '-'], {
    input: toYaml(
      [
        workload('Deployment', 'web'),
        workload('StatefulSet', 'db', { serviceName: 'db' }),
        workload('ReplicaSet', 'rs'),
        // Prometheus ignores the token; the operator must still read the Secret.
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'prom-auth', namespace: NS },
          stringData: { token: 't0k3n' },
        },
        scalingPolicy('Deployment', 'web', {
          address: env.prometheusUrl,
          authSecretRef: { name: 'prom-auth' },
        }),
        scalingPolicy('StatefulSet', 'db', { address: env.prometheusUrl }),
        scalingPolicy('ReplicaSet', 'rs', { address: env.prometheusUrl }),
      ].map((o) => o as unknown as K8sObject),
    ),
  });

  const cluster = kubeConfig().getCurrentCluster();
  assert.ok(cluster);
  recorder = await startRecorder({
    server: cluster.server,
    ...(cluster.caData ? { ca: Buffer.from(cluster.caData, 'base64') } : {}),
    ...(cluster.caFile ? { ca: readFileSync(cluster.caFile) } : {}),
  });
  // A fresh Lease name per run would need a wider Role; delete the old one instead.
  await kubectl(['delete', 'lease', 'tidemark-leader', '-n', 'tidemark-system', '--ignore-not-found']);
  op = await startOperator({
    kubeconfig: await serviceAccountKubeconfig(recorder.url),
    args: [
      `--namespaces=${NS}`,
      '--leader-election-namespace=tidemark-system',
      '--lease-name=tidemark-leader',
      `--identity=rbac-test-${process.pid}`,
      // As in deploy/base/deployment.yaml.
      '--allowed-prometheus=http://prometheus.monitoring.svc:9090',
      '--allowed-prometheus-configmap=tidemark-allowed-prometheus',
    ],
    // The Deployment sets it from the downward API; the ConfigMap is read there.
    env: { POD_NAMESPACE: 'tidemark-system' },
  });
  const running = op;
  for (const [kind, name] of [
    ['deployment', 'web'],
    ['statefulset', 'db'],
    ['replicaset', 'rs'],
  ] as const) {
    await waitFor(async () => (await replicasOf(kind, name)) === '3', {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: `${kind} ${name} scaled to 3`,
    }).catch((err: Error) => {
      throw new Error(`${err.message}\noperator output:\n${running.output().slice(-4000)}`);
    });
  }
  await waitFor(
    async () => {
      const { stdout } = await kubectl(['get', 'scalingpolicy', 'web', '-n', NS, '-o', 'json']);
      return (JSON.parse(stdout) as { status?: { desiredReplicas?: number } }).status?.desiredReplicas === 3;
    },
    { timeoutMs: 30_000, what: 'status.desiredReplicas 3' },
  );
  await waitFor(
    async () => {
      const { stdout } = await kubectl(['get', 'events', '-n', NS, '-o', 'jsonpath={.items[*].reason}']);
      return /\bScaled\b/.test(stdout);
    },
    { timeoutMs: 30_000, what: 'a Scaled event' },
  );
  await op.stop();

  const calls: Recorded[] = recorder.recorded;
  const forbidden = calls.filter((c) => c.status === 401 || c.status === 403);
  assert.deepEqual(forbidden, [], 'the API server refused calls: the RBAC is not enough');
  assert.doesNotMatch(running.output(), /forbidden/i, 'the operator logged a refusal');

  const granted = grantedCalls();
  const made = new Set(calls.map((c) => c.grant).filter((g) => !g.startsWith('discovery ')));
  for (const g of made) assert.ok(granted.has(g), `the operator called ${g}, which the RBAC does not grant`);
  for (const g of granted) {
    if (made.has(g)) continue;
    const why = RARE.get(g);
    assert.ok(why, `the RBAC grants ${g} but the operator never called it in a full run`);
    t.diagnostic(`not called in this run: ${g} (${why})`);
  }
});
