// Bad input, end to end: hostile PromQL results reach a real operator process
// (`tidemark run`) through the sandbox's real Prometheus. Each one must become a
// MetricError (Event, status, metric) naming its kind, and never a replica count:
// the target keeps the replicas it had.
//
// Two cases are served by a local HTTP server on 127.0.0.1 instead of
// Prometheus, because a real Prometheus cannot be made to answer very slowly or
// with many megabytes on demand: the server is put on the operator's
// --allowed-prometheus list and answers the Prometheus HTTP API shape.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type FakePrometheus, startFake } from '../collector/fake-prometheus.ts';
import * as e2e from '../e2e/support.ts';
import { NO_SANDBOX, promQuery, sandboxAvailable, sandboxEnv, waitFor } from '../support/sandbox.ts';

const RUN = `hostile-${Date.now().toString(36)}`;
const NS = RUN;
const START_REPLICAS = 3;

interface Case {
  name: string;
  what: string;
  query: string;
  kind: string;
  /** Served by a local stand-in rather than the sandbox Prometheus. */
  server?: 'slow' | 'huge';
}

const CASES: Case[] = [
  { name: 'nan', what: 'NaN', query: 'vector(0/0)', kind: 'nan' },
  { name: 'nan-scalar', what: 'NaN as a scalar', query: 'scalar(vector(0/0))', kind: 'nan' },
  { name: 'pos-inf', what: '+Inf', query: 'vector(1/0)', kind: 'infinite' },
  { name: 'neg-inf', what: '-Inf', query: 'vector(-1/0)', kind: 'infinite' },
  { name: 'negative', what: 'a negative value', query: 'vector(-42)', kind: 'negative' },
  { name: 'huge-value', what: '1e308', query: 'vector(1e308)', kind: 'too-large' },
  {
    name: 'many-series',
    what: 'many series (one per metric name in Prometheus)',
    query: 'count by (__name__) ({__name__=~".+"})',
    kind: 'multiple-series',
  },
  {
    name: 'histogram',
    what: 'a classic histogram (its buckets) where a scalar was expected',
    query: 'prometheus_http_request_duration_seconds_bucket{handler="/metrics"}',
    kind: 'multiple-series',
  },
  { name: 'string', what: 'a string literal', query: '"a string"', kind: 'not-scalar' },
  { name: 'range-vector', what: 'a range vector', query: 'up[1m]', kind: 'not-scalar' },
  { name: 'syntax-error', what: 'a syntax error', query: 'sum(rate(', kind: 'bad-query' },
  {
    name: 'empty',
    what: 'an empty result',
    query: 'http_requests_total{namespace="no-such-namespace"}',
    kind: 'empty',
  },
  { name: 'slow', what: 'a very slow answer (local stand-in)', query: 'up', kind: 'timeout', server: 'slow' },
  {
    name: 'megabytes',
    what: 'an answer of many megabytes (local stand-in)',
    query: 'up',
    kind: 'too-large',
    server: 'huge',
  },
];

/** Headers at once, then one byte every 200 ms: never done within the policy's 1 s timeout. */
function drip(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"status":"success","data":{"resultType":"vector","result":[');
  const t = setInterval(() => res.write(' '), 200);
  res.on('close', () => clearInterval(t));
}

/** A well-formed vector answer of about 8 MiB (twice the collector's 4 MiB limit). */
function hugeBody(): string {
  const now = Date.now() / 1000;
  const pad = 'x'.repeat(100);
  const series = Array.from({ length: 60_000 }, (_, i) => ({
    metric: { __name__: 'up', instance: `i${i}`, pad },
    value: [now, '1'],
  }));
  return JSON.stringify({ status: 'success', data: { resultType: 'vector', result: series } });
}

const skip = sandboxAvailable() ? false : NO_SANDBOX;

describe('hostile PromQL results never become a replica count', {
  skip,
  concurrency: true,
  timeout: 180_000,
}, () => {
  let op: e2e.OperatorProcess;
  let slow: FakePrometheus;
  let huge: FakePrometheus;

  before(async () => {
    slow = await startFake();
    slow.handle((_req, res) => drip(res));
    huge = await startFake();
    const body = hugeBody();
    assert.ok(body.length > 8_000_000, 'the huge answer is over 8 MB');
    huge.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await e2e.prepareNamespaces([NS]);
    const prom = sandboxEnv().prometheusUrl;
    // Precondition, not the thing under test: Prometheus exposes its own
    // /metrics handler histogram only after it has scraped itself twice, and
    // this file may run within seconds of the sandbox starting.
    const histogram = CASES.find((c) => c.name === 'histogram')!.query;
    await waitFor(async () => (await promQuery(histogram)).length > 1, {
      timeoutMs: 60_000,
      what: `several series for ${histogram}`,
    });
    const objects: unknown[] = [];
    for (const c of CASES) {
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: c.name, namespace: NS },
        spec: {
          replicas: START_REPLICAS,
          selector: { matchLabels: { app: c.name } },
          template: {
            metadata: {
              labels: { app: c.name },
              annotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': '1s' },
            },
            spec: { containers: [{ name: 'app', image: 'example.invalid/web:1' }] },
          },
        },
      });
      const address = c.server === 'slow' ? slow.url : c.server === 'huge' ? huge.url : prom;
      // Only the slow case is about time. Every other case is about what the answer says: with a
      // 1 s timeout a loaded 2-core machine answered too late (the 8 MiB body, and in a
      // rehearsal beside other builds even Prometheus' own NaN and +Inf) and the answer was
      // classified as a timeout.
      const timeoutSeconds = c.server === 'slow' ? 1 : 20;
      // Any number that got through would move the replicas: 1e308 or +Inf against a target of 1
      // per replica would scale to max (10), a negative or NaN value towards min (1).
      objects.push(
        e2e.scalingPolicy(NS, c.name, {
          prometheus: { address, timeoutSeconds },
          metrics: [{ name: 'm', query: c.query, target: { type: 'AverageValue', value: '1' } }],
        }),
      );
    }
    await e2e.apply(objects);
    op = await e2e.OperatorProcess.start(RUN, [
      '--namespaces',
      NS,
      '--lease-name',
      RUN,
      '--allowed-prometheus',
      [prom, slow.url, huge.url].join(','),
    ]);
    await waitFor(() => op.isLeader(), { timeoutMs: 20_000, what: 'the operator to lead' });
  });

  after(async () => {
    if (op) {
      const exit = await op.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, 'the operator exits cleanly');
    }
    await slow?.close();
    await huge?.close();
    await e2e.deleteNamespace(NS);
  });

  for (const c of CASES) {
    it(`${c.what}: \`${c.query}\` → MetricError ${c.kind}, replicas stay ${START_REPLICAS}`, async () => {
      const ev = await waitFor(
        async () => (await e2e.events(NS, c.name)).find((e) => e.reason === 'MetricError'),
        { timeoutMs: 30_000, what: `MetricError Event of ${c.name}` },
      );
      assert.equal(ev.type, 'Warning');
      assert.match(ev.message, new RegExp(`^metric m failed: ${c.kind}: `), ev.message);

      const p = await waitFor(
        async () => {
          const p = await e2e.getPolicy(NS, c.name);
          return p?.status?.currentMetrics?.[0]?.error ? p : undefined;
        },
        { timeoutMs: 10_000, what: `status of ${c.name}` },
      );
      const m = p.status?.currentMetrics?.[0];
      assert.match(m?.error ?? '', new RegExp(`^${c.kind}: `));
      assert.equal(m?.value, undefined, 'a failed metric shows no value');
      assert.equal(m?.proposedReplicas, undefined, 'a failed metric proposes no replica count');
      const ready = e2e.condition(p, 'Ready');
      assert.equal(ready?.status, 'False');
      assert.equal(ready?.reason, 'MetricsUnavailable');
      assert.match(ready?.message ?? '', new RegExp(`m \\(${c.kind}\\)`));

      // Several ticks (2 s polling) later: still the replicas it had, no scaling Event, no decision moved them.
      await e2e.holdsReplicas(NS, c.name, START_REPLICAS, 6_000);
      const after = await e2e.getPolicy(NS, c.name);
      assert.equal(after?.status?.desiredReplicas, START_REPLICAS);
      assert.equal(after?.status?.recentDecisions?.length ?? 0, 0, 'no decision changed replicas');
      assert.equal((await e2e.events(NS, c.name)).filter((e) => e.reason === 'Scaled').length, 0);
      assert.ok(
        ((await op.sample('tidemark_metric_errors_total', { namespace: NS, policy: c.name, kind: c.kind })) ??
          0) >= 1,
        `tidemark_metric_errors_total{kind="${c.kind}"} counts it`,
      );
      assert.equal(await e2e.replicas(NS, c.name), START_REPLICAS);
      // The stand-ins were really asked, so their cases test the collector, not the allow-list.
      if (c.server)
        assert.ok((c.server === 'slow' ? slow : huge).seen.length > 0, `${c.server} server was queried`);
    });
  }
});
