// The ScaledObject the live benchmark applies (bench/live/keda.ts). That the real KEDA takes
// it and scales with it is test/sandbox/keda.e2e.ts (make test-keda); these check the
// manifest's shape and the refusals, without a cluster.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { externalMetricPath, kedaHpaName, scaledObjectFor } from '../../../bench/live/keda.ts';

const base = {
  namespace: 'live',
  deployment: 'web',
  serverAddress: 'http://127.0.0.1:9090',
  query: 'sum(tidemark_workload_offered_rps{deployment="web"})',
  threshold: 80,
  pollingIntervalSeconds: 5,
  cooldownSeconds: 30,
  minReplicas: 1,
  maxReplicas: 20,
};

test('one Prometheus trigger on the Deployment, AverageValue at the threshold, metadata as strings', () => {
  const so = scaledObjectFor(base);
  assert.equal(so.metadata.name, 'web');
  assert.deepEqual(so.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
  assert.equal(so.spec.minReplicaCount, 1);
  assert.equal(so.spec.maxReplicaCount, 20);
  assert.equal(so.spec.pollingInterval, 5);
  assert.equal(so.spec.cooldownPeriod, 30);
  assert.equal(so.spec.triggers.length, 1);
  const [trigger] = so.spec.triggers;
  assert.equal(trigger?.type, 'prometheus');
  assert.equal(trigger?.metricType, 'AverageValue');
  assert.deepEqual(trigger?.metadata, {
    serverAddress: base.serverAddress,
    query: base.query,
    threshold: '80',
  });
  assert.equal('advanced' in so.spec, false, 'no behavior given: KEDA and the HPA use their defaults');
  assert.equal(kedaHpaName(so.metadata.name), 'keda-hpa-web');
});

test('behavior goes to the HPA through advanced.horizontalPodAutoscalerConfig; options reach the trigger', () => {
  const behavior = {
    scaleDown: {
      stabilizationWindowSeconds: 20,
      policies: [{ type: 'Percent' as const, value: 50, periodSeconds: 5 }],
    },
  };
  const so = scaledObjectFor({
    ...base,
    name: 'web-keda',
    behavior,
    ignoreNullValues: false,
    useCachedMetrics: true,
  });
  assert.equal(so.metadata.name, 'web-keda');
  assert.deepEqual(so.spec.advanced, { horizontalPodAutoscalerConfig: { behavior } });
  assert.equal(so.spec.triggers[0]?.metadata.ignoreNullValues, 'false');
  assert.equal(so.spec.triggers[0]?.useCachedMetrics, true);
});

test('refuses what KEDA or the HPA would refuse or misread', () => {
  for (const bad of [
    { threshold: 0 },
    { threshold: Number.NaN },
    { minReplicas: 5, maxReplicas: 4 },
    { maxReplicas: 0, minReplicas: 0 },
    { pollingIntervalSeconds: 2.5 },
    { cooldownSeconds: -1 },
    { serverAddress: '127.0.0.1:9090' },
  ])
    assert.throws(() => scaledObjectFor({ ...base, ...bad }), /scaledObjectFor:/, JSON.stringify(bad));
});

test('the external metric path selects the ScaledObject by label, as the HPA controller asks', () => {
  assert.equal(
    externalMetricPath('live', 'web'),
    '/apis/external.metrics.k8s.io/v1beta1/namespaces/live/s0-prometheus?labelSelector=scaledobject.keda.sh%2Fname%3Dweb',
  );
});
