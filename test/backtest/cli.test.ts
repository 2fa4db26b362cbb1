// `tidemark backtest` as a user runs it. The Prometheus here is the collector
// tests' local HTTP fake answering range queries from a known function (the
// real Prometheus is in backtest.int.test.ts, which needs the sandbox).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type FakePrometheus, sendJson, startFake, success } from '../collector/fake-prometheus.ts';
import { runTidemark, scratch } from '../support/cli.ts';
import { backtestJson, simulateSeries } from './helpers.ts';

const { dir, file } = scratch('tidemark-backtest-');
// The allow-list must come from the flags of each test, not from a sandbox's environment.
const env = {
  ...process.env,
  PROMETHEUS_URL: '',
  TIDEMARK_ALLOWED_PROMETHEUS: '',
  KUBECONFIG: '/nonexistent',
};
const tidemark = (...args: string[]) => runTidemark(args, { env });

const policy = (target: string) =>
  file(
    `policy-${target.replace(/\W/g, '')}.yaml`,
    `apiVersion: tidemark.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  prometheus: {address: "http://prometheus.monitoring:9090"}
  minReplicas: 1
  maxReplicas: 20
  metrics: [{name: rps, query: 'sum(rate(http_requests_total{deployment="web"}[1m]))', target: ${target}}]
`,
  );

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at /, 'no stack trace');
let prom: FakePrometheus;

/** rps: 3 for 20 minutes, then 9; per minute so every value is exact. */
const rpsAt = (s: number) => (Math.floor(s / 60) % 40 < 20 ? 3 : 9);

before(async () => {
  prom = await startFake();
  prom.handle((_req, res, seen) => {
    if (seen.path !== '/api/v1/query_range') return sendJson(res, 404, {});
    const start = Number(seen.params.get('start'));
    const end = Number(seen.params.get('end'));
    const step = Number(seen.params.get('step'));
    const values: Array<[number, string]> = [];
    for (let t = start; t <= end; t += step) values.push([t, String(rpsAt(t))]);
    sendJson(res, 200, success({ resultType: 'matrix', result: [{ metric: {}, values }] }));
  });
});
after(() => prom.close());

test('prints the table in metric units, judged against the target without --capacity', async () => {
  const r = await tidemark(
    'backtest',
    '--policy',
    policy('{type: AverageValue, value: "2"}'),
    '--prometheus',
    prom.url,
    '--since',
    '2h',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^shop\/web rps: 120 minutes from .* in the metric's units; judged against the target 2\/replica/,
  );
  assert.match(r.stdout, /above-target min/);
  for (const s of ['tidemark', 'hpa-default', 'keda-default', 'oracle'])
    assert.match(r.stdout, new RegExp(`^${s} `, 'm'));
  const query = prom.seen.at(-1)!.params.get('query');
  assert.equal(query, 'sum(rate(http_requests_total{deployment="web"}[1m]))', "the policy's own query");
});

test('--trace-out writes the series that simulate replays to the same report', async () => {
  const csv = join(dir, 'series.csv');
  const svg = join(dir, 'plot.svg');
  const p = policy('{type: AverageValue, value: "2"}');
  const report = await backtestJson(
    [
      '--policy',
      p,
      '--prometheus',
      prom.url,
      '--since',
      '3h',
      '--capacity',
      '2.5',
      '--trace-out',
      csv,
      '--plot',
      svg,
    ],
    env,
  );
  assert.equal(report.model.capacityPerReplica, 2.5);
  const rows = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(rows[0], 'minute,requests');
  assert.equal(rows.length, 181);
  assert.ok(rows.slice(1).every((row) => /^\d+,(3|9)$/.test(row)));
  const sim = await simulateSeries(report, csv, p, 2.5, env);
  assert.deepEqual(report.results, sim.results);
  assert.match(readFileSync(svg, 'utf8'), /rps \(metric units\)/);
});

test('bad input is one clear line and exit code 2, never a stack trace', async (t) => {
  const good = policy('{type: AverageValue, value: "2"}');
  const cases: Array<[string, string[], RegExp]> = [
    [
      'unreachable Prometheus',
      ['--policy', good, '--prometheus', 'http://127.0.0.1:9', '--since', '1h'],
      /cannot reach Prometheus/,
    ],
    [
      'address off the allow-list',
      [
        '--policy',
        good,
        '--prometheus',
        prom.url,
        '--since',
        '1h',
        '--allowed-prometheus',
        'http://prometheus.monitoring:9090',
      ],
      /is not on the operator's allow-list \(allowed: http:\/\/prometheus.monitoring:9090\)/,
    ],
    [
      'credentials in the address',
      ['--policy', good, '--prometheus', 'http://u:p@127.0.0.1:9', '--since', '1h'],
      /must not contain credentials/,
    ],
    [
      'bad --since',
      ['--policy', good, '--prometheus', prom.url, '--since', 'a week'],
      /--since must be a duration/,
    ],
    [
      'bad --capacity',
      ['--policy', good, '--prometheus', prom.url, '--since', '1h', '--capacity', '0'],
      /--capacity must be a positive number/,
    ],
    [
      'Value target',
      ['--policy', policy('{type: Value, value: "2"}'), '--prometheus', prom.url, '--since', '1h'],
      /Value target/,
    ],
    [
      'missing policy file',
      ['--policy', join(dir, 'nope.yaml'), '--prometheus', prom.url, '--since', '1h'],
      /cannot read policy file/,
    ],
    [
      'live policy without a cluster',
      ['--policy', 'shop/web', '--prometheus', prom.url, '--since', '1h'],
      /cannot read ScalingPolicy shop\/web/,
    ],
    [
      'bad --format',
      ['--policy', good, '--prometheus', prom.url, '--since', '1h', '--format', 'xml'],
      /--format must be json or table/,
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.test(name, async () => {
      const r = await tidemark('backtest', ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
      noStack(r.stderr);
    });
  }
});

test('a query window shorter than a minute is a warning on stderr: the minute samples miss what it saw', async () => {
  const short = file(
    'policy-30s.yaml',
    `apiVersion: tidemark.dev/v1beta1
kind: ScalingPolicy
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  prometheus: {address: "http://prometheus.monitoring:9090"}
  minReplicas: 1
  maxReplicas: 20
  metrics: [{name: rps, query: 'sum(rate(http_requests_total{deployment="web"}[30s]))', target: {type: AverageValue, value: "2"}}]
`,
  );
  const r = await tidemark('backtest', '--policy', short, '--prometheus', prom.url, '--since', '2h');
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^warning: metric rps's query reads a \[30s\] window, shorter than the backtest's 60 s step: .*peaks/m,
  );
  const minute = await tidemark(
    'backtest',
    '--policy',
    policy('{type: AverageValue, value: "2"}'),
    '--prometheus',
    prom.url,
    '--since',
    '2h',
  );
  assert.doesNotMatch(minute.stderr, /warning:/, 'a [1m] window needs no warning');
});
