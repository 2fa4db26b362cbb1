// PromQL syntax as Prometheus's own grammar sees it, wherever a policy is validated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promqlSyntaxError, rangeWindows } from '../../src/crd/promql.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';

test('well-formed queries parse', () => {
  for (const q of [
    'up',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the demo policy's envsubst placeholder, inside a PromQL string
    'sum(rate(http_requests_total{namespace="${NAMESPACE}",deployment="web"}[30s]))',
    'histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))',
    'sum(queue_messages_ready{queue="jobs"}) * 60',
    'avg(rate(container_cpu_usage_seconds_total[1m])) / on(pod) group_left kube_pod_info',
  ]) {
    assert.equal(promqlSyntaxError(q), undefined, q);
  }
});

test('malformed queries say where they break', () => {
  assert.match(promqlSyntaxError('sum(rate(http_requests_total[1m])') ?? '', /unexpected end of query/);
  assert.match(promqlSyntaxError('foo bar') ?? '', /at character 5: "bar"/);
  assert.match(promqlSyntaxError('rate(x[1m]) +') ?? '', /unexpected end of query/);
  assert.equal(promqlSyntaxError('  '), 'empty query');
});

test('the policy validator refuses a metric query and an SLO latency query that do not parse', () => {
  const result = new PolicyValidator().validate({
    apiVersion: 'tidemark.dev/v1beta1',
    kind: 'ScalingPolicy',
    metadata: { name: 'web' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      maxReplicas: 3,
      prometheus: { address: 'http://prom:9090' },
      metrics: [{ name: 'rps', query: 'sum(rate(x[1m])', target: { type: 'AverageValue', value: '10' } }],
      autotune: {
        enabled: true,
        slo: {
          metric: 'rps',
          latencyQuery: 'histogram_quantile(0.9,',
          objectiveSeconds: 0.2,
          minTarget: 1,
          maxTarget: 100,
        },
      },
    },
  });
  assert.equal(result.ok, false);
  const paths = result.ok ? [] : result.issues.map((i) => i.path);
  assert.deepEqual(paths, ['spec.metrics[0].query', 'spec.autotune.slo.latencyQuery']);
});

test('rangeWindows: the windows of range selectors and subqueries, not subquery steps or strings', () => {
  const rangeWindowsSeconds = (q: string) =>
    rangeWindows(q)
      .map((w) => w.seconds)
      .sort((a, b) => a - b);
  assert.deepEqual(rangeWindows('sum(rate(x{a="[5s]"}[30s]))'), [{ text: '30s', seconds: 30 }]);
  assert.deepEqual(rangeWindowsSeconds('x[1m30s] + y[500ms]'), [0.5, 90]);
  assert.deepEqual(rangeWindowsSeconds('max_over_time(rate(x[1m])[5m:30s])'), [60, 300]);
  assert.deepEqual(rangeWindowsSeconds('up'), []);
});
