// One run's set-up and tear-down: a namespace of targets and policies, and the warm-up until
// every policy has ticked and written its first status.
import { isNotFound, listPages } from '../../src/kube/api-client.ts';
// The storage version: a v1alpha1 write would go through the conversion webhook, which is
// not what a user of this release sends, and would load the sandbox's webhook besides.
import { POLICY_API_VERSION } from '../../src/reconciler/reconciler.ts';
import type { RunSpec } from './config.ts';
import { CREATE_CONCURRENCY, kube, log, sleep, TARGET, WARMUP_INTERVALS } from './config.ts';
import { round } from './figures.ts';
import { create, type Exporter, policyOf, pool, SERIES, targetOf, WIDGET_GROUP } from './load.ts';
import { type Operator, scrapeAll, total } from './operator.ts';
import { promQuery, sum, waitFor } from './samples.ts';

/** The namespace, its targets and policies, and their series in Prometheus; returns the seconds it took. */
export async function setUp(spec: RunSpec, exporter: Exporter): Promise<number> {
  const { ns, policies: n, label } = spec;
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  if (TARGET === 'deployment') {
    await waitFor('the default ServiceAccount', 60_000, async () =>
      (await kube({ method: 'GET', path: `/api/v1/namespaces/${ns}/serviceaccounts/default` }))
        ? true
        : undefined,
    );
  }

  exporter.set(ns, n);
  const created0 = performance.now();
  const refs: Array<Record<string, string>> = [];
  await pool(n, CREATE_CONCURRENCY, async (i) => {
    const t = targetOf(ns, i);
    refs[i] = t.ref;
    await create(t.path, t.body);
  });
  log(`${label}: ${n} ${TARGET}s in ${((performance.now() - created0) / 1000).toFixed(1)} s`);
  await pool(n, CREATE_CONCURRENCY, (i) =>
    create(
      `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
      policyOf(ns, i, refs[i]!, spec.intervalSeconds),
    ),
  );
  const createSeconds = (performance.now() - created0) / 1000;
  log(`${label}: ${n} targets + ${n} policies in ${createSeconds.toFixed(1)} s`);

  await waitFor(`Prometheus to hold ${n} series of ${ns}`, 120_000, async () => {
    const c = await promQuery(`count(${SERIES}{bench_namespace="${ns}"})`);
    return c === n ? c : undefined;
  });
  return createSeconds;
}

export async function tearDown(spec: RunSpec): Promise<void> {
  const { ns, label } = spec;
  log(`${label}: deleting namespace ${ns}`);
  const cleanup0 = performance.now();
  // Delete the policies and targets as collections first: quicker than the namespace
  // controller's one-by-one walk, and the next size starts on a quiet API server.
  for (const path of [
    `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
    TARGET === 'widget'
      ? `/apis/${WIDGET_GROUP}/v1/namespaces/${ns}/widgets`
      : `/apis/apps/v1/namespaces/${ns}/deployments`,
  ]) {
    await kube({ method: 'DELETE', path, timeoutMs: 600_000 }).catch((err: unknown) =>
      log(`delete ${path}: ${String(err)}`),
    );
  }
  await kube({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => {});
  await waitFor(
    `namespace ${ns} to go`,
    600_000,
    async () => {
      try {
        await kube({ method: 'GET', path: `/api/v1/namespaces/${ns}` });
        return undefined;
      } catch (err) {
        return isNotFound(err) ? true : undefined;
      }
    },
    2000,
  ).catch((err: unknown) => log(String(err)));
  log(`${label}: cleaned up in ${((performance.now() - cleanup0) / 1000).toFixed(0)} s`);
}

/**
 * Warm-up: the first ticks are spread over one interval, and each writes the first status.
 * Becoming leader (or a member) queues every policy at once (a quick failover), and each first
 * tick writes the first status: warm once every policy has written it and the queue has
 * drained, that is the last interval ran as many ticks as were due in it, ±5 % (at most
 * WARMUP_INTERVALS). Over every operator of the run: a sharding group's sums.
 */
export async function warmUp(spec: RunSpec, ops: Operator[], notes: string[]): Promise<void> {
  const { policies: n, label } = spec;
  await waitFor(
    `${ops.length} operator(s) to act and watch ${n} policies`,
    300_000,
    async () => {
      const scrapes = await scrapeAll(ops);
      const acting = scrapes.every(
        (s) => sum(s.samples, 'tidemark_leader') === 1 && sum(s.samples, 'tidemark_policies_watched') === n,
      );
      const owned = !spec.sharded || total(scrapes, 'tidemark_shard_policies') === n;
      return acting && owned ? true : undefined;
    },
    2000,
  );
  await sleep(spec.intervalSeconds * 1000);
  let prev = await scrapeAll(ops);
  let prevAt = performance.now();
  for (let i = 0; i < WARMUP_INTERVALS; i++) {
    await sleep(spec.intervalSeconds * 1000);
    const cur = await scrapeAll(ops);
    let written = total(cur, 'tidemark_status_writes_total', (l) => l.outcome === 'written');
    const ticks =
      total(cur, 'tidemark_tick_duration_seconds_count') -
      total(prev, 'tidemark_tick_duration_seconds_count');
    // Scraping a loaded operator takes seconds: the ticks due are those of the time that passed.
    const due = (n * (performance.now() - prevAt)) / 1000 / spec.intervalSeconds;
    prev = cur;
    prevAt = performance.now();
    // A write abandoned at its deadline may still have landed (the operator then finds the
    // status in place and does not write it again): ask the API server which have one.
    if (written < n) written = await policiesWithStatus(spec.ns);
    // Below 0.95 of the due ticks the operator is not keeping up (a queue is growing), above
    // 1.05 it is draining one.
    if (written >= n && ticks >= 0.95 * due && ticks <= 1.05 * due) return;
    log(
      `${label}: warm-up: ${written}/${n} policies with a status, ${ticks} ticks in the last ${round(due / n, 1)} intervals`,
    );
  }
  notes.push(
    `not settled after ${WARMUP_INTERVALS} warm-up intervals: ticks per interval never matched the ${n} due`,
  );
}

/** How many policies of the namespace have a status (Ready set), listed in pages. */
export async function policiesWithStatus(ns: string): Promise<number> {
  type Policy = { status?: { conditions?: unknown[] } };
  let count = 0;
  const path = `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`;
  for await (const page of listPages<Policy>(kube, path, 1000, 60_000)) {
    count += page.items.filter((p) => p.status?.conditions?.length).length;
  }
  return count;
}
