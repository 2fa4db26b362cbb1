// What the operator's watches keep of an object (src/operator/compacting-watch.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Watch } from '@kubernetes/client-node';
import {
  compactingWatch,
  type WatchLike,
  withoutManagedFields,
} from '../../src/operator/compacting-watch.ts';

const policy = () => ({
  apiVersion: 'tidemark.dev/v1beta1',
  kind: 'ScalingPolicy',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u1',
    resourceVersion: '7',
    generation: 2,
    managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
  },
  spec: { minReplicas: 1 },
  status: { currentReplicas: 3 },
});

describe('withoutManagedFields', () => {
  it('drops metadata.managedFields and keeps everything else', () => {
    const p = policy();
    const out = withoutManagedFields(p);
    const { managedFields: _m, ...meta } = p.metadata;
    assert.deepEqual(out, { ...p, metadata: meta });
    assert.ok(p.metadata.managedFields, 'the object handed in is not changed');
  });

  it('returns an object without them as it is', () => {
    const p = { metadata: { name: 'x' }, spec: {} };
    assert.equal(withoutManagedFields(p), p);
    assert.equal(withoutManagedFields(undefined), undefined);
  });
});

describe('compactingWatch', () => {
  type Callback = Parameters<Watch['watch']>[2];
  const watchWith = (events: Array<[string, unknown]>) => {
    let opened = 0;
    const inner: WatchLike = {
      watch: async (_path, _query, callback: Callback) => {
        opened++;
        for (const [phase, obj] of events) callback(phase, obj, {});
        return new AbortController();
      },
    };
    return { inner, opened: () => opened };
  };

  it('compacts added, modified and deleted objects, and passes other events as they are', async () => {
    const bookmark = { metadata: { resourceVersion: '9' } };
    const { inner } = watchWith([
      ['ADDED', policy()],
      ['MODIFIED', policy()],
      ['DELETED', policy()],
      ['BOOKMARK', bookmark],
    ]);
    const seen: Array<[string, unknown]> = [];
    const w = compactingWatch(
      inner,
      (o) => withoutManagedFields(o as never),
      () => false,
    );
    await w.watch(
      '/x',
      {},
      (phase, obj) => seen.push([phase, obj]),
      () => {},
    );
    assert.deepEqual(
      seen.map(([p, o]) => [
        p,
        Boolean((o as { metadata: { managedFields?: unknown } }).metadata.managedFields),
      ]),
      [
        ['ADDED', false],
        ['MODIFIED', false],
        ['DELETED', false],
        ['BOOKMARK', false],
      ],
    );
    assert.equal(seen[3]![1], bookmark);
  });

  it('opens no watch once stopped', async () => {
    const { inner, opened } = watchWith([]);
    const w = compactingWatch(
      inner,
      (o) => o as never,
      () => true,
    );
    await w.watch(
      '/x',
      {},
      () => {},
      () => {},
    );
    assert.equal(opened(), 0);
  });
});
