import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { deploymentView, podView } from '../../src/workload/views.ts';

test('deploymentView takes the profile label, annotations and selector', () => {
  const d: V1Deployment = {
    metadata: {
      name: 'web',
      namespace: 'shop',
      labels: { 'tidemark.dev/load-profile': 'ramp' },
      annotations: { 'tidemark.dev/load': 'from=1,to=2,seconds=3' },
    },
    spec: {
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
      template: {},
    },
  };
  assert.deepEqual(deploymentView(d), {
    namespace: 'shop',
    name: 'web',
    profile: 'ramp',
    annotations: { 'tidemark.dev/load': 'from=1,to=2,seconds=3' },
    selector: {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'Exists', values: undefined }],
    },
  });
  assert.equal(deploymentView({ metadata: { name: 'x', namespace: 'y' } }), undefined);
});

test('podView: ready means Ready=True and not terminating', () => {
  const base: V1Pod = {
    metadata: { name: 'p', namespace: 'shop', labels: { app: 'web' } },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
  assert.equal(podView(base)?.ready, true);
  assert.equal(
    podView({ ...base, status: { conditions: [{ type: 'Ready', status: 'False' }] } })?.ready,
    false,
  );
  assert.equal(podView({ ...base, status: {} })?.ready, false);
  assert.equal(
    podView({ ...base, metadata: { ...base.metadata, deletionTimestamp: new Date() } })?.ready,
    false,
  );
  assert.deepEqual(podView(base)?.labels, { app: 'web' });
});
