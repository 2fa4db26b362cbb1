// What `tidemark migrate-storage` (and `run --migrate-storage`) says when the identity it runs
// as lacks a grant. The shipped RBAC does not grant the migration's writes (update on every
// ScalingPolicy, patch of the CRD's status), so in a cluster the operator meets a 403 at the
// first of them. The transport here is scripted (a fake API server), because what is under
// test is how each request maps to the grant it needs and how that is said: a 403 looks the
// same whichever grant is missing, and the real API server's RBAC is exercised with the
// operator's own token by test/deploy/deploy.int.test.ts. That the shipped rules lack these
// grants is checked below against deploy/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeApiError, type KubeRequest } from '../../src/kube/api-client.ts';
import { MigrationForbiddenError, migrateStorage } from '../../src/webhook/migrate.ts';
import { build, DEPLOY, find, grants, rulesOf } from '../deploy/support/manifests.ts';

const CRD_NAME = 'scalingpolicies.tidemark.dev';
const CRD = {
  spec: {
    group: 'tidemark.dev',
    names: { plural: 'scalingpolicies' },
    versions: [
      { name: 'v1alpha1', storage: false },
      { name: 'v1beta1', storage: true },
    ],
  },
  status: { storedVersions: ['v1alpha1', 'v1beta1'] },
};
const ITEM = { metadata: { name: 'web', namespace: 'shop', resourceVersion: '7' } };

/** The API server's 403 for one request, as the transport reports it. */
function forbidden(req: KubeRequest): KubeApiError {
  return new KubeApiError(
    403,
    'Forbidden',
    `${req.method} ${req.path}: 403 Forbidden: User "system:serviceaccount:tidemark-system:tidemark" cannot …`,
  );
}

/** Answers like an API server whose RBAC refuses the requests `refuse` picks. */
function transport(refuse: (req: KubeRequest) => boolean) {
  return async (req: KubeRequest): Promise<unknown> => {
    if (refuse(req)) throw forbidden(req);
    if (req.method === 'GET' && req.path.endsWith(`customresourcedefinitions/${CRD_NAME}`)) return CRD;
    if (req.method === 'GET' && req.path.startsWith('/apis/tidemark.dev/v1beta1/scalingpolicies?'))
      return { items: [ITEM], metadata: {} };
    if (req.method === 'PUT') return req.body;
    if (req.method === 'PATCH') return { ...CRD, status: { storedVersions: ['v1beta1'] } };
    throw new Error(`unexpected ${req.method} ${req.path}`);
  };
}

const cases: Array<[string, (req: KubeRequest) => boolean, RegExp]> = [
  [
    'the CRD read',
    (r) => r.method === 'GET' && r.path.includes('customresourcedefinitions'),
    /needs `get` on customresourcedefinitions in API group apiextensions\.k8s\.io named scalingpolicies\.tidemark\.dev \(cluster-scoped\)/,
  ],
  [
    'the list of every policy',
    (r) => r.method === 'GET' && r.path.includes('/scalingpolicies?'),
    /needs `list` on scalingpolicies in API group tidemark\.dev in every namespace \(a ClusterRole\)/,
  ],
  [
    'the rewrite of a policy',
    (r) => r.method === 'PUT',
    /needs `update` on scalingpolicies in API group tidemark\.dev named web in namespace shop/,
  ],
  [
    "the CRD's storedVersions",
    (r) => r.method === 'PATCH',
    /needs `patch` on customresourcedefinitions\/status in API group apiextensions\.k8s\.io named scalingpolicies\.tidemark\.dev \(cluster-scoped\)/,
  ],
];

for (const [step, refuse, says] of cases) {
  test(`a 403 on ${step} is one line naming the verb and resource it lacks`, async () => {
    const err = await migrateStorage({ transport: transport(refuse), crdName: CRD_NAME }).then(
      () => assert.fail('the migration succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MigrationForbiddenError, `a ${(err as Error).name}: ${(err as Error).message}`);
    assert.match(err.message, says);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    assert.match(err.message, /tidemark migrate-storage/, 'says how to run it with more rights');
  });
}

test('errors other than 403 pass through unchanged', async () => {
  const boom = new KubeApiError(500, 'InternalError', 'etcd is down');
  const err = await migrateStorage({
    transport: async () => {
      throw boom;
    },
    crdName: CRD_NAME,
  }).catch((e: unknown) => e);
  assert.equal(err, boom);
});

test("the shipped RBAC grants none of the migration's writes: a cluster meets the message above", () => {
  const shipped = build(DEPLOY)
    .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
    .flatMap((r) => grants(rulesOf(r)));
  assert.ok(find(build(DEPLOY), 'ClusterRole').length > 0);
  for (const write of [
    'tidemark.dev/scalingpolicies update',
    'apiextensions.k8s.io/customresourcedefinitions/status patch',
    `apiextensions.k8s.io/customresourcedefinitions/status patch ${CRD_NAME}`,
  ])
    assert.ok(!shipped.includes(write), `deploy/ grants ${write}: then say so in docs/install.md`);
});
