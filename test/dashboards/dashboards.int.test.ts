// Runs every panel query of the generated dashboards against the sandbox's
// Prometheus while a real operator runs, scraped through the sandbox's file_sd
// directory, with two policies: one healthy that scales (with forecast,
// anomaly detection and autotune on; the per-policy dashboard is checked with
// its variables set to it), one whose metric fails (errors and fallback on the
// overview). A query that errors or returns no series fails the test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { overview, policy, queries, ZERO_FALLBACK } from '../../scripts/gen-dashboards.ts';
import { httpGet, type RunningOperator, startOperator } from '../deploy/support/operator.ts';
import { kubectl, promQuery, registerScrapeTarget, sandboxEnv, waitFor } from '../support/sandbox.ts';

const NS = `tidemark-dash-${process.pid}`;
const JOB = `tidemark-dashboards-${process.pid}`;
let op: RunningOperator | undefined;
let unregister: (() => Promise<void>) | undefined;

function policyObject(name: string, query: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'ScalingPolicy',
    metadata: { name, namespace: NS },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: 10,
      pollingIntervalSeconds: 2,
      prometheus: { address: sandboxEnv().prometheusUrl },
      metrics: [{ name: 'load', query, target: { type: 'AverageValue', value: '40' } }],
      fallback: { failureThreshold: 2, replicas: 2 },
      ...extra,
    },
  };
}

function deploymentObject(name: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: 'example.invalid/web:1' }] },
      },
    },
  };
}

before(async () => {
  const env = sandboxEnv();
  await kubectl(['create', 'namespace', NS]);
  await kubectl(['apply', '-f', '-'], {
    input: [
      deploymentObject('web'),
      deploymentObject('broken'),
      policyObject('web', 'vector(120)', {
        predictive: { enabled: true, seasonPeriod: '60s', history: '10m', podStartupSeconds: 5 },
        anomaly: { enabled: true },
        autotune: { enabled: true },
      }),
      // Selects nothing: an Empty observation every tick, then fallback.
      policyObject('broken', 'sum(tidemark_no_such_metric_for_dashboards)'),
    ]
      .map((o) => stringify(o))
      .join('---\n'),
  });
  op = await startOperator({
    kubeconfig: env.kubeconfig,
    args: [
      `--namespaces=${NS}`,
      '--leader-election-namespace=default',
      `--lease-name=${JOB}`,
      `--identity=${JOB}`,
      `--allowed-prometheus=${env.prometheusUrl}`,
      // Every panel must have data, the per-policy metric panel's included.
      '--policy-metrics=detailed',
    ],
  });
  const running = op;
  await waitFor(async () => (await httpGet(running.port, '/healthz')).status === 200, {
    timeoutMs: 30_000,
    what: `operator /healthz (output: ${running.output().slice(-2000)})`,
  });
  unregister = await registerScrapeTarget(JOB, [`127.0.0.1:${running.port}`]);
});

after(async () => {
  await unregister?.();
  await op?.stop(5000);
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']).catch(() => {});
});

function substitute(expr: string, namespace: string, policyName: string): string {
  return expr
    .replaceAll('$namespace', namespace)
    .replaceAll('$policy', policyName)
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '10m')
    .replaceAll('$__interval', '15s');
}

// The forecast needs one season of per-minute buckets before it publishes
// anything: the policy's season is the shortest the forecaster takes (two
// steps), so its series appear about three minutes after the operator starts.
const WAIT_MS = 240_000;

/**
 * tidemark_forecast_replicas is exported only once the forecaster is ready (ten
 * checked forecasts, i.e. ten minutes at its one-minute step, unless the
 * operator loads history): until then an empty forecast line is right, and the
 * policy must say so with ForecastReady False.
 */
async function forecastStandsAside(policyName: string): Promise<boolean> {
  const cond = await promQuery(
    `max(tidemark_policy_condition{namespace="${NS}", policy="${policyName}", condition="ForecastReady"})`,
  );
  return cond.length === 1 && cond[0]!.value[1] === '0';
}

const cases = [
  { dashboard: 'overview', d: overview(), policyName: 'web' },
  { dashboard: 'policy web', d: policy(), policyName: 'web' },
];

test('every metric a dashboard uses is on the operator /metrics', async () => {
  const { body } = await httpGet(op!.port, '/metrics');
  for (const c of cases) {
    for (const q of queries(c.d)) {
      for (const m of q.expr.matchAll(/\b(tidemark_[a-z_]+?)(_bucket)?\b/g)) {
        assert.match(
          body,
          new RegExp(`^# TYPE ${m[1]} `, 'm'),
          `${c.dashboard} / ${q.panel}: ${m[1]} not exported`,
        );
      }
    }
  }
});

for (const c of cases) {
  test(`every panel query of the ${c.dashboard} dashboard returns series`, async (t) => {
    const all = queries(c.d).map((q) => ({ ...q, expr: substitute(q.expr, NS, c.policyName) }));
    // A query Prometheus rejects fails at once, whatever the data.
    for (const q of all) await promQuery(q.expr);
    // Series appear once the operator has ticked and Prometheus scraped it.
    let missing: string[] = [];
    let standingAside: string[] = [];
    await waitFor(
      async () => {
        missing = [];
        standingAside = [];
        for (const q of all) {
          const series = await promQuery(q.expr);
          if (series.length > 0) continue;
          if (q.expr.includes('tidemark_forecast_replicas') && (await forecastStandsAside(c.policyName))) {
            standingAside.push(`${q.panel}: ${q.expr}`);
            continue;
          }
          missing.push(`${q.panel}: ${q.expr}`);
        }
        return missing.length === 0;
      },
      { timeoutMs: WAIT_MS, intervalMs: 5000, what: `series for ${c.dashboard}` },
    ).catch(() => {
      assert.fail(`queries with no series after ${WAIT_MS / 1000} s:\n${missing.join('\n')}`);
    });
    for (const q of standingAside) {
      t.diagnostic(
        `no series while the forecaster calibrates (ForecastReady False, as the panel should show): ${q}`,
      );
    }
    // The "zero when nothing happened" fallbacks must not hide an invalid query.
    for (const q of all.filter((x) => x.expr.endsWith(ZERO_FALLBACK))) {
      await promQuery(q.expr.slice(0, -ZERO_FALLBACK.length));
    }
  });
}
