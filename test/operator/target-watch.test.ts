// TargetWatches' life cycle: lazy start, sync, updates from the watch, stop on
// release, and the GET fallback for a kind it cannot watch. The watch stream is
// a stand-in here (a unit test has no API server); the sandbox test
// (test/e2e/target-watch.int.test.ts) runs it against a real one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeApiError, type KubeRequest } from '../../src/kube/api-client.ts';
import type { WatchLike } from '../../src/operator/compacting-watch.ts';
import { TargetWatches } from '../../src/operator/target-watch.ts';

type Callback = (phase: string, obj: unknown, watchObj?: unknown) => void;

/** A watch client the test drives: it records each watch and lets the test send events. */
class StandInWatch implements WatchLike {
  readonly streams: Array<{ path: string; cb: Callback; aborted: boolean }> = [];
  async watch(path: string, _q: unknown, cb: Callback, _done: (err: unknown) => void) {
    const s = { path, cb, aborted: false };
    this.streams.push(s);
    const c = new AbortController();
    c.signal.addEventListener('abort', () => {
      s.aborted = true;
    });
    return c;
  }
}

const deploymentsV1 = { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true };
const widget = { apiVersion: 'example.dev/v1', kind: 'Widget', plural: 'widgets', namespaced: true };

const dep = (name: string, replicas: number, rv: string) => ({
  metadata: { name, namespace: 'shop', resourceVersion: rv, managedFields: [{}] },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { spec: {} } },
  status: { replicas, readyReplicas: replicas },
});

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), what);
};

function setup(transport: (req: KubeRequest) => Promise<unknown>, wanted = () => true) {
  const watch = new StandInWatch();
  const logs: Array<{ msg: string; target?: string }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => logs.push(JSON.parse(l)) });
  const clock = { t: 0 };
  const w = new TargetWatches({
    kubeconfig: new KubeConfig(),
    transport,
    namespaces: ['shop'],
    log,
    wanted,
    watch,
    now: () => clock.t,
    retryUnwatchableMs: 60_000,
  });
  return { w, watch, logs, clock };
}

describe('TargetWatches', () => {
  it('starts a watch on the first lookup of a kind, answers from memory once synced, follows the watch, stops on release', async () => {
    const lists: string[] = [];
    const { w, watch, logs } = setup(async (req) => {
      lists.push(req.path);
      return { metadata: { resourceVersion: '10' }, items: [dep('web', 2, '9')] };
    });
    assert.equal(w.lookup(deploymentsV1, 'shop', 'web'), undefined, 'not synced: the tick GETs');
    await until(() => w.synced('apps/v1', 'Deployment'), 'synced');
    assert.deepEqual(
      lists,
      ['/apis/apps/v1/namespaces/shop/deployments?limit=500'],
      'one list (paged), in the watched namespace',
    );
    const found = w.lookup(deploymentsV1, 'shop', 'web');
    assert.ok(found?.found);
    assert.deepEqual(found.scale.spec, { replicas: 2 });
    assert.equal(found.scale.metadata?.resourceVersion, '9');
    assert.equal(found.scale.status?.selector, 'app=web');
    assert.equal((found.object as { spec: { template?: unknown } }).spec.template, undefined, 'kept compact');
    assert.deepEqual(w.lookup(deploymentsV1, 'shop', 'gone'), { found: false });

    // kubectl scale, as the watch delivers it.
    await until(() => watch.streams.length === 1, 'watching');
    watch.streams[0]!.cb('MODIFIED', dep('web', 5, '11'));
    const after = w.lookup(deploymentsV1, 'shop', 'web');
    assert.ok(after?.found);
    assert.deepEqual([after.scale.spec?.replicas, after.scale.metadata?.resourceVersion], [5, '11']);
    watch.streams[0]!.cb('DELETED', dep('web', 5, '12'));
    assert.deepEqual(w.lookup(deploymentsV1, 'shop', 'web'), { found: false });

    w.release('apps/v1', 'Deployment');
    assert.equal(watch.streams[0]!.aborted, true, 'the watch stopped');
    assert.ok(logs.some((l) => /watch stopped/.test(l.msg)));
    await w.stop();
  });

  it('a kind no policy names any more starts no watch', async () => {
    let asked = 0;
    const { w } = setup(
      async () => {
        asked++;
        return { items: [] };
      },
      () => false,
    );
    assert.equal(w.lookup(deploymentsV1, 'shop', 'web'), undefined);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(asked, 0);
    assert.equal(w.synced('apps/v1', 'Deployment'), false);
  });

  it('a custom resource whose CRD cannot be read: GETs per tick, said in a log line, tried again later', async () => {
    const asked: string[] = [];
    const { w, logs, clock } = setup(async (req) => {
      asked.push(req.path);
      throw new KubeApiError(403, 'Forbidden', 'customresourcedefinitions.apiextensions.k8s.io is forbidden');
    });
    assert.equal(w.lookup(widget, 'shop', 'w'), undefined);
    await until(() => logs.some((l) => /cannot watch targets of this kind/.test(l.msg)), 'the log line');
    assert.equal(logs.find((l) => /cannot watch/.test(l.msg))?.target, 'example.dev/v1 Widget');
    assert.equal(w.lookup(widget, 'shop', 'w'), undefined);
    assert.equal(asked.length, 1, 'no second try before the retry time');
    clock.t = 60_000;
    w.lookup(widget, 'shop', 'w');
    await until(() => asked.length === 2, 'tried again');
    await w.stop();
  });

  it('a list the API server forbids (no list/watch grant): the kind falls back to GETs', async () => {
    const { w, logs } = setup(async () => {
      throw new KubeApiError(403, 'Forbidden', 'deployments.apps is forbidden');
    });
    w.lookup(deploymentsV1, 'shop', 'web');
    await until(() => logs.some((l) => /cannot watch targets/.test(l.msg)), 'the log line');
    assert.equal(w.lookup(deploymentsV1, 'shop', 'web'), undefined);
    assert.equal(w.synced('apps/v1', 'Deployment'), false);
    await w.stop();
  });
});
