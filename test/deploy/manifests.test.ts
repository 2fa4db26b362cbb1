import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import {
  build,
  CLUSTER_ONLY,
  DEPLOY,
  find,
  grants,
  type K8sObject,
  OWN,
  REPO,
  readKustomization,
  readYamlObjects,
  rulesOf,
  WATCHED,
  WEBHOOK,
} from './support/manifests.ts';

const cluster = build(DEPLOY);
const namespaced = build(join(DEPLOY, 'namespaced'));
const promOperator = build(join(DEPLOY, 'prometheus-operator'));

function deployment(objects: K8sObject[]) {
  const [d] = find(objects, 'Deployment', 'tidemark');
  assert.ok(d, 'no Deployment tidemark');
  return d as unknown as {
    metadata: { namespace: string };
    spec: {
      replicas: number;
      template: {
        metadata: { labels: Record<string, string> };
        spec: {
          serviceAccountName: string;
          securityContext: Record<string, unknown>;
          containers: Array<{
            args: string[];
            ports: Array<{ name: string; containerPort: number }>;
            livenessProbe: { httpGet: { path: string; port: string } };
            readinessProbe: { httpGet: { path: string; port: string } };
            resources: { requests: Record<string, string>; limits: Record<string, string> };
            securityContext: Record<string, unknown>;
          }>;
        };
      };
    };
  };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return p.endsWith('.yaml') ? [p] : [];
  });
}

test('every kustomization in deploy/ names only files and directories that exist', () => {
  const dirs = yamlFiles(DEPLOY)
    .filter((f) => f.endsWith('/kustomization.yaml'))
    .map((f) => f.slice(0, -'/kustomization.yaml'.length));
  assert.ok(dirs.length >= 5, `found only ${dirs.length} kustomizations`);
  for (const dir of dirs) {
    for (const r of readKustomization(dir).resources ?? []) {
      assert.ok(existsSync(join(dir, r)), `${relative(REPO, dir)}: resource ${r} does not exist`);
    }
  }
});

test('no RBAC rule anywhere in deploy/ uses a wildcard', () => {
  for (const file of yamlFiles(DEPLOY)) {
    for (const o of readYamlObjects(file)) {
      if (o?.kind !== 'Role' && o?.kind !== 'ClusterRole') continue;
      for (const r of rulesOf(o)) {
        for (const field of [
          'apiGroups',
          'resources',
          'verbs',
          'resourceNames',
          'nonResourceURLs',
        ] as const) {
          for (const v of r[field] ?? []) {
            assert.ok(
              !v.includes('*'),
              `${relative(REPO, file)} ${o.kind} ${o.metadata.name}: ${field} ${v}`,
            );
          }
        }
      }
    }
  }
});

test('cluster-wide install: the ClusterRole grants exactly what the operator calls', () => {
  const roles = find(cluster, 'ClusterRole', 'tidemark-operator');
  assert.equal(roles.length, 1);
  assert.deepEqual(grants(rulesOf(roles[0]!)), [...WATCHED, ...CLUSTER_ONLY].sort());
  const [binding] = find(cluster, 'ClusterRoleBinding', 'tidemark-operator');
  assert.deepEqual((binding as unknown as { subjects: unknown }).subjects, [
    { kind: 'ServiceAccount', name: 'tidemark', namespace: 'tidemark-system' },
  ]);
  assert.deepEqual((binding as unknown as { roleRef: { name: string } }).roleRef.name, 'tidemark-operator');
});

test('the operator namespace Role grants only the Lease and the allow-list ConfigMap, by name where the API allows', () => {
  for (const objects of [cluster, namespaced, promOperator]) {
    const roles = find(objects, 'Role').filter((r) => r.metadata.namespace === 'tidemark-system');
    assert.equal(roles.length, 1);
    assert.deepEqual(grants(rulesOf(roles[0]!)), OWN);
  }
});

test('every variant: the webhook ClusterRole grants only the ScalingPolicy CRD, by name', () => {
  for (const objects of [cluster, namespaced, promOperator]) {
    const roles = find(objects, 'ClusterRole').filter((r) => r.metadata.name !== 'tidemark-operator');
    assert.deepEqual(
      roles.map((r) => r.metadata.name),
      ['tidemark-webhook'],
    );
    assert.deepEqual(grants(rulesOf(roles[0]!)), WEBHOOK);
    assert.equal(find(objects, 'Service', 'tidemark-webhook').length, 1);
  }
});

test('namespaced install: no ClusterRole but the webhook one, one Role per watched namespace with the same grants', () => {
  assert.deepEqual(
    find(namespaced, 'ClusterRole').map((r) => r.metadata.name),
    ['tidemark-webhook'],
  );
  assert.deepEqual(
    find(namespaced, 'ClusterRoleBinding').map((r) => r.metadata.name),
    ['tidemark-webhook'],
  );
  const watched = find(namespaced, 'Role').filter((r) => r.metadata.namespace !== 'tidemark-system');
  assert.deepEqual(
    watched.map((r) => r.metadata.namespace),
    ['default'],
  );
  for (const r of watched) assert.deepEqual(grants(rulesOf(r)), WATCHED);
  const bindings = find(namespaced, 'RoleBinding').filter((r) => r.metadata.namespace === 'default');
  assert.equal(bindings.length, 1);
  // The --namespaces flag names the same namespaces (the patch in the overlay).
  const patch = readKustomization(join(DEPLOY, 'namespaced')).patches?.[0]?.patch ?? '';
  assert.match(patch, /--namespaces=default\b/);
});

test('the lease name and namespace in the Deployment match the Role', () => {
  const args = deployment(cluster).spec.template.spec.containers[0]!.args;
  assert.ok(args.includes('--lease-name=tidemark-leader'), args.join(' '));
  assert.ok(args.includes('--leader-election-namespace=$(POD_NAMESPACE)'), args.join(' '));
  assert.ok(args.includes('--identity=$(POD_NAME)'), args.join(' '));
  assert.ok(
    args.some((a) => /^--allowed-prometheus=https?:\/\/\S+$/.test(a)),
    'no --allowed-prometheus',
  );
  // The allow-list ConfigMap: named in the args, shipped, and the only one the Role lets it read.
  assert.ok(args.includes('--allowed-prometheus-configmap=tidemark-allowed-prometheus'), args.join(' '));
  const [cm] = find(cluster, 'ConfigMap', 'tidemark-allowed-prometheus');
  assert.equal(cm?.metadata.namespace, 'tidemark-system');
});

test('the Deployment: 2 replicas, probes, resources, hardened security context', () => {
  const d = deployment(cluster);
  assert.equal(d.metadata.namespace, 'tidemark-system');
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'tidemark');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  const [c] = pod.containers;
  assert.ok(c);
  assert.ok(c.args.includes('--metrics-port=8080'));
  assert.deepEqual(
    c.ports.map((p) => [p.name, p.containerPort]),
    [
      ['metrics', 8080],
      ['webhook', 9443],
    ],
  );
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
  for (const r of ['cpu', 'memory']) {
    assert.ok(c.resources.requests[r], `no ${r} request`);
    assert.ok(c.resources.limits[r], `no ${r} limit`);
  }
  assert.equal(c.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.deepEqual(c.securityContext.seccompProfile, { type: 'RuntimeDefault' });
});

test('Service, PodDisruptionBudget and NetworkPolicy select the operator pods', () => {
  const labels = deployment(cluster).spec.template.metadata.labels;
  const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  const [svc] = find(cluster, 'Service', 'tidemark-metrics');
  const [pdb] = find(cluster, 'PodDisruptionBudget', 'tidemark');
  const [np] = find(cluster, 'NetworkPolicy', 'tidemark');
  assert.ok(svc && pdb && np);
  assert.ok(selects((svc as unknown as { spec: { selector: Record<string, string> } }).spec.selector));
  const pdbSpec = (
    pdb as unknown as { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }
  ).spec;
  assert.equal(pdbSpec.minAvailable, 1);
  assert.ok(selects(pdbSpec.selector.matchLabels));
  const npSpec = (
    np as unknown as { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[] } }
  ).spec;
  assert.ok(selects(npSpec.podSelector.matchLabels));
  assert.deepEqual(npSpec.policyTypes, ['Ingress', 'Egress']);
});

test('the Prometheus Operator overlay adds a ServiceMonitor on the metrics port and the PrometheusRule', () => {
  const [sm] = find(promOperator, 'ServiceMonitor', 'tidemark');
  assert.ok(sm, 'no ServiceMonitor');
  const spec = (sm as unknown as { spec: { endpoints: Array<{ port: string; path: string }> } }).spec;
  assert.deepEqual(
    spec.endpoints.map((e) => [e.port, e.path]),
    [['metrics', '/metrics']],
  );
  assert.equal(find(promOperator, 'PrometheusRule', 'tidemark').length, 1);
  // Everything in the base is there too.
  assert.equal(find(promOperator, 'Deployment', 'tidemark').length, 1);
  assert.equal(find(promOperator, 'ClusterRole', 'tidemark-operator').length, 1);
});

test('the cert-manager overlay: a CA of its own and a serving certificate for the webhook Service, in the Secret the operator reads', () => {
  const certManager = build(join(DEPLOY, 'cert-manager'));
  type Cert = {
    spec: { secretName: string; isCA?: boolean; dnsNames?: string[]; issuerRef: { name: string } };
  };
  const [ca] = find(certManager, 'Certificate', 'tidemark-webhook-ca') as unknown as Cert[];
  const [serving] = find(certManager, 'Certificate', 'tidemark-webhook') as unknown as Cert[];
  assert.ok(ca?.spec.isCA, 'a CA certificate');
  assert.ok(serving, 'a serving certificate');
  const [caIssuer] = find(certManager, 'Issuer', serving.spec.issuerRef.name) as unknown as Array<{
    spec: { ca?: { secretName: string } };
  }>;
  assert.equal(
    caIssuer?.spec.ca?.secretName,
    ca.spec.secretName,
    'the serving certificate is issued by that CA',
  );
  assert.equal(serving.spec.secretName, 'tidemark-webhook-tls', "the operator's --webhook-secret default");
  const [svc] = find(certManager, 'Service', 'tidemark-webhook');
  const ns = svc?.metadata.namespace;
  assert.deepEqual(serving.spec.dnsNames, [
    `tidemark-webhook.${ns}.svc`,
    `tidemark-webhook.${ns}.svc.cluster.local`,
  ]);
  // kustomize applies the patch (deploy.int.test.ts builds it); here: the patch is the one flag.
  const k = readKustomization(join(DEPLOY, 'cert-manager')) as { patches?: Array<{ patch: string }> };
  assert.match(k.patches?.[0]?.patch ?? '', /value: --webhook-certs=external/);
  assert.equal(find(certManager, 'Deployment', 'tidemark').length, 1, 'the base is there too');
});

// The grants above are also derived from the code where practical: each
// granted resource must be used by the operator's source (nothing granted that
// the code does not call), and each resource the source puts in an API path
// must be granted (nothing called that is not granted).
const OPERATOR_SOURCES = [
  'src/reconciler',
  'src/operator',
  'src/collector',
  'src/cli',
  'src/webhook',
  'src/kube',
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function operatorSource(): string {
  const files = OPERATOR_SOURCES.map((d) => join(REPO, d))
    .filter((d) => existsSync(d))
    .flatMap((d) => tsFiles(d));
  return files.map((f) => readFileSync(f, 'utf8')).join('\n');
}

// Each granted resource, and how a call to it shows in the source.
const GRANTED_IN_CODE: Record<string, RegExp> = {
  scalingpolicies: /scalingpolicies/,
  'scalingpolicies/status': /\/status`/,
  '*/scale (deployments, statefulsets, replicasets)': /\/scale`/,
  // The target watches: a list of the kind's plural (src/operator/target-watch.ts) for the apps kinds.
  'deployments, statefulsets, replicasets (list, watch)':
    /'apps\/v1 Deployment'[\s\S]*'apps\/v1 StatefulSet'[\s\S]*'apps\/v1 ReplicaSet'[\s\S]*\$\{r\.plural\}`/,
  "customresourcedefinitions (get: a custom target's scale paths)":
    /apiextensions\.k8s\.io\/v1\/customresourcedefinitions'/,
  events: /\/api\/v1\/namespaces\/[^`]*\/events`/,
  secrets: /\/api\/v1\/namespaces\/[^`]*\/secrets\//,
  "customresourcedefinitions (get, patch: the webhook's conversion stanza)":
    /\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\//,
  leases: /\/apis\/coordination\.k8s\.io\/v1\/namespaces\/[^`]*\/leases`/,
  configmaps: /\/api\/v1\/namespaces\/[^`]*\/configmaps`/,
  horizontalpodautoscalers: /\/apis\/autoscaling\/v2\/[^`]*horizontalpodautoscalers['`]/,
};
// Resources an operator might be expected to touch that are not granted:
// a call to any of them in the source fails this test (grant it, then).
const NOT_GRANTED: Record<string, RegExp> = {
  'events.k8s.io events': /events\.k8s\.io\/v1/,
  'scalingpolicies/scale': /scalingpolicies\/scale/,
  ...Object.fromEntries(
    ['pods', 'nodes', 'services', 'endpoints', 'namespaces', 'serviceaccounts'].map((r) => [
      r,
      // The resource is the path's last segment, or only a name follows it.
      new RegExp(`/api(s/[a-z0-9.]+)?/v1/(namespaces/[^/\`]+/)?${r}(['"\`?]|/\\$\\{[^}]+\\}['"\`])`),
    ]),
  ),
};

test('the RBAC matches the API calls in the operator source', (t) => {
  const src = operatorSource();
  if (!/scalingpolicies/.test(src) || !/leases/.test(src)) {
    t.skip(
      'the operator (src/reconciler, src/operator) is not complete yet: only the documented list is checked',
    );
    return;
  }
  for (const [resource, used] of Object.entries(GRANTED_IN_CODE)) {
    assert.ok(used.test(src), `RBAC grants ${resource} but the operator source never calls it (${used})`);
  }
  for (const [resource, call] of Object.entries(NOT_GRANTED)) {
    assert.ok(
      !call.test(src),
      `the operator source calls ${resource}, which the RBAC does not grant (${call})`,
    );
  }
});

test('docs/install.md patches the allow-list by its argument index: keep it there', () => {
  const args = deployment(cluster).spec.template.spec.containers[0]!.args;
  assert.match(args[4] ?? '', /^--allowed-prometheus=/);
  assert.match(
    readFileSync(join(REPO, 'docs/install.md'), 'utf8'),
    /path: \/spec\/template\/spec\/containers\/0\/args\/4\n/,
  );
});

// --- the words around the manifests say what the manifests do ---------------------

/** The text of every place that describes the namespaced install to a reader. */
const NAMESPACED_WORDS: Record<string, () => string> = {
  'deploy/namespaced/kustomization.yaml (header)': () =>
    readFileSync(join(DEPLOY, 'namespaced/kustomization.yaml'), 'utf8').split('\napiVersion:')[0]!,
  'docs/install.md (the deploy/namespaced/ bullet)': () =>
    /^- `deploy\/namespaced\/`[\s\S]*?(?=\n- )/m.exec(
      readFileSync(join(REPO, 'docs/install.md'), 'utf8'),
    )?.[0] ?? '',
  'docs/helm.md (the namespaces row)': () =>
    /^\| `namespaces` .*$/m.exec(readFileSync(join(REPO, 'docs/helm.md'), 'utf8'))?.[0] ?? '',
  'charts/tidemark/values.yaml (namespaces)': () =>
    /# Empty: the operator watches[\s\S]*?namespaces: \[\]/.exec(
      readFileSync(join(REPO, 'charts/tidemark/values.yaml'), 'utf8'),
    )?.[0] ?? '',
};

test('namespaced install: every description names each ClusterRole it renders and claims none is absent', () => {
  const clusterRoles = find(namespaced, 'ClusterRole').map((r) => r.metadata.name);
  for (const [where, words] of Object.entries(NAMESPACED_WORDS)) {
    const text = words().replace(/\s+/g, ' ');
    assert.ok(text.length > 0, `${where}: not found`);
    assert.doesNotMatch(
      text,
      /\bno ClusterRole\b[.:]/i,
      `${where} says "no ClusterRole", yet it renders one`,
    );
    for (const name of clusterRoles)
      assert.ok(text.includes(name), `${where} does not name ClusterRole ${name}`);
  }
});

test('namespaced install: Secrets are granted only in the watched namespaces, and by name in its own', () => {
  for (const r of find(namespaced, 'ClusterRole')) {
    assert.ok(
      !grants(rulesOf(r)).some((g) => g.startsWith('core/secrets')),
      `ClusterRole ${r.metadata.name}`,
    );
  }
  const secretGrants = find(namespaced, 'Role').flatMap((r) =>
    grants(rulesOf(r))
      .filter((g) => g.startsWith('core/secrets'))
      .map((g) => `${r.metadata.namespace} ${g}`),
  );
  assert.deepEqual(secretGrants.sort(), [
    'default core/secrets get',
    'tidemark-system core/secrets create',
    'tidemark-system core/secrets get tidemark-webhook-tls',
    'tidemark-system core/secrets update tidemark-webhook-tls',
  ]);
});

test('cluster-wide install: docs/security.md says plainly that it can read any Secret in any namespace', () => {
  const [role] = find(cluster, 'ClusterRole', 'tidemark-operator');
  assert.ok(grants(rulesOf(role)).includes('core/secrets get'), 'the ClusterRole reads Secrets by name');
  const security = readFileSync(join(REPO, 'docs/security.md'), 'utf8').replace(/\s+/g, ' ');
  const says = (re: RegExp) => assert.ok(re.test(security), `docs/security.md does not say ${re}`);
  says(/cluster-wide install[^.]*\bany Secret in any namespace\b/i);
  says(/namespaced install[^.]*only in the namespaces it watches/i);
});

/** The TCP ports the NetworkPolicy admits. */
function ingressPorts(objects: K8sObject[]): number[] {
  const [np] = find(objects, 'NetworkPolicy', 'tidemark');
  const spec = (np as unknown as { spec: { ingress: Array<{ ports: Array<{ port: number }> }> } }).spec;
  return spec.ingress.flatMap((i) => i.ports.map((p) => p.port)).sort((a, b) => a - b);
}

test('the docs name exactly the ports the NetworkPolicy admits', () => {
  const ports = ingressPorts(cluster);
  assert.deepEqual(ports, [8080, 9443]);
  const install = readFileSync(join(REPO, 'docs/install.md'), 'utf8');
  const row = /^\| NetworkPolicy `tidemark` \| ingress on ([^;|]*)/m.exec(install)?.[1] ?? '';
  assert.deepEqual(
    [...row.matchAll(/\b\d{4,5}\b/g)].map((m) => Number(m[0])).sort((a, b) => a - b),
    ports,
    `docs/install.md: "ingress on ${row}"`,
  );
  const security = readFileSync(join(REPO, 'docs/security.md'), 'utf8').replace(/\s+/g, ' ');
  const admits = /NetworkPolicy admits ([^;]*)/.exec(security)?.[1] ?? '';
  for (const p of ports)
    assert.ok(admits.includes(String(p)), `docs/security.md: "admits ${admits}" lacks ${p}`);
});
