// `make bench-scale`: the operator at 1,000, 5,000 and 10,000 ScalingPolicies (issue 7, item 4).
//
// Runs inside a sandbox (sandbox/with-sandbox.sh sources its env.sh). For each size N:
//   1. a fresh namespace with N targets and N policies, created through the API with bounded
//      concurrency; every policy queries its own Prometheus series, served by a static exporter
//      in this process and registered through the sandbox's file_sd directory;
//   2. the operator (`bin/tidemark.js run`) as a child process, 15 s polling interval;
//   3. after a warm-up (every policy has ticked and written its first status), a window of a few
//      intervals in which the metric values do not move, so an operator that writes nothing when
//      nothing changed shows zero status writes and zero scaling actions;
//   4. figures over the window: operator CPU (/proc/<pid>/stat) and peak RSS (VmHWM), tick
//      latency (tidemark_tick_duration_seconds: due time to decision), Prometheus queries/s (its
//      own prometheus_http_requests_total), API server requests/s by verb and resource
//      (apiserver_request_total), status writes, and the CPU of every sandbox process, so that
//      where the sandbox is the limit it shows;
//   5. the operator is stopped and the namespace deleted before the next size.
//
// Then one sharded run (--sharded, SCALE_SHARDED, "3x5000@60": 3 replicas, 5,000 policies, 60 s
// polling; "none" or empty skips it): the same set-up at that interval, R operators with
// `--sharding on` (docs/sharding.md), each a member of one group under its own --identity, and
// the same window, with figures per replica (CPU, peak RSS, owned policies from
// tidemark_shard_policies, ticks run vs due for its share, tick p50/p99) and totals. The owned
// shares are checked against the hash of the policies' real uids (src/operator/shards.ts): every
// policy owned by exactly one replica. scale.md then projects the per-replica figures to 100,000
// policies (bench/projection.ts; a projection, not a measurement).
//
// Targets: by default a tiny custom resource with a scale subresource (kind Widget), not a
// Deployment. The operator does the same work for both (discovery, GET and PATCH of `scale`),
// but 10,000 one-replica Deployments mean 10,000 ReplicaSets and Pods as well: the sandbox's 3
// KWOK nodes hold 110 pods each, and on 2 cores the controller-manager, scheduler and KWOK churn
// would be measured instead of the operator. `--target deployment` (SCALE_TARGET) uses
// Deployments for small sizes (raise TIDEMARK_NODES: N/110 nodes).
//
// --max-concurrent-ticks is 256, not the operator's default 32: ticks wait on I/O (the PromQL
// query; the target comes from a watch), so throughput is about slots / tick latency, and
// 10,000 policies at 15 s need 667 ticks/s; with 32 slots each tick would have to finish in
// 48 ms on a loaded 2-core machine (at 2,000 policies with 32 slots the queue never drained).
//
// Options (flags or environment): --sizes (SCALE_SIZES, "1000,5000,10000"), --target
// (SCALE_TARGET, widget|deployment), --interval (SCALE_INTERVAL_SECONDS, 15), --measure-intervals
// (SCALE_MEASURE_INTERVALS, 4), --max-concurrent-ticks (SCALE_MAX_CONCURRENT_TICKS, 256),
// --create-concurrency (SCALE_CREATE_CONCURRENCY, 32), --sharded (SCALE_SHARDED), --out (SCALE_OUT, bench/results),
// --kube-api-qps / --kube-api-burst (SCALE_KUBE_API_QPS / _BURST): the operator's client-side API
// limit; by default two requests per policy per interval, at least the operator's own 50/100.
// In steady state a policy that changes nothing sends nothing (targets come from watches); the
// limit is sized for the warm-up, where every policy writes its first status, so the figures
// show the operator under its limit rather than starved by it.
// With a smaller QPS the "API client" line shows the requests/s staying under it and the waits.
//
// The parts, in bench/scale/: config (settings, sandbox, API client), host (machine, processes,
// versions), samples (reading /metrics and PromQL), load (series, targets, policies), operator
// (the processes under test), setup, measure (the window and a whole run), figures, size, sharded,
// projection and report (scale.json, scale.md).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { POLICY_API_VERSION } from '../src/reconciler/reconciler.ts';
import {
  args,
  CREATE_CONCURRENCY,
  INTERVAL_S,
  KUBECTL,
  kube,
  log,
  MAX_TICKS,
  MEASURE_INTERVALS,
  OUT,
  REPO,
  SHARDED,
  SIZES,
  TARGET,
  TARGETS_DIR,
} from './scale/config.ts';
import { machine, versions } from './scale/host.ts';
import { create, EXPORTER_JOB, Exporter, WIDGET_CRD, WIDGET_GROUP } from './scale/load.ts';
import { projectionOf } from './scale/projection.ts';
import { goals, growth, markdown, type Report } from './scale/report.ts';
import { waitFor } from './scale/samples.ts';
import { runSharded, type ShardedResult } from './scale/sharded.ts';
import { runSize, type SizeResult } from './scale/size.ts';

// --- main ----------------------------------------------------------------------------------------

async function main() {
  const loadAverageAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  log(`sizes ${SIZES.join(', ')}; target ${TARGET}; load average ${loadAverageAtStart.join(' ')}`);
  execFileSync(KUBECTL, ['apply', '-f', join(REPO, 'crds')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (TARGET === 'widget') {
    await create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
  }
  for (const gv of [`/apis/${POLICY_API_VERSION}`, `/apis/${WIDGET_GROUP}/v1`]) {
    await waitFor(`${gv} to be served`, 60_000, async () =>
      (await kube({ method: 'GET', path: gv })) ? true : undefined,
    );
  }

  const exporter = new Exporter();
  const port = await exporter.listen();
  const sdFile = join(TARGETS_DIR, `${EXPORTER_JOB}.json`);
  writeFileSync(sdFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: EXPORTER_JOB } }]));

  const results: SizeResult[] = [];
  let failed: Report['failed'];
  let sharded: ShardedResult | undefined;
  let shardedFailed: Report['shardedFailed'];
  try {
    for (const n of SIZES) {
      try {
        results.push(await runSize(n, exporter));
      } catch (err) {
        failed = { policies: n, error: err instanceof Error ? err.message : String(err) };
        log(`N=${n} failed: ${failed.error}`);
        break;
      }
    }
    if (SHARDED && !failed) {
      try {
        sharded = await runSharded(SHARDED, exporter);
      } catch (err) {
        shardedFailed = { spec: args.sharded, error: err instanceof Error ? err.message : String(err) };
        log(`sharded ${args.sharded} failed: ${shardedFailed.error}`);
      }
    }
  } finally {
    exporter.close();
    rmSync(sdFile, { force: true });
  }
  if (results.length === 0) throw new Error(`no size completed: ${failed?.error}`);

  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: await versions(),
    loadAverageAtStart,
    settings: {
      target: TARGET,
      sizes: SIZES,
      intervalSeconds: INTERVAL_S,
      measureSeconds: INTERVAL_S * MEASURE_INTERVALS,
      sharded: SHARDED ?? null,
      maxConcurrentTicks: MAX_TICKS,
      createConcurrency: CREATE_CONCURRENCY,
      scrapeInterval: process.env.TIDEMARK_SCRAPE_INTERVAL ?? '5s',
    },
    results,
    ...(failed ? { failed } : {}),
    ...(sharded ? { sharded: { ...sharded, projection: projectionOf(sharded, results) } } : {}),
    ...(shardedFailed ? { shardedFailed } : {}),
    growth: growth(results),
    goals: goals(results),
  };
  const readingFile = join(OUT, 'scale-reading.md');
  try {
    // A person's reading of the figures, kept beside them and carried into scale.md.
    report.reading = readFileSync(readingFile, 'utf8').trim();
  } catch {}
  mkdirSync(OUT, { recursive: true });
  const { reading: _r, ...json } = report;
  writeFileSync(join(OUT, 'scale.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = markdown(report);
  writeFileSync(join(OUT, 'scale.md'), md);
  process.stdout.write(`${md}\n`);
  log(`wrote ${join(OUT, 'scale.json')} and ${join(OUT, 'scale.md')}`);
  if (failed) {
    log(`stopped at ${failed.policies} policies: ${failed.error}`);
    process.exitCode = 1;
  }
  if (shardedFailed || (sharded && !sharded.ownership.exactlyOnce)) process.exitCode = 1;
}

await main();
