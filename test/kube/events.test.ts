import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeApiError, type KubeRequest } from '../../src/kube/api-client.ts';
import {
  COMBINED_PREFIX,
  EventCorrelator,
  EventQueue,
  EventRecorder,
  type EventSink,
  type EventSpec,
  type InvolvedObject,
} from '../../src/kube/events.ts';
import { FakeKube } from '../reconciler/fake-kube.ts';

const obj = {
  apiVersion: 'tidemark.dev/v1alpha1',
  kind: 'ScalingPolicy',
  name: 'p',
  namespace: 'ns',
  uid: 'u',
};

describe('EventCorrelator', () => {
  it('patches repeats within the window, and starts anew after it', () => {
    let t = 0;
    const c = new EventCorrelator({ dedupeWindowMs: 60_000 }, () => t);
    const e = { type: 'Warning' as const, reason: 'MetricError', message: 'm' };
    const first = c.correlate(obj, e);
    assert.equal(first.kind, 'create');
    if (first.kind !== 'create') return;
    c.recorded(first.key, 'p.1', 1, 't0');
    t = 30_000;
    const u = c.correlate(obj, e);
    assert.deepEqual(u, {
      kind: 'update',
      key: first.key,
      message: 'm',
      eventName: 'p.1',
      count: 2,
      firstTimestamp: 't0',
    });
    c.recorded(first.key, 'p.1', 2, 't0');
    t = 89_999;
    assert.equal(c.correlate(obj, e).kind, 'update');
    t = 90_000;
    assert.equal(c.correlate(obj, e).kind, 'create');
  });

  it('keeps messages apart until the 10th similar one in 10 minutes, then folds them under the reason', () => {
    let t = 0;
    const c = new EventCorrelator({}, () => t);
    const kinds: string[] = [];
    for (let i = 1; i <= 12; i++) {
      const r = c.correlate(obj, { type: 'Warning', reason: 'Flapping', message: `value ${i}` });
      assert.notEqual(r.kind, 'drop');
      if (r.kind === 'drop') return;
      kinds.push(r.message.startsWith(COMBINED_PREFIX) ? 'combined' : 'own');
      c.recorded(r.key, `e${i}`, 1, 't');
      t += 1_000;
    }
    assert.deepEqual(kinds, [...Array(9).fill('own'), 'combined', 'combined', 'combined']);
    const other = c.correlate(obj, { type: 'Warning', reason: 'Other', message: 'value 1' });
    assert.equal(other.kind === 'create' && other.message, 'value 1', 'another reason is its own group');
    t += 601_000;
    const later = c.correlate(obj, { type: 'Warning', reason: 'Flapping', message: 'value 99' });
    assert.equal(later.kind === 'create' && later.message, 'value 99', 'a new window starts apart again');
  });

  it('drops what exceeds the object token bucket, refilled one per refill period', () => {
    let t = 0;
    const c = new EventCorrelator({ spamBurst: 3, spamRefillMs: 10_000 }, () => t);
    const e = (i: number): EventSpec => ({ type: 'Normal', reason: `R${i}`, message: 'm' });
    assert.deepEqual(
      [1, 2, 3, 4].map((i) => c.correlate(obj, e(i)).kind),
      ['create', 'create', 'create', 'drop'],
    );
    assert.equal(c.correlate({ ...obj, name: 'q', uid: 'w' }, e(5)).kind, 'create', 'per object');
    t = 10_000;
    assert.equal(c.correlate(obj, e(6)).kind, 'create');
    assert.equal(c.correlate(obj, e(7)).kind, 'drop');
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
    const outcomes: string[] = [];
    const r = new EventRecorder(kube.transport, {
      instance: 'op-1',
      now: () => 0,
      onOutcome: (o) => outcomes.push(o),
    });
    const e = { type: 'Normal' as const, reason: 'Scaled', message: 'm' };
    await r.record(obj, e);
    kube.events.length = 0;
    await r.record(obj, e);
    assert.equal(kube.events.length, 1);
    const broken = new EventRecorder(
      async () => {
        throw new Error('down');
      },
      { instance: 'x', onOutcome: (o) => outcomes.push(o) },
    );
    await broken.record(obj, e);
    assert.deepEqual(outcomes, ['created', 'created', 'failed']);
  });
});

describe('EventRecorder retries', () => {
  it('tries a throttled write again (429, 5xx, no answer) and gives up at once on a refusal', async () => {
    const kube = new FakeKube();
    const answers = [
      new KubeApiError(429, 'TooManyRequests', 'slow down'),
      new KubeApiError(0, 'Transport', 'reset'),
      new KubeApiError(503, 'ServiceUnavailable', 'busy'),
    ];
    const outcomes: string[] = [];
    const flaky = async (req: KubeRequest) => {
      const err = answers.shift();
      if (err) throw err;
      return kube.transport(req);
    };
    const r = new EventRecorder(flaky, {
      instance: 'op',
      retryDelayMs: 1,
      onOutcome: (o) => outcomes.push(o),
    });
    await r.record(obj, { type: 'Normal', reason: 'Scaled', message: 'm' });
    assert.equal(kube.events.length, 1, 'written on the 4th try');
    answers.push(new KubeApiError(403, 'Forbidden', 'no'));
    await r.record(obj, { type: 'Normal', reason: 'Other', message: 'm' });
    assert.deepEqual(outcomes, ['created', 'failed']);
    assert.equal(kube.events.length, 1);
  });
});

/** A sink whose writes wait until the test lets them through. */
class GatedSink implements EventSink {
  written: string[] = [];
  #open: Array<() => void> = [];
  gated = true;
  async record(_o: InvolvedObject, e: EventSpec) {
    if (this.gated) await new Promise<void>((r) => this.#open.push(r));
    this.written.push(e.reason);
  }
  open() {
    this.gated = false;
    for (const r of this.#open.splice(0)) r();
  }
}

describe('EventQueue', () => {
  it('returns at once while the API is slow, sends in order, and drops (counted) beyond its bound', async () => {
    const sink = new GatedSink();
    let dropped = 0;
    const q = new EventQueue(sink, { capacity: 3, onDrop: () => dropped++ });
    for (const reason of ['A', 'B', 'C', 'D', 'E']) {
      await q.record(obj, { type: 'Normal', reason, message: 'm' });
    }
    assert.deepEqual(sink.written, [], 'nothing written yet, and no record() waited for it');
    assert.ok(dropped >= 1, `the queue is bounded: ${dropped} dropped`);
    sink.open();
    await q.drain();
    assert.deepEqual(sink.written, ['A', 'B', 'C', 'D', 'E'].slice(0, 5 - dropped), 'in order');
    assert.equal(q.length, 0);
  });

  it('drain() gives up after its timeout when the API never answers', async () => {
    const sink = new GatedSink();
    const q = new EventQueue(sink);
    await q.record(obj, { type: 'Normal', reason: 'A', message: 'm' });
    await q.drain(50);
    assert.deepEqual(sink.written, []);
    sink.open();
    await q.drain();
    assert.deepEqual(sink.written, ['A']);
  });
});

// Regression: the Event key held the full message, so a flapping policy whose
// messages carry changing numbers ("metric at 312 of 300 …") created a new
// Event object on every tick, without limit. Events now fold as client-go's
// EventCorrelator folds them: by object and reason after 10 similar messages in
// 10 minutes, and a per-object token bucket (burst 25, one per 5 minutes) caps
// the writes.
const flap = (i: number) => ({
  type: 'Warning' as const,
  reason: 'Flapping',
  message: `replicas moved ${i} times in 10m (value ${300 + i})`,
});

describe('EventRecorder against Event spam', () => {
  it('folds similar Events (same object and reason, changing numbers) into one with a count', async () => {
    const kube = new FakeKube();
    let t = 0;
    const r = new EventRecorder(kube.transport, { instance: 'op', now: () => t });
    for (let i = 0; i < 20; i++) {
      await r.record(obj, flap(i));
      t += 15_000;
    }
    assert.ok(kube.events.length <= 10, `at most 10 Event objects, got ${kube.events.length}`);
    const combined = kube.requests.filter(
      (q) => q.method === 'POST' && /combined from similar events/.test(JSON.stringify(q.body)),
    );
    assert.equal(combined.length, 1, 'one combined Event');
    const folded = kube.events.reduce((n, e) => n + e.count, 0);
    assert.equal(folded, 20, 'every occurrence counted');
  });

  it('rate-limits one object to a burst of 25 writes, then one per 5 minutes', async () => {
    const kube = new FakeKube();
    let t = 0;
    const r = new EventRecorder(kube.transport, { instance: 'op', now: () => t });
    for (let i = 0; i < 100; i++) {
      await r.record(obj, { type: 'Warning', reason: `Reason${i}`, message: 'm' });
      t += 1_000;
    }
    const writes = () => kube.requests.filter((q) => q.path.includes('/events')).length;
    assert.equal(writes(), 25, 'the burst, then nothing for 100 s');
    await r.record({ ...obj, name: 'other', uid: 'v' }, { type: 'Warning', reason: 'X', message: 'm' });
    assert.equal(writes(), 26, 'another object has its own budget');
    t += 300_000;
    await r.record(obj, { type: 'Warning', reason: 'Later', message: 'm' });
    assert.equal(writes(), 27, 'one more after 5 minutes');
  });
});
