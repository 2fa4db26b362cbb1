// Reads deploy/ the way the tests need it without a kubectl binary: each
// kustomization's resources, recursively, with its `namespace:` applied. The
// int tests check the real `kubectl kustomize` output; this is for unit tests
// that look at rules, probes and security settings.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const DEPLOY = join(REPO, 'deploy');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export interface Kustomization {
  namespace?: string;
  resources?: string[];
  patches?: Array<{ target?: Record<string, string>; patch?: string; path?: string }>;
}

export function readYamlObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .filter((d) => d.contents !== null)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject;
    });
}

export function readKustomization(dir: string): Kustomization {
  return readYamlObjects(join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
]);

/** The objects a kustomization directory builds (resources and namespace only; patches are not applied). */
export function build(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const out: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    if (!existsSync(path)) throw new Error(`${dir}/kustomization.yaml: resource ${r} does not exist`);
    out.push(...(statSync(path).isDirectory() ? build(path) : readYamlObjects(path)));
  }
  if (k.namespace) {
    for (const o of out) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return out;
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export function rulesOf(o: K8sObject | undefined): PolicyRule[] {
  return (o as unknown as { rules: PolicyRule[] }).rules;
}

/** Rules flattened to one "group/resource verb [name]" string per grant, sorted. */
export function grants(rules: PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups ?? [])
      for (const res of r.resources ?? [])
        for (const v of r.verbs) {
          const names = r.resourceNames?.length ? r.resourceNames : [''];
          for (const n of names) out.add(`${g === '' ? 'core' : g}/${res} ${v}${n ? ` ${n}` : ''}`);
        }
    for (const u of r.nonResourceURLs ?? []) for (const v of r.verbs) out.add(`${u} ${v}`);
  }
  return [...out].sort();
}

// What the operator calls on the API, written down (README "Install into a
// cluster", docs/install.md). The ClusterRole (and each namespaced Role) must
// grant exactly this; the Role in the operator's own namespace exactly OWN.
export const WATCHED = [
  'apps/deployments list',
  'apps/deployments watch',
  'apps/deployments/scale get',
  'apps/deployments/scale update',
  'apps/replicasets list',
  'apps/replicasets watch',
  'apps/replicasets/scale get',
  'apps/replicasets/scale update',
  'apps/statefulsets list',
  'apps/statefulsets watch',
  'apps/statefulsets/scale get',
  'apps/statefulsets/scale update',
  'autoscaling/horizontalpodautoscalers list',
  'autoscaling/horizontalpodautoscalers watch',
  'core/events create',
  'core/events patch',
  'core/secrets get',
  'tidemark.dev/scalingpolicies list',
  'tidemark.dev/scalingpolicies watch',
  'tidemark.dev/scalingpolicies/status patch',
];
/** Cluster-scoped grants, in the cluster-wide install only (a Role cannot grant them). */
export const CLUSTER_ONLY = ['apiextensions.k8s.io/customresourcedefinitions get'];
export const OWN = [
  'coordination.k8s.io/leases create',
  'coordination.k8s.io/leases get tidemark-leader',
  'coordination.k8s.io/leases update tidemark-leader',
  'core/configmaps list tidemark-allowed-prometheus',
  'core/configmaps watch tidemark-allowed-prometheus',
  'core/secrets create',
  'core/secrets get tidemark-webhook-tls',
  'core/secrets update tidemark-webhook-tls',
];

/** The conversion webhook's one cluster-wide grant: the ScalingPolicy CRD, by name. */
export const WEBHOOK = [
  'apiextensions.k8s.io/customresourcedefinitions get scalingpolicies.tidemark.dev',
  'apiextensions.k8s.io/customresourcedefinitions patch scalingpolicies.tidemark.dev',
];
