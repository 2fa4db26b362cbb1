import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BacktestInputError } from '../../src/backtest/errors.ts';
import { historyChunks, MAX_POINTS_PER_REQUEST, readHistory } from '../../src/backtest/history-query.ts';
import { AddressPolicy, Collector, type PromClient, QueryFailure } from '../../src/collector/index.ts';
import { policyRef, rangeClient } from './helpers.ts';

const MIN = 60_000;

test('history chunks: at most 11,000 points each, on the step grid, covering the range once', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40_000 }),
      fc.constantFrom(15, 60, 300),
      fc.integer({ min: 1, max: 20_000 }),
      (points, step, maxPoints) => {
        const start = 1_700_000_000_000;
        const end = start + points * step * 1000;
        const chunks = historyChunks(start, end, step, maxPoints);
        const limit = Math.min(maxPoints, MAX_POINTS_PER_REQUEST);
        let expected = start;
        for (const c of chunks) {
          assert.equal(c.startMs, expected, 'each chunk starts one step after the last ended');
          assert.equal((c.endMs - c.startMs) % (step * 1000), 0);
          assert.ok((c.endMs - c.startMs) / (step * 1000) + 1 <= limit, 'points per chunk within the limit');
          expected = c.endMs + step * 1000;
        }
        assert.equal(chunks.at(-1)!.endMs, end);
        assert.equal(chunks.length, Math.ceil((points + 1) / limit));
      },
    ),
    { seed: 1414, numRuns: 300 },
  );
});

test('a week of minutes is one request; a month is four', () => {
  const start = 0;
  assert.equal(historyChunks(start, start + 7 * 1440 * MIN, 60).length, 1);
  assert.equal(historyChunks(start, start + 30 * 1440 * MIN, 60).length, 4);
});

test('readHistory sends one range query per chunk, joins them in order and reports progress', async () => {
  const client = rangeClient((t) => t / MIN);
  const collector = new Collector({ addressPolicy: new AddressPolicy(['http://prom:9090']), client });
  const progress: number[] = [];
  const start = 10 * MIN;
  const points = await readHistory({
    collector,
    policy: policyRef(),
    query: 'sum(rate(x[1m]))',
    startMs: start,
    endMs: start + 24 * MIN,
    stepSeconds: 60,
    maxPointsPerRequest: 10,
    onProgress: (f) => progress.push(f),
  });
  assert.equal(client.calls.length, 3);
  assert.deepEqual(
    client.calls.map((c) => [c.startMs, c.endMs, c.step]),
    [
      [start, start + 9 * MIN, 60],
      [start + 10 * MIN, start + 19 * MIN, 60],
      [start + 20 * MIN, start + 24 * MIN, 60],
    ],
  );
  assert.equal(points.length, 25);
  assert.deepEqual(points[0], [start, 10]);
  assert.deepEqual(points.at(-1), [start + 24 * MIN, 34]);
  assert.deepEqual(progress, [1 / 3, 2 / 3, 1]);
  collector.close();
});

test('a query Prometheus rejects is an error naming the query and the kind, not a crash', async () => {
  const client: PromClient = {
    instantQuery: () => Promise.reject(new Error('unused')),
    rangeQuery: () =>
      Promise.reject(
        new QueryFailure('bad-query', 'Prometheus rejected the query (HTTP 400): parse error', false, 400),
      ),
  };
  const collector = new Collector({ addressPolicy: new AddressPolicy(['http://prom:9090']), client });
  await assert.rejects(
    readHistory({
      collector,
      policy: policyRef(),
      query: 'sum(rate(x[1m]',
      startMs: 0,
      endMs: 10 * MIN,
      stepSeconds: 60,
    }),
    (err: unknown) =>
      err instanceof BacktestInputError &&
      /"sum\(rate\(x\[1m\]".*failed \(bad-query\).*parse error/.test(err.message),
  );
  collector.close();
});

test('an empty history is an empty list; several series are an error', async () => {
  const empty = new Collector({
    addressPolicy: new AddressPolicy(['http://prom:9090']),
    client: rangeClient(() => undefined),
  });
  const r = { policy: policyRef(), query: 'q', startMs: 0, endMs: 5 * MIN, stepSeconds: 60 };
  assert.deepEqual(await readHistory({ ...r, collector: empty }), []);
  const two = new Collector({
    addressPolicy: new AddressPolicy(['http://prom:9090']),
    client: rangeClient((t) => t, 2),
  });
  await assert.rejects(readHistory({ ...r, collector: two }), /multiple-series.*aggregate it/);
  empty.close();
  two.close();
});

test('an address off the allow-list is refused before any request', async () => {
  const client = rangeClient((t) => t);
  const collector = new Collector({ addressPolicy: new AddressPolicy(['http://other:9090']), client });
  await assert.rejects(
    readHistory({ collector, policy: policyRef(), query: 'q', startMs: 0, endMs: 5 * MIN, stepSeconds: 60 }),
    /not on the operator's allow-list/,
  );
  assert.equal(client.calls.length, 0);
  collector.close();
});
