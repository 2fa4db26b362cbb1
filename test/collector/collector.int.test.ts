// The collector against the real sandbox Prometheus (PROMETHEUS_URL, set by
// sandbox/with-sandbox.sh): every hostile result here is produced by real PromQL,
// parsed from Prometheus' real JSON.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AddressPolicy, Collector, type CollectorSpec, type QueryEvent } from '../../src/collector/index.ts';
import { NO_SANDBOX, sandboxAvailable } from '../support/sandbox.ts';

const PROMETHEUS_URL = process.env.PROMETHEUS_URL?.replace(/\/$/, '');
// Through sandboxAvailable(): under `make test-integration` a missing sandbox fails, not skips.
const skip = sandboxAvailable() && PROMETHEUS_URL ? false : NO_SANDBOX;

function spec(queries: string[]): CollectorSpec {
  return {
    pollingIntervalSeconds: 15,
    prometheus: {
      address: PROMETHEUS_URL ?? 'http://127.0.0.1:1',
      insecureSkipVerify: false,
      timeoutSeconds: 5,
    },
    metrics: queries.map((query, i) => ({ name: `m${i}`, query })),
  };
}

async function queryRequestsServed(): Promise<number> {
  const text = await (await fetch(`${PROMETHEUS_URL}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('prometheus_http_requests_total{') && l.includes('handler="/api/v1/query"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('collector against the real Prometheus', { skip }, () => {
  const events: QueryEvent[] = [];
  const collector = new Collector({
    addressPolicy: new AddressPolicy(PROMETHEUS_URL ? [PROMETHEUS_URL] : []),
    observer: { onQuery: (e) => events.push(e) },
  });
  after(() => collector.close());

  const cases: Array<[string, string]> = [
    ['vector(42)', 'ok:42'],
    ['scalar(vector(3))', 'ok:3'],
    ['vector(0)', 'ok:0'],
    ['vector(0/0)', 'nan'],
    ['vector(1/0)', 'infinite'],
    ['vector(-1/0)', 'infinite'],
    ['vector(-1)', 'negative'],
    ['vector(1e308)', 'too-large'],
    ['label_replace(vector(1),"a","1","","") or label_replace(vector(2),"a","2","","")', 'multiple-series'],
    ['"a string"', 'not-scalar'],
    ['up[1m]', 'not-scalar'],
    ['sum(', 'bad-query'],
    ['rate(vector(1)[1m])', 'bad-query'],
    ['absent(vector(1))', 'empty'],
  ];

  it('classifies real PromQL results, hostile ones included, and never yields a bad number', async () => {
    const r = await collector.observe({ namespace: 'int', spec: spec(cases.map(([q]) => q)) });
    assert.equal(r.problem, undefined);
    const got = r.observations.map((o) => (o.ok ? `ok:${o.value}` : o.error.kind));
    assert.deepEqual(
      got,
      cases.map(([, kind]) => kind),
    );
    for (const o of r.observations) {
      if (o.ok)
        assert.ok(
          Number.isFinite(o.value) && o.value >= 0 && Math.abs((o.sampledAt ?? 0) - Date.now()) < 60_000,
        );
      else assert.ok(o.error.message.length > 0);
    }
    const bad = r.observations[cases.findIndex(([q]) => q === 'sum(')];
    assert.ok(bad && !bad.ok && /HTTP 400/.test(bad.error.message), JSON.stringify(bad));
    // A bad query is not retried: one request per query.
    assert.equal(events.filter((e) => e.outcome === 'error').length, 2);
  });

  it('sends a query shared by many policies once (counted by Prometheus itself)', async () => {
    const before = await queryRequestsServed();
    const shared = `vector(${Date.now() % 1000})`;
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => collector.observe({ namespace: `ns${i}`, spec: spec([shared]) })),
    );
    assert.ok(results.every((r) => r.observations[0]?.ok));
    const served = (await queryRequestsServed()) - before;
    assert.equal(served, 1);
  });

  it('reads a range in chunks with gaps preserved and NaN dropped', async () => {
    const end = Math.floor(Date.now() / 1000) * 1000;
    const start = end - 3600_000;
    const chunked = new Collector({
      addressPolicy: new AddressPolicy([PROMETHEUS_URL ?? '']),
      maxPointsPerChunk: 100,
      observer: { onQuery: (e) => events.push(e) },
    });
    try {
      const rangeEvents = () => events.filter((e) => e.type === 'range').length;
      const before = rangeEvents();
      // Present only in the second half of every 120 s: a gap in each period.
      const r = await chunked.queryRange(
        { namespace: 'int', spec: spec(['x']) },
        'vector(time()) % 120 >= 60',
        start,
        end,
        15,
      );
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(rangeEvents() - before, 3); // 241 points in chunks of 100
      const expected: number[] = [];
      for (let t = start; t <= end; t += 15_000) if ((t / 1000) % 120 >= 60) expected.push(t);
      assert.deepEqual(
        r.points.map(([t]) => t),
        expected,
      );
      for (const [t, v] of r.points) assert.equal(v, (t / 1000) % 120);

      const nan = await chunked.queryRange(
        { namespace: 'int', spec: spec(['x']) },
        'vector(0/0)',
        start,
        end,
        60,
      );
      assert.deepEqual(nan, { ok: true, points: [] });

      const many = await chunked.queryRange(
        { namespace: 'int', spec: spec(['x']) },
        'label_replace(vector(1),"a","1","","") or label_replace(vector(2),"a","2","","")',
        start,
        end,
        60,
      );
      assert.ok(!many.ok && many.error.kind === 'multiple-series');
    } finally {
      chunked.close();
    }
  });
});
