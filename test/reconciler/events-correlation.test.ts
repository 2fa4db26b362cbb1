// Regression: the Event key held the full message, so a flapping policy whose
// messages carry changing numbers ("metric at 312 of 300 …") created a new
// Event object on every tick, without limit. Events now fold as client-go's
// EventCorrelator folds them: by object and reason after 10 similar messages in
// 10 minutes, and a per-object token bucket (burst 25, one per 5 minutes) caps
// the writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventRecorder } from '../../src/reconciler/events.ts';
import { FakeKube } from './fake-kube.ts';

const obj = { apiVersion: 'tidemark.dev/v1alpha1', kind: 'ScalingPolicy', name: 'p', namespace: 'ns', uid: 'u' };
const flap = (i: number) => ({
  type: 'Warning' as const,
  reason: 'Flapping',
  message: `replicas moved ${i} times in 10m (value ${300 + i})`,
});

describe('EventRecorder correlation', () => {
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
