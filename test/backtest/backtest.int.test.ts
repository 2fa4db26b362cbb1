/**
 * `tidemark backtest` against the sandbox's real Prometheus, on a workload whose
 * history is known: the workload simulator serves a step profile pinned to a
 * minute boundary M0 (20 rps for the minute after M0, then 80 rps), its per-pod
 * http_requests_total is scraped, and the backtest reads the policy's own
 * `sum(rate(...[1m]))` back. The replayed minutes must match the profile within
 * what scraping allows, and the report must equal `tidemark simulate` on the
 * same series written as a CSV.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { apply, createNamespace, deleteNamespace, deployment, scalingPolicy } from '../e2e/support.ts';
import { installCrd } from '../security/support.ts';
import { runTidemark, scratch } from '../support/cli.ts';
import { NO_SANDBOX, sandboxAvailable, sandboxEnv, waitFor } from '../support/sandbox.ts';
import { backtestJson, simulateSeries } from './helpers.ts';

const skip = sandboxAvailable() ? false : NO_SANDBOX;
const MIN = 60_000;
const tidemark = (...args: string[]) => runTidemark(args);

describe('tidemark backtest against the sandbox Prometheus', { skip }, () => {
  const namespace = `backtest-it-${process.pid}`;
  const name = 'web';
  const { dir, file } = scratch('tidemark-backtest-it-');
  const query = `sum(rate(http_requests_total{namespace="${namespace}",deployment="${name}"}[1m]))`;
  let m0 = 0;
  let policyFile = '';
  let prometheus = '';

  before(async () => {
    prometheus = sandboxEnv().prometheusUrl;
    await installCrd();
    await createNamespace(namespace);
    // A minute boundary at least 30 s away, so every pod is ready and scraped before it.
    m0 = Math.ceil((Date.now() + 30_000) / MIN) * MIN;
    const d = deployment(namespace, name, 2, 20);
    d.metadata.labels['tidemark.dev/load-profile'] = 'step';
    Object.assign(d.metadata.annotations, {
      'tidemark.dev/load': 'before=20,after=80,atSeconds=60',
      'tidemark.dev/load-start': new Date(m0).toISOString(),
    });
    const policy = scalingPolicy(namespace, name, {
      metrics: [{ name: 'rps', query, target: { type: 'AverageValue', value: '30' } }],
    });
    await apply([d, policy]);
    policyFile = file('policy.yaml', stringify(policy));
    // Two known minutes after M0, plus time for the last scrape to land.
    await waitFor(() => Date.now() >= m0 + 2 * MIN + 3 * sandboxEnv().scrapeIntervalMs, {
      timeoutMs: 5 * MIN,
      intervalMs: 1000,
      what: 'two minutes of the known profile',
    });
  });

  after(async () => {
    await deleteNamespace(namespace);
  });

  it('replays the known profile, and its report equals simulate on the same series', async () => {
    const csv = `${dir}/series.csv`;
    const svg = `${dir}/backtest.svg`;
    const report = await backtestJson([
      '--policy',
      policyFile,
      '--prometheus',
      prometheus,
      '--since',
      '5m',
      '--capacity',
      '40',
      '--trace-out',
      csv,
      '--plot',
      svg,
    ]);
    const from = Date.parse(report.extra.backtest.from);
    const load = readFileSync(csv, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((r) => Number(r.split(',')[1]));
    const minuteAt = (ms: number) => load[(ms - from) / MIN];
    // rate() over 12 scrapes of a counter that advances each second: within 10 %.
    const near = (v: number | undefined, want: number) =>
      assert.ok(v !== undefined && Math.abs(v - want) <= 0.1 * want, `${v} is within 10 % of ${want}`);
    near(minuteAt(m0), 20);
    near(minuteAt(m0 + MIN), 80);
    assert.equal(report.trace.minutes, load.length);

    const sim = await simulateSeries(report, csv, policyFile, 40);
    assert.deepEqual(report.results, sim.results);
    assert.equal(report.model.startupSeconds, sim.model.startupSeconds);
    assert.equal(report.trace.minutes, sim.trace.minutes);
    assert.match(readFileSync(svg, 'utf8'), /<svg/);
  });

  it('reads a live ScalingPolicy and, without --capacity, measures against its target', async () => {
    const report = await backtestJson([
      '--policy',
      `${namespace}/${name}`,
      '--prometheus',
      prometheus,
      '--since',
      '5m',
    ]);
    assert.equal(report.model.basis, 'target');
    assert.equal(report.model.capacityPerReplica, null);
    assert.equal(report.extra.backtest.policy, `${namespace}/${name}`);
    const oracle = report.results.find((r: { strategy: string }) => r.strategy === 'oracle');
    // 80 rps at 30 per replica: the fewest replicas that keep every minute at target.
    assert.equal(oracle.peakReplicas, 3);
    assert.equal(oracle.minutesAboveTarget, 0);
    assert.ok('minutesAboveTarget' in report.results[0] && !('underProvisionedMinutes' in report.results[0]));
  });

  it('a query the real Prometheus rejects, and one with no history, are clear errors', async () => {
    const cases: Array<[string, RegExp]> = [
      // Well-formed PromQL that Prometheus still refuses (rate() needs a range): only the server knows.
      ['sum(rate(http_requests_total))', /failed \(bad-query\): Prometheus rejected the query \(HTTP 400\)/],
      // A syntax error never reaches Prometheus: the policy check parses every query first.
      ['sum(rate(http_requests_total[1m]', /spec\.metrics\[0\]\.query: Invalid value: .*PromQL: /],
      ['sum(rate(no_such_metric_total[1m]))', /metric rps has no samples from/],
    ];
    for (const [query, message] of cases) {
      const policy = scalingPolicy(namespace, name, {
        metrics: [{ name: 'rps', query, target: { type: 'AverageValue', value: '30' } }],
      });
      const r = await tidemark(
        'backtest',
        '--policy',
        file('bad.yaml', stringify(policy)),
        '--prometheus',
        prometheus,
        '--since',
        '5m',
      );
      assert.equal(r.code, 2, query);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
