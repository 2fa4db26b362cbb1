import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runTidemark, scratch } from '../support/cli.ts';

const { dir, file } = scratch('tidemark-sim-');
const tidemark = (...args: string[]) => runTidemark(args);

const policy = (spec: string) => `apiVersion: tidemark.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: sim}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  prometheus: {address: "http://prom:9090"}
${spec}`;

const goodPolicy = file(
  'good.yaml',
  policy(`  minReplicas: 1
  maxReplicas: 10
  metrics: [{name: rps, query: "q", target: {type: AverageValue, value: "10"}}]
`),
);
const goodTrace = file('t.csv', 'minute,requests\n0,10\n1,10\n2,30\n3,30\n4,10\n');

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at /, 'no stack trace');

test('--format json prints the report in the design shape', async () => {
  const r = await tidemark(
    'simulate',
    '--trace',
    goodTrace,
    '--policy',
    goodPolicy,
    '--capacity',
    '10',
    '--startup-seconds',
    '0',
    '--format',
    'json',
  );
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.trace, { file: 't.csv', minutes: 5 });
  assert.deepEqual(report.model, { capacityPerReplica: 10, startupSeconds: 0, tickSeconds: 15 });
  assert.deepEqual(
    report.results.map((x: { strategy: string }) => x.strategy),
    ['tidemark', 'hpa-default', 'keda-default', 'oracle'],
  );
  for (const x of report.results) {
    assert.deepEqual(Object.keys(x), [
      'strategy',
      'replicaMinutes',
      'underProvisionedMinutes',
      'unservedRequests',
      'scaleEvents',
      'directionReversals',
      'peakReplicas',
    ]);
  }
  assert.equal(report.results[3].replicaMinutes, 9);
});

test('--format table (the default) and --plot write a table and an SVG', async () => {
  const svg = join(dir, 'plot.svg');
  const r = await tidemark(
    'simulate',
    '--trace',
    goodTrace,
    '--policy',
    goodPolicy,
    '--plot',
    svg,
    '--outage',
    '2:1',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /strategy\s+replica-min/);
  assert.match(r.stdout, /hpa-default/);
  assert.match(r.stdout, /scale-downs while the metric was missing/);
  const text = readFileSync(svg, 'utf8');
  assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  for (const name of ['tidemark', 'hpa-default', 'keda-default', 'oracle', 'load'])
    assert.match(text, new RegExp(name));
  assert.equal(r.stderr, '', 'no progress noise when stderr is not a terminal and the run is short');
});

test('an invalid policy file fails with the schema message and field path, exit 2, no stack', async () => {
  const bad = file(
    'bad.yaml',
    policy(`  minReplicas: 1
  maxReplicas: 10
  metrics: [{name: rps, query: "q", target: {type: Average, value: "10"}}]
`),
  );
  const r = await tidemark('simulate', '--trace', goodTrace, '--policy', bad);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /spec\.metrics\[0\]\.target\.type: Unsupported value: "Average"/);
  noStack(r.stderr);
});

test('a malformed trace row fails with its line number, exit 2, no stack', async () => {
  const bad = file('bad.csv', 'minute,requests\n0,1\n1,2\n2,lots\n');
  const r = await tidemark('simulate', '--trace', bad, '--policy', goodPolicy);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.csv:4: requests must be a non-negative number, found "lots"/);
  noStack(r.stderr);
});

test('user mistakes in options exit 2 with one clear message', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--capacity', '0'], /--capacity must be a positive number/],
    [['--startup-seconds', '1.5'], /--startup-seconds must be a non-negative whole number/],
    [['--format', 'xml'], /--format must be json or table/],
    [['--outage', '5'], /--outage must be START_MINUTE:LENGTH_MINUTES/],
    [['--outage', '99:5'], /starts after the trace ends/],
    [['--trace', join(dir, 'missing.csv')], /cannot read trace file/],
  ];
  for (const [args, message] of cases) {
    const base = ['simulate', '--trace', goodTrace, '--policy', goodPolicy];
    const r = await tidemark(...base, ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    noStack(r.stderr);
  }
  const two = file(
    'two.yaml',
    policy(`  maxReplicas: 10
  metrics:
    - {name: a, query: "q", target: {type: AverageValue, value: "10"}}
    - {name: b, query: "q", target: {type: AverageValue, value: "10"}}
`),
  );
  const r = await tidemark('simulate', '--trace', goodTrace, '--policy', two);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exactly one/);
});

test('the shipped benchmark policy is valid', async () => {
  const r = await tidemark('validate', 'examples/nasa-bench.yaml');
  assert.equal(r.code, 0, r.stderr);
});

const flatTrace = file(
  'flat.csv',
  `minute,requests\n${Array.from({ length: 20 }, (_, m) => `${m},50`).join('\n')}\n`,
);

test('a target the capacity cannot serve is a warning in the table and in the JSON report', async () => {
  // 100 requests/minute per replica asked of replicas that serve 10: one replica for a load of 50.
  const overTarget = file(
    'over-target.yaml',
    policy(`  minReplicas: 1
  maxReplicas: 10
  metrics: [{name: rps, query: "q", target: {type: AverageValue, value: "100"}}]
`),
  );
  const args = ['simulate', '--trace', flatTrace, '--policy', overTarget, '--capacity', '10'];
  const table = await tidemark(...args);
  assert.equal(table.code, 0, table.stderr);
  assert.match(
    table.stdout,
    /\nwarning: tidemark, hpa-default and keda-default were under-provisioned for at least half the minutes: the target \(AverageValue 100 per replica\) is above --capacity 10/,
  );
  const json = await tidemark(...args, '--format', 'json');
  const report = JSON.parse(json.stdout);
  assert.equal(report.warnings.length, 1);
  assert.match(report.warnings[0], /under-provisioned for at least half the minutes/);
  assert.ok(report.results && report.extra, 'the existing fields stay');
});

test('a policy with autotune.slo is simulated without it, and the report says so', async () => {
  const withSlo = file(
    'slo.yaml',
    policy(`  minReplicas: 1
  maxReplicas: 10
  metrics: [{name: rps, query: "q", target: {type: AverageValue, value: "10"}}]
  autotune:
    enabled: true
    slo: {metric: rps, latencyQuery: "histogram_quantile(0.9, rate(x_bucket[1m]))", objectiveSeconds: 0.2, minTarget: 5, maxTarget: 50}
`),
  );
  const args = ['simulate', '--trace', flatTrace, '--policy', withSlo, '--capacity', '10'];
  const table = await tidemark(...args);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /\nwarning: autotune\.slo is not simulated .*target stays at 10/);
  const report = JSON.parse((await tidemark(...args, '--format', 'json')).stdout);
  assert.deepEqual(
    report.warnings.map((w: string) => w.slice(0, 26)),
    ['autotune.slo is not simula'],
  );
});

test('a policy the capacity serves has no warnings (an empty list in the JSON report)', async () => {
  const r = await tidemark(
    'simulate',
    '--trace',
    flatTrace,
    '--policy',
    goodPolicy,
    '--capacity',
    '10',
    '--format',
    'json',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).warnings, []);
});

test('--plot with --outage shades the outage in the SVG', async () => {
  const svgFile = join(dir, 'outage.svg');
  const r = await tidemark(
    'simulate',
    '--trace',
    flatTrace,
    '--policy',
    goodPolicy,
    '--capacity',
    '10',
    '--outage',
    '5:3',
    '--plot',
    svgFile,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal([...readFileSync(svgFile, 'utf8').matchAll(/<rect class="outage"/g)].length, 2);
});
