import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toGrant } from './support/recorder.ts';

test('the recording proxy names each request as RBAC sees it', () => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/api', 'discovery GET'],
    ['GET', '/apis/apps/v1', 'discovery GET'],
    ['GET', '/apis/tidemark.dev/v1alpha1/scalingpolicies', 'tidemark.dev/scalingpolicies list'],
    [
      'GET',
      '/apis/tidemark.dev/v1alpha1/scalingpolicies?watch=true&resourceVersion=5',
      'tidemark.dev/scalingpolicies watch',
    ],
    [
      'GET',
      '/apis/tidemark.dev/v1alpha1/namespaces/a/scalingpolicies?watch=1',
      'tidemark.dev/scalingpolicies watch',
    ],
    [
      'PUT',
      '/apis/tidemark.dev/v1alpha1/namespaces/a/scalingpolicies/p/status',
      'tidemark.dev/scalingpolicies/status update',
    ],
    ['GET', '/apis/apps/v1/namespaces/a/deployments/web/scale', 'apps/deployments/scale get'],
    ['PATCH', '/apis/apps/v1/namespaces/a/statefulsets/db/scale', 'apps/statefulsets/scale patch'],
    ['POST', '/api/v1/namespaces/a/events', 'core/events create'],
    ['GET', '/api/v1/namespaces/a/secrets/s', 'core/secrets get'],
    ['GET', '/api/v1/namespaces/a', 'core/namespaces get'],
    ['POST', '/apis/coordination.k8s.io/v1/namespaces/x/leases', 'coordination.k8s.io/leases create'],
  ];
  for (const [method, path, grant] of cases) assert.equal(toGrant(method, path), grant, `${method} ${path}`);
});
