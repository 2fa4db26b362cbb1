import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BacktestOptions, chooseMetric, runBacktest } from '../../src/backtest/backtest.ts';
import { formatBacktestTable, type TargetResult } from '../../src/backtest/backtest-report.ts';
import { AddressPolicy, Collector } from '../../src/collector/index.ts';
import { simulate } from '../../src/simulate/simulate.ts';
import type { Trace } from '../../src/simulate/trace.ts';
import { policySpec } from '../simulate/helpers.ts';
import { rangeClient } from './helpers.ts';

const MIN = 60_000;
const NOW = 1_764_700_000_000 + 17_000; // not on a minute: the history ends at the minute before
const END = Math.floor(NOW / MIN) * MIN;

/** A known history: 40/min for the first 20 minutes of the hour, 120 after, with an optional hole. */
function loadAt(ms: number, hole?: [number, number]): number | undefined {
  const minute = Math.round((ms - (END - 60 * MIN)) / MIN) - 1;
  if (hole && minute >= hole[0] && minute < hole[1]) return undefined;
  return minute < 20 ? 40 : 120;
}

/** The simulator itself on the series the backtest replayed. */
function simulateDirectly(r: { replay: { trace: Trace } }, capacity: number) {
  return simulate({
    trace: r.replay.trace,
    traceName: 'x',
    spec: policySpec({ minReplicas: 1, maxReplicas: 20 }),
    capacity,
    startupSeconds: 60,
    startTime: END - 60 * MIN,
  });
}

function options(o: Partial<BacktestOptions> & { hole?: [number, number] } = {}): BacktestOptions {
  const client = rangeClient((ms) => loadAt(ms, o.hole));
  return {
    spec: policySpec({ minReplicas: 1, maxReplicas: 20 }),
    namespace: 'shop',
    name: 'web',
    collector: new Collector({ addressPolicy: new AddressPolicy(['http://prom:9090']), client }),
    prometheus: 'http://prom:9090',
    sinceSeconds: 3600,
    nowMs: NOW,
    startupSeconds: 60,
    ...o,
  };
}

test('the history is read minute by minute up to the last whole minute and replayed', async () => {
  const r = await runBacktest(options({ capacity: 14 }));
  assert.equal(r.replay.trace.requests.length, 60);
  assert.equal(r.replay.startMs, END - 60 * MIN);
  assert.equal(r.replay.trace.requests[0], 40);
  assert.equal(r.replay.trace.requests[59], 120);
  assert.equal(r.report.extra.backtest.from, new Date(END - 60 * MIN).toISOString());
  assert.equal(r.report.extra.backtest.to, new Date(END).toISOString());
  assert.equal(r.report.extra.backtest.samples, 60);
});

test('with --capacity the report is the simulator’s on the same series, and says where it came from', async () => {
  const r = await runBacktest(options({ capacity: 14 }));
  const direct = simulateDirectly(r, 14);
  assert.deepEqual(r.report.results, direct.report.results);
  assert.equal(r.report.model.capacityPerReplica, 14);
  assert.equal(r.report.model.basis, 'capacity');
  assert.equal(r.report.trace.file, 'shop/web requests');
  assert.equal(r.report.extra.backtest.query, 'sum(rate(x[1m]))');
  assert.ok(
    direct.report.results.some((x) => x.underProvisionedMinutes > 0),
    'the step under-provisions someone',
  );
});

test('without --capacity the report is measured against the target: minutes and load above target', async () => {
  const r = await runBacktest(options());
  assert.equal(r.report.model.capacityPerReplica, null);
  assert.equal(r.report.model.basis, 'target');
  assert.equal(r.report.model.target, 14);
  const targetRun = simulateDirectly(r, 14);
  const results = r.report.results as TargetResult[];
  for (const [i, x] of results.entries()) {
    const s = targetRun.report.results[i]!;
    assert.deepEqual(Object.keys(x), [
      'strategy',
      'replicaMinutes',
      'minutesAboveTarget',
      'loadAboveTarget',
      'scaleEvents',
      'directionReversals',
      'peakReplicas',
    ]);
    assert.equal(x.minutesAboveTarget, s.underProvisionedMinutes);
    assert.equal(x.loadAboveTarget, s.unservedRequests);
    assert.equal(x.replicaMinutes, s.replicaMinutes);
  }
  const oracle = results.find((x) => x.strategy === 'oracle')!;
  assert.equal(oracle.minutesAboveTarget, 0, 'the oracle keeps the load per replica at or under target');
  assert.equal(oracle.peakReplicas, Math.ceil(120 / 14));
  const hpa = results.find((x) => x.strategy === 'hpa-default')!;
  assert.ok(hpa.minutesAboveTarget > 0, 'the HPA lags the step');
  const table = formatBacktestTable(r.simulation.report, r.report);
  assert.match(table, /above-target min/);
  assert.match(table, /judged against the target 14\/replica/);
  assert.doesNotMatch(table, /under-prov/);
});

test('a gap in the history is replayed as a metric outage, with a note', async () => {
  const r = await runBacktest(options({ capacity: 14, hole: [30, 33] }));
  assert.deepEqual(r.replay.outages, [{ startMinute: 30, lengthMinutes: 3 }]);
  assert.equal(r.replay.trace.requests[31], 120);
  assert.deepEqual(r.report.extra.outages, [{ startMinute: 30, lengthMinutes: 3 }]);
  assert.ok(r.notes.some((n) => /3 of 60 minutes had no sample/.test(n)));
  const tidemark = r.report.extra.tidemark as { failedMetricTicks: number };
  assert.ok(tidemark.failedMetricTicks > 0);
});

test('an empty history is a clear error naming the range and the query', async () => {
  const client = rangeClient(() => undefined);
  await assert.rejects(
    runBacktest(
      options({
        collector: new Collector({ addressPolicy: new AddressPolicy(['http://prom:9090']), client }),
      }),
    ),
    /metric requests has no samples from .* check the query and --since \(query: sum\(rate\(x\[1m\]\)\)\)/,
  );
});

test('a Value target is refused: its history depends on the replicas that ran', () => {
  const spec = policySpec({
    metrics: [{ name: 'latency', query: 'avg(x)', target: { type: 'Value', value: '0.2' } }],
  });
  assert.throws(() => chooseMetric(spec), /Value target: its history depends on the replicas/);
});

test('several metrics: the first by default, --metric picks another, an unknown name is an error', () => {
  const spec = policySpec({
    metrics: [
      { name: 'rps', query: 'sum(rate(a[1m]))', target: { type: 'AverageValue', value: '10' } },
      { name: 'queue', query: 'avg(q)', target: { type: 'AverageValue', value: '5' } },
    ],
  });
  const first = chooseMetric(spec);
  assert.equal(first.metric.name, 'rps');
  assert.match(first.notes.join('\n'), /not replayed: queue/);
  const second = chooseMetric(spec, 'queue');
  assert.equal(second.metric.name, 'queue');
  assert.match(second.notes.join('\n'), /starts with avg/);
  assert.throws(() => chooseMetric(spec, 'cpu'), /no metric named "cpu"; it has rps, queue/);
});

test('--since shorter than two minutes is refused before any query', async () => {
  const o = options({ sinceSeconds: 60 });
  await assert.rejects(runBacktest(o), /at least 2 minutes/);
});
