import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KubeApiError, type KubeRequest, resourceOfPath } from '../../src/kube/api-client.ts';
import { APPS_SCALE_PATHS, learnScalePaths, type ScalePaths } from '../../src/kube/discovery.ts';
import {
  compactTarget,
  formatLabelSelector,
  scaleOf,
  type TargetCache,
} from '../../src/reconciler/targets.ts';
import { harness, policy, replicasOf } from './helpers.ts';

/** A Deployment as the API server returns it (trimmed: the pod template and managedFields stay). */
function deployment(replicas: number, rv: string, statusReplicas = replicas) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'checkout',
      namespace: 'shop',
      uid: '5f0c-uid',
      resourceVersion: rv,
      generation: 4,
      creationTimestamp: '2026-12-01T10:00:00Z',
      labels: { app: 'checkout' },
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
    },
    spec: {
      replicas,
      selector: {
        matchLabels: { app: 'checkout', tier: 'web' },
        matchExpressions: [{ key: 'track', operator: 'In', values: ['stable', 'canary'] }],
      },
      template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'a' }] } },
    },
    status: { replicas: statusReplicas, readyReplicas: 2, observedGeneration: 4, conditions: [] },
  };
}

describe('the Scale of a watched target object', () => {
  it('a Deployment: the counts, the selector as the API server writes it, the parent resourceVersion and uid', () => {
    assert.deepEqual(scaleOf(deployment(3, '812'), APPS_SCALE_PATHS), {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: {
        name: 'checkout',
        namespace: 'shop',
        uid: '5f0c-uid',
        resourceVersion: '812',
        creationTimestamp: '2026-12-01T10:00:00Z',
      },
      spec: { replicas: 3 },
      status: { replicas: 3, selector: 'app=checkout,tier=web,track in (canary,stable)' },
    });
  });

  it("a custom resource at its CRD's paths; a missing count is 0, a missing selector path gives no selector", () => {
    const paths: ScalePaths = {
      specReplicasPath: '.spec.size',
      statusReplicasPath: '.status.observed.count',
      labelSelectorPath: '.status.podSelector',
    };
    const obj = {
      metadata: { name: 'w', namespace: 'n', resourceVersion: '9' },
      spec: { size: 5 },
      status: { observed: { count: 4 }, podSelector: 'app=w' },
    };
    const s = scaleOf(obj, paths);
    assert.deepEqual([s.spec, s.status], [{ replicas: 5 }, { replicas: 4, selector: 'app=w' }]);
    const bare = scaleOf({ metadata: { name: 'w', resourceVersion: '1' } }, paths);
    assert.deepEqual([bare.spec, bare.status], [{ replicas: 0 }, { replicas: 0 }]);
    assert.equal(
      scaleOf(obj, { specReplicasPath: '.spec.size', statusReplicasPath: '.status.x' }).status?.selector,
      undefined,
    );
  });

  it('selectors: every operator, sorted by key, set values sorted', () => {
    assert.equal(
      formatLabelSelector({
        matchLabels: { z: '1' },
        matchExpressions: [
          { key: 'm', operator: 'NotIn', values: ['b', 'a'] },
          { key: 'b', operator: 'Exists' },
          { key: 'c', operator: 'DoesNotExist' },
          { key: 'a', operator: 'In', values: ['x'] },
        ],
      }),
      'a in (x),b,!c,m notin (a,b),z=1',
    );
    assert.equal(formatLabelSelector({}), '');
  });

  it('the compacted object gives the same Scale and ready count, and drops the rest (seeded property)', () => {
    const seed = 1212;
    const paths = fc.constantFrom<ScalePaths>(APPS_SCALE_PATHS, {
      specReplicasPath: '.spec.size',
      statusReplicasPath: '.status.n',
      labelSelectorPath: '.status.sel',
    });
    const count = fc.option(fc.nat(50), { nil: undefined });
    fc.assert(
      fc.property(paths, count, count, count, fc.string(), (p, spec, status, ready, sel) => {
        const obj: Record<string, unknown> = deployment(0, '7');
        (obj.spec as Record<string, unknown>).replicas = spec;
        (obj.spec as Record<string, unknown>).size = spec;
        obj.status = { replicas: status, n: status, readyReplicas: ready, sel, conditions: [{ a: 1 }] };
        const c = compactTarget(obj, p);
        assert.deepEqual(scaleOf(c, p), scaleOf(obj, p));
        assert.equal((c.status as Record<string, unknown> | undefined)?.readyReplicas, ready);
        assert.equal((c.metadata as Record<string, unknown>).managedFields, undefined);
        assert.equal((c.spec as Record<string, unknown> | undefined)?.template, undefined);
      }),
      { seed, numRuns: 200, verbose: true },
    );
  });
});

describe('learnScalePaths', () => {
  const widget = { apiVersion: 'example.dev/v1', kind: 'Widget', plural: 'widgets', namespaced: true };

  it('built in for apps/v1; from the CRD version named for a custom resource', async () => {
    const asked: string[] = [];
    const transport = async (req: { path: string }) => {
      asked.push(req.path);
      return {
        spec: {
          versions: [
            {
              name: 'v1alpha1',
              subresources: { scale: { specReplicasPath: '.spec.old', statusReplicasPath: '.status.old' } },
            },
            {
              name: 'v1',
              subresources: {
                scale: {
                  specReplicasPath: '.spec.replicas',
                  statusReplicasPath: '.status.replicas',
                  labelSelectorPath: '.status.selector',
                },
              },
            },
          ],
        },
      };
    };
    const d = { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true };
    assert.deepEqual(await learnScalePaths(transport, d), { paths: APPS_SCALE_PATHS });
    assert.deepEqual(asked, [], 'no request for an apps/v1 kind');
    assert.deepEqual(await learnScalePaths(transport, widget), {
      paths: {
        specReplicasPath: '.spec.replicas',
        statusReplicasPath: '.status.replicas',
        labelSelectorPath: '.status.selector',
      },
    });
    assert.deepEqual(asked, ['/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev']);
  });

  it('a CRD that cannot be read leaves the paths unknown, with the reason', async () => {
    const forbidden = async () => {
      throw new KubeApiError(403, 'Forbidden', 'customresourcedefinitions is forbidden');
    };
    const r = await learnScalePaths(forbidden, widget);
    assert.ok('unknown' in r);
    assert.match(r.unknown, /widgets\.example\.dev.*forbidden/);
  });
});

describe('resourceOfPath (the resource label of tidemark_api_requests_total)', () => {
  it('names the resource and subresource, and few values otherwise', () => {
    const cases: Array<[string, string]> = [
      ['/apis/apps/v1/namespaces/shop/deployments/checkout/scale', 'deployments/scale'],
      ['/apis/apps/v1/namespaces/shop/deployments', 'deployments'],
      ['/apis/tidemark.dev/v1alpha1/namespaces/a/scalingpolicies/p/status', 'scalingpolicies/status'],
      ['/apis/tidemark.dev/v1alpha1/scalingpolicies', 'scalingpolicies'],
      ['/api/v1/namespaces/a/events/e.1', 'events'],
      ['/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name%3Dx', 'configmaps'],
      [
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev',
        'customresourcedefinitions',
      ],
      ['/apis/apps/v1', 'discovery'],
      ['/api', 'discovery'],
    ];
    for (const [path, want] of cases) assert.equal(resourceOfPath(path), want, path);
  });
});

type Harness = ReturnType<typeof harness>;

/** A cache that holds what the fake API server holds, as a synced watch would. */
function cachedHarness(
  p: ReturnType<typeof policy>,
  replicas: number | undefined,
  opts: { synced: boolean },
): { h: Harness; asked: () => number } {
  let h: Harness | undefined;
  let asked = 0;
  const targets: TargetCache = {
    lookup(_r, namespace, name) {
      asked++;
      if (!opts.synced || !h) return undefined;
      const key = `${namespace}/deployments/${name}`;
      const n = h.kube.replicas.get(key);
      if (n === undefined) return { found: false };
      const obj = deployment(n, h.kube.scaleRv(key));
      return { found: true, scale: scaleOf(obj, APPS_SCALE_PATHS), object: obj };
    },
  };
  h = harness(p, replicas, { targets });
  return { h, asked: () => asked };
}

describe('PolicyReconciler with a target cache', () => {
  it('reads the target from the cache: no GET …/scale, no GET of the object for its ready count', async () => {
    // A Value target uses the ready count, which a tick without the cache reads with a GET of the object.
    const p = policy({
      metrics: [{ name: 'rps', query: 'sum(rate(x[1m]))', target: { type: 'Value', value: '50' } }],
    });
    const { h, asked } = cachedHarness(p, 2, { synced: true });
    h.collector.values.rps = 450;
    const r = await h.tick();
    assert.equal(r.outcome, 'decided');
    assert.ok(r.scaled, 'it scaled');
    assert.equal(replicasOf(h), r.scaled.to);
    assert.equal(h.kube.count('GET', /\/deployments\//), 0, 'no GET of the target or its scale');
    assert.equal(h.kube.count('PUT', /\/scale$/), 1);
    assert.ok(asked() >= 1);
  });

  it('a synced cache without the object: TargetNotFound, as a 404 was', async () => {
    const { h } = cachedHarness(policy(), undefined, { synced: true });
    const r = await h.tick();
    assert.equal(r.outcome, 'target-not-found');
    assert.equal(h.kube.count('GET', /\/scale$/), 0);
  });

  it('an unsynced cache: the tick reads GET …/scale as before', async () => {
    const { h, asked } = cachedHarness(policy(), 2, { synced: false });
    h.collector.values.rps = 450;
    const r = await h.tick();
    assert.equal(r.scaled?.from, 2);
    assert.equal(h.kube.count('GET', /\/scale$/), 1);
    assert.equal(asked(), 1);
  });

  it('a count the cache has not seen yet: the write meets 409, the re-read is a GET, the decision uses the new count', async () => {
    // The watch lags: it still shows 2, with the resourceVersion of before another writer's 7.
    const stale = deployment(2, 'stale-rv');
    const targets: TargetCache = {
      lookup: () => ({ found: true, scale: scaleOf(stale, APPS_SCALE_PATHS), object: stale }),
    };
    const h = harness(policy(), 7, { targets });
    h.collector.values.rps = 450;
    const r = await h.tick();
    assert.equal(r.scaleConflicts, 1);
    assert.deepEqual(r.scaled && [r.scaled.from, r.scaled.to], [7, 9]);
    assert.equal(h.kube.count('GET', /\/scale$/), 1, 'one GET: the re-read after the 409');
    assert.equal(replicasOf(h), 9);
  });
});

describe('a scale write whose outcome is unknown, with a target cache', () => {
  it('the next tick reads the scale directly (the watch may lag), so the write that landed is recorded once', async () => {
    // Regression (test/faults/apiclient.int.test.ts under APF): the next tick read the old
    // count from a lagging watch, dropped the unconfirmed write as "not applied", and the
    // 409 re-read then found the count already there: an action landed and was never recorded.
    const stale = deployment(2, 'stale-rv');
    let lossy = true;
    let h: ReturnType<typeof harness> | undefined;
    const transport = async (req: KubeRequest) => {
      const res = await h!.kube.transport(req);
      if (lossy && req.method === 'PUT' && req.path.endsWith('/scale'))
        throw new KubeApiError(0, 'Transport', `${req.method} ${req.path}: timed out`);
      return res;
    };
    const targets: TargetCache = {
      lookup: () => ({ found: true, scale: scaleOf(stale, APPS_SCALE_PATHS), object: stale }),
    };
    h = harness(policy(), 2, { transport, targets });
    h.collector.values.rps = 200; // proposes 4
    assert.equal((await h.tick()).outcome, 'scale-failed');
    assert.equal(replicasOf(h), 4, 'the store applied it');
    lossy = false;
    await h.tick();
    const st = h.kube.policy!.status!;
    assert.deepEqual(
      st.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['2→4'],
      'the action that landed is recorded',
    );
    assert.equal(h.kube.events.filter((e) => e.reason === 'Scaled').length, 1);
  });
});
