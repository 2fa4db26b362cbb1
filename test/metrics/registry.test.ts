import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { register as globalRegistry, Registry } from 'prom-client';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';

describe('operator metrics', () => {
  it('registers every metric named in CONTRIBUTING.md, on the injected registry only', async () => {
    const table = readFileSync(new URL('../../CONTRIBUTING.md', import.meta.url), 'utf8');
    const names = [...table.matchAll(/^\| `(tidemark_[a-z_]+)`(?:, `(tidemark_[a-z_]+)`)?/gm)].flatMap((m) =>
      [m[1], m[2]].filter((x): x is string => Boolean(x)),
    );
    assert.ok(names.length >= 19, `found ${names.length} names in CONTRIBUTING.md`);
    const registry = new Registry();
    createOperatorMetrics(registry);
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name);
    for (const n of names) assert.ok(registered.includes(n), `${n} registered`);
    assert.equal((await globalRegistry.getMetricsAsJSON()).length, 0, 'the global registry stays empty');
  });

  it('uses the labels from the table', async () => {
    const m = createOperatorMetrics();
    m.decisions.inc({ namespace: 'a', direction: 'Up', limited_by: 'None' });
    m.metricErrors.inc({ namespace: 'a', policy: 'p', metric: 'rps', kind: 'timeout' });
    m.queryDuration.observe({ outcome: 'success' }, 0.02);
    m.leader.set(1);
    const text = await m.registry.metrics();
    assert.match(text, /tidemark_decisions_total\{namespace="a",direction="Up",limited_by="None"\} 1/);
    assert.match(
      text,
      /tidemark_metric_errors_total\{namespace="a",policy="p",metric="rps",kind="timeout"\} 1/,
    );
    assert.match(text, /tidemark_prometheus_query_duration_seconds_count\{outcome="success"\} 1/);
    assert.match(text, /^tidemark_leader 1$/m);
  });

  it('forgets every series of a deleted policy', async () => {
    const m = createOperatorMetrics();
    m.desiredReplicas.set({ namespace: 'a', policy: 'p' }, 3);
    m.metricValue.set({ namespace: 'a', policy: 'p', metric: 'rps' }, 10);
    m.metricValue.set({ namespace: 'a', policy: 'q', metric: 'rps' }, 11);
    await m.forgetPolicy('a', 'p');
    const text = await m.registry.metrics();
    assert.doesNotMatch(text, /policy="p"/);
    assert.match(text, /policy="q"/);
  });
});
