import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventAggregator, EventRecorder } from '../../src/reconciler/events.ts';
import { FakeKube } from './fake-kube.ts';

const obj = {
  apiVersion: 'tidemark.dev/v1alpha1',
  kind: 'ScalingPolicy',
  name: 'p',
  namespace: 'ns',
  uid: 'u',
};

describe('EventAggregator', () => {
  it('folds repeats within the window into a count, and starts anew after it', () => {
    const a = new EventAggregator({ windowMs: 60_000 });
    const k = EventAggregator.key(obj, { type: 'Warning', reason: 'MetricError', message: 'm' });
    assert.equal(a.plan(k, 0).kind, 'create');
    a.recorded(k, 'p.1', 1, 't0', 0);
    const u = a.plan(k, 30_000);
    assert.deepEqual(u, { kind: 'update', eventName: 'p.1', count: 2, firstTimestamp: 't0' });
    a.recorded(k, 'p.1', 2, 't0', 30_000);
    assert.equal(a.plan(k, 89_999).kind, 'update');
    assert.equal(a.plan(k, 90_000).kind, 'create');
  });

  it('different messages are different Events; memory is bounded', () => {
    const a = new EventAggregator({ maxKeys: 2 });
    const k = (m: string) => EventAggregator.key(obj, { type: 'Normal', reason: 'Scaled', message: m });
    a.recorded(k('a'), 'e1', 1, 't', 0);
    a.recorded(k('b'), 'e2', 1, 't', 0);
    a.recorded(k('c'), 'e3', 1, 't', 0);
    assert.equal(a.plan(k('a'), 1).kind, 'create', 'oldest forgotten');
    assert.equal(a.plan(k('c'), 1).kind, 'update');
  });
});

describe('EventRecorder', () => {
  it('creates core/v1 Events and patches the count on repeats', async () => {
    const kube = new FakeKube();
    let t = 0;
    const r = new EventRecorder(kube.transport, { instance: 'op-1', now: () => t });
    const e = {
      type: 'Warning' as const,
      reason: 'TargetNotFound',
      message: 'target Deployment ns/x not found',
    };
    await r.record(obj, e);
    t += 1000;
    await r.record(obj, e);
    await r.record(obj, { ...e, message: 'other' });
    assert.equal(kube.events.length, 2);
    assert.equal(kube.events[0]!.count, 2);
    const post = kube.requests.find((q) => q.method === 'POST')!;
    const body = post.body as Record<string, unknown>;
    assert.equal(post.path, '/api/v1/namespaces/ns/events');
    assert.deepEqual(body.involvedObject, obj);
    assert.equal((body.source as { component: string }).component, 'tidemark');
    assert.equal(body.reportingInstance, 'op-1');
  });

  it('starts a new Event when the old one expired, and never throws', async () => {
    const kube = new FakeKube();
    const r = new EventRecorder(kube.transport, { instance: 'op-1', now: () => 0 });
    const e = { type: 'Normal' as const, reason: 'Scaled', message: 'm' };
    await r.record(obj, e);
    kube.events.length = 0;
    await r.record(obj, e);
    assert.equal(kube.events.length, 1);
    const broken = new EventRecorder(
      async () => {
        throw new Error('down');
      },
      { instance: 'x' },
    );
    await broken.record(obj, e);
  });
});
