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
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import {
  apply,
  createNamespace,
  deleteNamespace,
  deployment,
  NODE,
  REPO,
  scalingPolicy,
} from '../e2e/support.ts';
import { installCrd } from '../security/support.ts';
import { NO_SANDBOX, sandboxAvailable, sandboxEnv, waitFor } from '../support/sandbox.ts';

const skip = sandboxAvailable() ? false : NO_SANDBOX;
const run = promisify(execFile);
const MIN = 60_000;

async function tidemark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(NODE, [join(REPO, 'bin/tidemark.js'), ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tidemark backtest against the sandbox Prometheus', { skip }, () => {
  const namespace = `backtest-it-${process.pid}`;
  const name = 'web';
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-backtest-it-'));
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
    policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, stringify(policy));
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
    const csv = join(dir, 'series.csv');
    const svg = join(dir, 'backtest.svg');
    const b = await tidemark(
      'backtest',
      '--policy',
      policyFile,
      '--prometheus',
      prometheus,
      '--since',
      '5m',
      '--capacity',
      '40',
      '--format',
      'json',
      '--trace-out',
      csv,
      '--plot',
      svg,
    );
    assert.equal(b.code, 0, b.stderr);
    const report = JSON.parse(b.stdout);
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

    const s = await tidemark(
      'simulate',
      '--trace',
      csv,
      '--policy',
      policyFile,
      '--capacity',
      '40',
      '--format',
      'json',
      '--start-time',
      report.extra.backtest.from,
      ...(report.extra.outages ?? []).flatMap((o: { startMinute: number; lengthMinutes: number }) => [
        '--outage',
        `${o.startMinute}:${o.lengthMinutes}`,
      ]),
    );
    assert.equal(s.code, 0, s.stderr);
    const sim = JSON.parse(s.stdout);
    assert.deepEqual(report.results, sim.results);
    assert.deepEqual(report.model.startupSeconds, sim.model.startupSeconds);
    assert.equal(report.trace.minutes, sim.trace.minutes);
    assert.match(readFileSync(svg, 'utf8'), /<svg/);
  });

  it('reads a live ScalingPolicy and, without --capacity, measures against its target', async () => {
    const b = await tidemark(
      'backtest',
      '--policy',
      `${namespace}/${name}`,
      '--prometheus',
      prometheus,
      '--since',
      '5m',
      '--format',
      'json',
    );
    assert.equal(b.code, 0, b.stderr);
    const report = JSON.parse(b.stdout);
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
    const broken = join(dir, 'broken.yaml');
    const policy = scalingPolicy(namespace, name, {
      metrics: [
        {
          name: 'rps',
          query: 'sum(rate(http_requests_total[1m]',
          target: { type: 'AverageValue', value: '30' },
        },
      ],
    });
    writeFileSync(broken, stringify(policy));
    const r = await tidemark('backtest', '--policy', broken, '--prometheus', prometheus, '--since', '5m');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /failed \(bad-query\): Prometheus rejected the query \(HTTP 400\)/);
    const none = join(dir, 'none.yaml');
    const empty = scalingPolicy(namespace, name, {
      metrics: [
        {
          name: 'rps',
          query: 'sum(rate(no_such_metric_total[1m]))',
          target: { type: 'AverageValue', value: '30' },
        },
      ],
    });
    writeFileSync(none, stringify(empty));
    const e = await tidemark('backtest', '--policy', none, '--prometheus', prometheus, '--since', '5m');
    assert.equal(e.code, 2);
    assert.match(e.stderr, /metric rps has no samples from/);
    assert.doesNotMatch(r.stderr + e.stderr, /\n\s+at /);
  });
});
