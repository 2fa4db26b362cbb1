// The Helm chart against kustomize and the sandbox's API server: `helm lint`,
// `helm template` rendering object for object what `kubectl kustomize deploy/…`
// builds (so the two cannot drift; the RBAC tests on deploy/ then hold for the
// chart too, and the namespaced RBAC is checked here for a list of namespaces),
// `kubectl apply --dry-run=server` of the rendered chart, and a real
// `helm install` + `helm upgrade` that must upgrade the CRD.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { kubectl } from '../support/sandbox.ts';
import { byIdentity, CHART, helm, parseObjects, renderChart } from './support/helm.ts';
import {
  DEPLOY,
  find,
  grants,
  type K8sObject,
  OWN,
  REPO,
  rulesOf,
  WATCHED,
  WEBHOOK,
} from './support/manifests.ts';

const NAMESPACED = ['namespaces={default}'];
const PROMETHEUS_OPERATOR = [
  'prometheusOperator.serviceMonitor.enabled=true',
  'prometheusOperator.prometheusRule.enabled=true',
];
const CERT_MANAGER = ['webhook.certManager.enabled=true'];

async function kustomize(variant: string): Promise<K8sObject[]> {
  const { stdout } = await kubectl(['kustomize', join(DEPLOY, variant)]);
  // The chart leaves the Namespace to `helm install --create-namespace`.
  return parseObjects(stdout).filter((o) => o.kind !== 'Namespace');
}

before(async () => {
  await kubectl(['apply', '-f', join(DEPLOY, 'base/namespace.yaml')]);
});

test('helm lint accepts the chart, cluster-wide and namespaced', async () => {
  for (const set of [[], NAMESPACED, PROMETHEUS_OPERATOR, CERT_MANAGER]) {
    const out = await helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

for (const [variant, set] of [
  ['', []],
  ['namespaced', NAMESPACED],
  ['prometheus-operator', PROMETHEUS_OPERATOR],
  ['cert-manager', CERT_MANAGER],
] as const) {
  test(`helm template ${set.join(' ') || '(defaults)'} renders the objects of deploy/${variant}, modulo labels`, async () => {
    const fromKustomize = byIdentity(await kustomize(variant));
    const fromHelm = byIdentity(parseObjects(await renderChart([...set])));
    assert.deepEqual([...fromHelm.keys()].sort(), [...fromKustomize.keys()].sort());
    for (const [id, o] of fromKustomize) assert.deepEqual(fromHelm.get(id), o, `${id} differs`);
  });
}

test('namespaced chart: one Role per listed namespace with exactly the operator grants, no ClusterRole but the webhook one', async () => {
  const objects = parseObjects(await renderChart(['namespaces={team-a,team-b}']));
  assert.deepEqual(
    find(objects, 'ClusterRole').map((r) => r.metadata.name),
    ['tidemark-webhook'],
  );
  assert.deepEqual(grants(rulesOf(find(objects, 'ClusterRole')[0])), WEBHOOK);
  assert.deepEqual(
    find(objects, 'ClusterRoleBinding').map((r) => r.metadata.name),
    ['tidemark-webhook'],
  );
  const roles = find(objects, 'Role');
  const watched = roles.filter((r) => r.metadata.namespace !== 'tidemark-system');
  assert.deepEqual(watched.map((r) => r.metadata.namespace).sort(), ['team-a', 'team-b']);
  for (const r of watched) assert.deepEqual(grants(rulesOf(r)), WATCHED);
  assert.deepEqual(grants(rulesOf(roles.find((r) => r.metadata.namespace === 'tidemark-system'))), OWN);
  const bindings = find(objects, 'RoleBinding').filter((b) => b.metadata.namespace !== 'tidemark-system');
  assert.deepEqual(bindings.map((b) => b.metadata.namespace).sort(), ['team-a', 'team-b']);
  const [d] = find(objects, 'Deployment', 'tidemark');
  const args = (d as unknown as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } })
    .spec.template.spec.containers[0]!.args;
  assert.ok(args.includes('--namespaces=team-a,team-b'), args.join(' '));
});

test('values reach the Deployment: image, replicas, allow-list, resources, extra args', async () => {
  const objects = parseObjects(
    await renderChart([
      'image.repository=registry.example.com/tidemark',
      'image.tag=9.9.9',
      'image.pullPolicy=Always',
      'replicas=3',
      'allowedPrometheus.urls={http://a:9090,https://b.example.com}',
      'allowedPrometheus.configMap=http://c:9090',
      'resources.limits.memory=1Gi',
      'extraArgs={--log-level=debug}',
    ]),
  );
  const [d] = find(objects, 'Deployment', 'tidemark') as unknown as Array<{
    spec: {
      replicas: number;
      template: { spec: { containers: Array<Record<string, unknown> & { args: string[] }> } };
    };
  }>;
  const c = d!.spec.template.spec.containers[0]!;
  assert.equal(d!.spec.replicas, 3);
  assert.equal(c.image, 'registry.example.com/tidemark:9.9.9');
  assert.equal(c.imagePullPolicy, 'Always');
  assert.deepEqual(c.resources, {
    requests: { cpu: '100m', memory: '128Mi' },
    limits: { cpu: '1', memory: '1Gi' },
  });
  assert.ok(c.args.includes('--allowed-prometheus=http://a:9090,https://b.example.com'), c.args.join(' '));
  assert.equal(c.args.at(-1), '--log-level=debug');
  const [cm] = find(objects, 'ConfigMap', 'tidemark-allowed-prometheus');
  assert.deepEqual((cm as unknown as { data: unknown }).data, { allowed: 'http://c:9090' });
});

test('crds.install=false leaves the CRD to an administrator; crds.keep=false drops the keep annotation', async () => {
  const crds = (objects: K8sObject[]) => find(objects, 'CustomResourceDefinition');
  assert.deepEqual(crds(parseObjects(await renderChart(['crds.install=false']))), []);
  const [kept] = crds(parseObjects(await renderChart()));
  const [notKept] = crds(parseObjects(await renderChart(['crds.keep=false'])));
  const annotations = (o: K8sObject | undefined) =>
    (o?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {};
  assert.equal(annotations(kept)['helm.sh/resource-policy'], 'keep');
  assert.equal(annotations(notKept)['helm.sh/resource-policy'], undefined);
  assert.equal(notKept?.metadata.name, 'scalingpolicies.tidemark.dev');
});

for (const [name, set] of [
  ['defaults', []],
  ['namespaced', NAMESPACED],
] as const) {
  test(`helm template (${name}) | kubectl apply --dry-run=server succeeds`, async () => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: await renderChart([...set]),
    });
    assert.match(stdout, /deployment\.apps\/tidemark (created|configured|unchanged) \(server dry run\)/);
    assert.match(stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/scalingpolicies\.tidemark\.dev/);
    assert.match(stdout, /(clusterrole|role)\.rbac\.authorization\.k8s\.io\/tidemark-operator/);
  });
}

// --- a real install and upgrade -------------------------------------------------

const RELEASE = 'tidemark';
const CRD = 'crd/scalingpolicies.tidemark.dev';
let tmp = '';
let installed = false;

after(async () => {
  if (installed) await helm(['uninstall', RELEASE, '-n', 'tidemark-system', '--wait']).catch(() => {});
  // Restore the CRD exactly as the other tests expect it (the upgrade changed a description).
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function crdDescription(): Promise<string> {
  const { stdout } = await kubectl([
    'get',
    CRD,
    '-o',
    'jsonpath={.spec.versions[0].schema.openAPIV3Schema.description}',
  ]);
  return stdout;
}

async function deploymentReplicas(): Promise<string> {
  const jsonpath = 'jsonpath={.spec.replicas}';
  return (await kubectl(['get', 'deployment', 'tidemark', '-n', 'tidemark-system', '-o', jsonpath])).stdout;
}

/** A copy of the chart whose CRD says `description` at the top of its schema. */
function chartWithCrdDescription(description: string): string {
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-chart-'));
  const chart = join(tmp, 'tidemark');
  cpSync(CHART, chart, { recursive: true });
  const file = join(chart, 'files/scalingpolicy-crd.yaml');
  const crd = parse(readFileSync(file, 'utf8'));
  crd.spec.versions[0].schema.openAPIV3Schema.description = description;
  writeFileSync(file, stringify(crd));
  return chart;
}

test('helm install, then helm upgrade with a changed CRD updates the CRD; uninstall keeps it', async () => {
  // Other tests installed the CRD and RBAC with kubectl: --take-ownership adopts
  // them, as a cluster moving from `kubectl apply -k deploy/` to Helm would.
  await helm(['install', RELEASE, CHART, '-n', 'tidemark-system', '--take-ownership']);
  installed = true;
  const original = await crdDescription();
  assert.equal(await deploymentReplicas(), '2');

  const changed = `${original} (upgraded by helm.int.test.ts)`;
  await helm([
    'upgrade',
    RELEASE,
    chartWithCrdDescription(changed),
    '-n',
    'tidemark-system',
    '--set',
    'replicas=3',
  ]);
  assert.equal(await crdDescription(), changed);
  assert.equal(await deploymentReplicas(), '3');

  // Owned by the release, yet kept by `helm uninstall`.
  const { stdout: crd } = await kubectl(['get', CRD, '-o', 'json']);
  const meta = JSON.parse(crd).metadata;
  assert.equal(meta.annotations?.['meta.helm.sh/release-name'], RELEASE);
  assert.equal(meta.annotations?.['helm.sh/resource-policy'], 'keep');
  await helm(['uninstall', RELEASE, '-n', 'tidemark-system', '--wait']);
  installed = false;
  await kubectl(['get', CRD]); // still there: helm.sh/resource-policy keep
  const { stdout: left } = await kubectl(['get', 'deployment', '-n', 'tidemark-system', '-o', 'name']);
  assert.doesNotMatch(left, /deployment\.apps\/tidemark\b/);
});

test('below two replicas the chart renders no PodDisruptionBudget (minAvailable 1 would block every drain)', async () => {
  assert.deepEqual(find(parseObjects(await renderChart(['replicas=1'])), 'PodDisruptionBudget'), []);
  const [pdb] = find(parseObjects(await renderChart(['replicas=2'])), 'PodDisruptionBudget');
  assert.equal((pdb as unknown as { spec: { minAvailable: number } } | undefined)?.spec.minAvailable, 1);
});

/** The first `helm install` of the README's "Install with Helm" block, split as a shell would. */
function readmeHelmInstall(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /### Install with Helm\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const line = block.split('\n').find((l) => l.startsWith('helm install '));
  assert.ok(line, "no `helm install` in the README's Install with Helm block");
  return line
    .replace(/\s+#.*$/, '')
    .split(/\s+/)
    .map((a) => a.replace(/^'(.*)'$/, '$1'));
}

test("the README's helm install succeeds after `kubectl apply -f crds/` (where make demo leaves a cluster)", async () => {
  await kubectl(['apply', '-f', join(REPO, 'crds')]);
  // The CRD as kubectl alone leaves it: what an earlier release in this sandbox wrote on it goes.
  await kubectl(['annotate', CRD, 'meta.helm.sh/release-name-', 'meta.helm.sh/release-namespace-']);
  await kubectl(['label', CRD, 'app.kubernetes.io/managed-by-']);
  const [cmd, ...args] = readmeHelmInstall();
  assert.equal(cmd, 'helm');
  // The README runs from the repository's root; the chart path is made absolute, nothing else changes.
  await helm(args.map((a) => (a === 'charts/tidemark' ? CHART : a)));
  installed = true;
  const meta = JSON.parse((await kubectl(['get', CRD, '-o', 'json'])).stdout).metadata;
  assert.equal(meta.annotations?.['meta.helm.sh/release-name'], RELEASE, 'the release owns the CRD now');
  await helm(['uninstall', RELEASE, '-n', 'tidemark-system', '--wait']);
  installed = false;
});
