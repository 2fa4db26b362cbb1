// What can be checked in charts/tidemark without a helm binary: its versions,
// and that its default values and RBAC rules are the ones deploy/ ships, so a
// change to one side alone fails here already. helm.int.test.ts renders the
// chart and compares every object with kustomize's output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { build, DEPLOY, find, type K8sObject, REPO } from './support/manifests.ts';

const CHART = join(REPO, 'charts/tidemark');
const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
  version: string;
  appVersion: string;
};
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const cluster = build(DEPLOY);

interface Container {
  args: string[];
  imagePullPolicy: string;
  resources: unknown;
}

function container(objects: K8sObject[]) {
  const [d] = find(objects, 'Deployment', 'tidemark') as unknown as Array<{
    spec: { replicas: number; template: { spec: { containers: Container[] } } };
  }>;
  assert.ok(d, 'no Deployment tidemark');
  return { replicas: d.spec.replicas, ...d.spec.template.spec.containers[0]! };
}

/** The YAML between `{{- define "NAME" -}}` and its `{{- end -}}` in templates/_helpers.tpl. */
function helperYaml(name: string): unknown {
  const text = readFileSync(join(CHART, 'templates/_helpers.tpl'), 'utf8');
  const start = text.indexOf(`{{- define "${name}" -}}`);
  assert.ok(start >= 0, `no define ${name}`);
  const body = text.slice(text.indexOf('\n', start) + 1, text.indexOf('{{- end -}}', start));
  return parse(body);
}

test('the chart version and appVersion are package.json version', () => {
  assert.equal(chart.version, pkg.version);
  assert.equal(chart.appVersion, pkg.version);
});

test("the chart's default values are deploy/'s settings", () => {
  const c = container(cluster);
  assert.equal(values.replicas, c.replicas);
  assert.equal(values.image.pullPolicy, c.imagePullPolicy);
  assert.deepEqual(values.resources, c.resources);
  const images = (
    parse(readFileSync(join(DEPLOY, 'base/kustomization.yaml'), 'utf8')) as {
      images: Array<{ name: string; newTag: string }>;
    }
  ).images;
  assert.deepEqual(images, [{ name: values.image.repository, newTag: values.image.tag || chart.appVersion }]);
  assert.ok(
    c.args.includes(`--allowed-prometheus=${values.allowedPrometheus.urls.join(',')}`),
    `${c.args.join(' ')} lacks the chart's allow-list`,
  );
  const [cm] = find(cluster, 'ConfigMap', 'tidemark-allowed-prometheus');
  assert.deepEqual((cm as unknown as { data: unknown }).data, {
    allowed: values.allowedPrometheus.configMap,
  });
  assert.deepEqual(values.namespaces, []);
  assert.deepEqual(values.extraArgs, []);
});

test("the chart's operator rules are deploy/cluster's ClusterRole and deploy/namespaced's Role", () => {
  const rules = helperYaml('tidemark.watchRules');
  const clusterRules = helperYaml('tidemark.clusterRules') as unknown[];
  const [clusterRole] = find(cluster, 'ClusterRole', 'tidemark-operator');
  assert.deepEqual(
    [...(rules as unknown[]), ...clusterRules],
    (clusterRole as unknown as { rules: unknown }).rules,
  );
  const [role] = find(build(join(DEPLOY, 'namespaced')), 'Role', 'tidemark-operator');
  assert.deepEqual(rules, (role as unknown as { rules: unknown }).rules);
});

test('the chart ships no crds/ directory: Helm would never upgrade a CRD there', () => {
  assert.throws(() => readFileSync(join(CHART, 'crds/scalingpolicy.yaml')), { code: 'ENOENT' });
  const template = readFileSync(join(CHART, 'templates/scalingpolicy-crd.yaml'), 'utf8');
  assert.match(template, /\.Files\.Get "files\/scalingpolicy-crd\.yaml"/);
  assert.match(template, /helm\.sh\/resource-policy" "keep"/);
});

// A PodDisruptionBudget of minAvailable 1 over one replica lets no eviction through, so
// every node drain blocks on it: the chart renders none below two replicas
// (helm.int.test.ts renders `--set replicas=1` and `replicas=2` with helm itself).
test('the PodDisruptionBudget template renders only from two replicas on', () => {
  const template = readFileSync(join(CHART, 'templates/poddisruptionbudget.yaml'), 'utf8');
  const firstAction = /\{\{-?\s*(.*?)\s*-?\}\}/.exec(
    template.replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, ''),
  );
  assert.equal(
    firstAction?.[1],
    'if gt (int .Values.replicas) 1',
    'the whole PodDisruptionBudget must sit inside a guard on replicas > 1',
  );
});
