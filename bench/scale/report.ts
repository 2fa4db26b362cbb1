// The report: growth over the sizes, the goals, and scale.md.
import { BESIDE, GOALS, OPERATOR_NODE_OPTIONS } from './config.ts';
import { round, row, sandboxTotal } from './figures.ts';
import { heapMarkdown, heapRuns } from './heap-report.ts';
import type { machine } from './host.ts';
import { LOAD, SERIES } from './load.ts';
import { deployedNodeOptions } from './operator.ts';
import { projectionMarkdown, type projectionOf } from './projection.ts';
import type { ShardedResult } from './sharded.ts';
import type { SizeResult } from './size.ts';

export function growth(results: SizeResult[]) {
  const base = results[0]!;
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? null : round(a / b, 2);
  return results.map((r) => ({
    policies: r.policies,
    size: round(r.policies / base.policies, 2),
    operatorCpu: ratio(r.operator.cpuCores, base.operator.cpuCores),
    peakRss: ratio(r.operator.peakRssMiB, base.operator.peakRssMiB),
    p99: ratio(r.ticks.p99Seconds, base.ticks.p99Seconds),
    prometheusQps: ratio(r.prometheus.queriesPerSecond, base.prometheus.queriesPerSecond),
    apiserverRps: ratio(r.apiserver.requestsPerSecond, base.apiserver.requestsPerSecond),
  }));
}

export function goals(results: SizeResult[]) {
  const at = results.find((r) => r.policies === GOALS.policies) ?? results.at(-1)!;
  const g = (ok: boolean, value: string, goal: string) => ({ met: ok, value, goal });
  return {
    evaluatedAt: at.policies,
    ...(at.policies !== GOALS.policies
      ? { caveat: `no ${GOALS.policies}-policy run: evaluated at ${at.policies}` }
      : {}),
    cpu: g(
      at.operator.cpuCores < GOALS.cpuCores,
      `${at.operator.cpuCores} cores`,
      `< ${GOALS.cpuCores} core`,
    ),
    memory: g(
      at.operator.peakRssMiB < GOALS.rssMiB,
      `${at.operator.peakRssMiB} MiB peak RSS`,
      `< ${GOALS.rssMiB} MiB`,
    ),
    p99: g(
      at.ticks.p99Seconds !== null &&
        at.ticks.p99Seconds < GOALS.p99Seconds &&
        (at.ticks.within2s ?? 0) >= 0.99,
      `${at.ticks.p99Seconds} s (${round((at.ticks.within2s ?? 0) * 100, 2)} % of ticks ≤ 2 s)`,
      `< ${GOALS.p99Seconds} s`,
    ),
    statusWrites: g(
      at.statusWrites.window === GOALS.statusWrites,
      `${at.statusWrites.window} in ${at.windowSeconds} s`,
      '0 when nothing changed',
    ),
  };
}

/** What ran beside a run: SCALE_BESIDE, and the load average before it (2 cores: above 1 means other work). */
export function besideNote(loadAverageBefore: number[]): string {
  return `${BESIDE || 'not said'} (load average before ${loadAverageBefore[0]})`;
}

export function shardedMarkdown(report: Report): string[] {
  if (report.shardedFailed) {
    return ['## Sharded run', '', `${report.shardedFailed.spec} failed: ${report.shardedFailed.error}`, ''];
  }
  const s = report.sharded;
  if (!s) return [];
  const o = s.ownership;
  return [
    `## Sharded run: ${s.replicas} replicas × ${s.policies.toLocaleString('en')} policies at ${s.intervalSeconds} s`,
    '',
    `Every replica \`bin/tidemark.js run --sharding on --identity <its own>\` (docs/sharding.md), the same targets and policies as above but polled every ${s.intervalSeconds} s; ` +
      `warm-up ${s.warmupSeconds} s, window ${s.windowSeconds} s. Owned: \`tidemark_shard_policies\` at the end of the window; ` +
      `hash: what rendezvous hashing gives each identity over the policies' real uids.`,
    '',
    row([
      'replica',
      'owned policies',
      'hash',
      'members seen',
      'CPU (cores)',
      'peak RSS (MiB)',
      'ticks / due',
      'tick p50 (s)',
      'tick p99 (s)',
      'Prometheus queries/s',
      'API requests/s',
      'status writes',
      'ran beside',
    ]),
    row(Array(13).fill('---')),
    ...s.perReplica.map((p) =>
      row([
        p.identity,
        p.ownedPolicies,
        p.expectedPolicies,
        p.membersSeen,
        p.cpuCores,
        p.peakRssMiB,
        `${p.ticks.count} / ${p.ticks.expected}`,
        p.ticks.p50Seconds,
        p.ticks.p99Seconds,
        p.prometheusQueriesPerSecond,
        p.apiRequestsPerSecond,
        p.statusWrites,
        besideNote(s.loadAverageBefore),
      ]),
    ),
    '',
    `- ownership: ${o.sum} of ${s.policies} owned; every policy by exactly one replica: ${o.exactlyOnce ? 'yes' : 'NO'}; ` +
      `balance min ${o.min} / max ${o.max} against a fair share of ${o.fairShare} (${o.minOfFair}–${o.maxOfFair} of it)`,
    `- totals over the window: operators ${s.totals.operatorCpuCores} cores; ticks ${s.totals.ticks} / ${s.totals.ticksDue} due; ` +
      `Prometheus ${s.totals.prometheusQueriesPerSecond} queries/s; API server ${s.totals.apiserver.requestsPerSecond} req/s ` +
      `(${s.totals.apiserver.leaseRequestsPerSecond} of them on Leases); status writes ${s.totals.statusWritesWindow}; scale patches ${s.totals.scalingActions}`,
    `- sandbox ${sandboxTotal(s)} cores; machine ${s.machineBusyCores} cores busy; load average before ${s.loadAverageBefore.join(', ')}` +
      (s.notes.length ? `; notes: ${s.notes.join('; ')}` : ''),
    '',
    ...projectionMarkdown(s.projection),
  ];
}

export function markdown(report: Report): string {
  const { machine: m, results: rs } = report;
  const lines = [
    '# Scale benchmark',
    '',
    `Generated by \`make bench-scale\` (bench/scale.ts) on ${report.date}, commit ${m.commit}.`,
    '',
    '## Machine',
    '',
    `- ${m.nproc} CPUs (\`nproc\`), ${m.memoryGiB} GiB memory, ${m.cpuModel}`,
    `- ${m.kernel}; Node.js ${m.node}`,
    `- versions: ${Object.entries(report.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- load average (1, 5, 15 min) at start: ${report.loadAverageAtStart.join(', ')}` +
      (report.loadAverageAtStart[0]! > 0.5 * m.nproc
        ? ' — the machine was busy with other work (other test runs), which the figures below include'
        : ''),
    `- everything (sandbox, operator, exporter) shares these ${m.nproc} cores` +
      (BESIDE ? `; **beside this run: ${BESIDE}**` : ''),
    ...(OPERATOR_NODE_OPTIONS.length
      ? [`- operator node options: \`${OPERATOR_NODE_OPTIONS.join(' ')}\``]
      : []),
    '',
    '## Setup',
    '',
    `- targets: ${report.settings.target === 'widget' ? 'Widget, a tiny custom resource with a scale subresource (see bench/scale.ts for why not Deployments)' : 'Deployments with 1 replica on KWOK nodes'}`,
    `- every policy: one AverageValue metric, its own series \`${SERIES}{policy=...}\` (constant ${LOAD} vs target 100, so 1 replica stays right and nothing changes), polling interval ${report.settings.intervalSeconds} s, Active mode, Level 5 off`,
    `- operator: \`bin/tidemark.js run --max-concurrent-ticks ${report.settings.maxConcurrentTicks}\` with \`NODE_OPTIONS=${deployedNodeOptions()}\` (the install manifests'); window ${report.settings.measureSeconds} s after warm-up (every policy ticked and wrote its first status)`,
    '',
    '## Results',
    '',
    row([
      'policies',
      'operator CPU (cores)',
      'peak RSS (MiB)',
      'tick p50 (s)',
      'tick p99 (s)',
      'ticks ≤ 2 s',
      'ticks / due',
      'Prometheus queries/s',
      'API server req/s',
      'status writes (window)',
      'scale patches',
      'sandbox CPU (cores)',
      'machine busy (cores)',
      'ran beside',
    ]),
    row(Array(14).fill('---')),
    ...rs.map((r) =>
      row([
        r.policies,
        r.operator.cpuCores,
        r.operator.peakRssMiB,
        r.ticks.p50Seconds,
        r.ticks.p99Seconds,
        r.ticks.within2s === null ? null : `${round(r.ticks.within2s * 100, 2)} %`,
        `${r.ticks.count} / ${r.ticks.expected}`,
        r.prometheus.queriesPerSecond,
        r.apiserver.requestsPerSecond,
        r.statusWrites.window,
        r.scalingActions,
        round(
          Object.values(r.sandboxCpuCores).reduce((a, b) => a + b, 0),
          2,
        ),
        r.machineBusyCores,
        besideNote(r.loadAverageBefore),
      ]),
    ),
    '',
    '### Growth relative to the smallest size',
    '',
    row([
      'policies',
      '× policies',
      '× operator CPU',
      '× peak RSS',
      '× p99',
      '× Prometheus q/s',
      '× API server req/s',
    ]),
    row(Array(7).fill('---')),
    ...report.growth.map((g) =>
      row([g.policies, g.size, g.operatorCpu, g.peakRss, g.p99, g.prometheusQps, g.apiserverRps]),
    ),
    '',
    '### Sandbox CPU by process (cores, over the window)',
    '',
    row(['policies', ...Object.keys(rs[0]!.sandboxCpuCores)]),
    row(Array(Object.keys(rs[0]!.sandboxCpuCores).length + 1).fill('---')),
    ...rs.map((r) => row([r.policies, ...Object.values(r.sandboxCpuCores)])),
    '',
    '### API server requests per second by verb (whole API server, all clients)',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: ${Object.entries(r.apiserver.byVerb)
          .filter(([, v]) => v > 0)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; busiest: ${r.apiserver.top
          .slice(0, 4)
          .map((t) => `${t.verb} ${t.resource}${t.subresource ? `/${t.subresource}` : ''} ${t.perSecond}`)
          .join(', ')}`,
    ),
    '',
    '### API client',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: limit ${r.apiClient.qps}/s (burst ${r.apiClient.burst}); the operator sent ${r.apiClient.requestsPerSecond}/s in the window, ` +
        `${r.apiClient.warmupRequestsPerSecond}/s during warm-up; ${r.apiClient.clientWaits} requests waited for the limit ` +
        `(${r.apiClient.clientWaitSeconds} s in all); ${r.apiClient.http429} answered 429`,
    ),
    '',
    '### Other figures',
    '',
    ...rs.map(
      (r) =>
        `- ${r.policies}: created ${2 * r.policies} objects in ${r.createSeconds} s (${r.createPerSecond}/s); warm-up ${r.warmupSeconds} s; ` +
        `status writes during warm-up ${r.statusWrites.warmup}; metric errors ${r.metricErrors}; Prometheus query errors ${r.prometheus.queryErrors}; ` +
        `operator's own query count ${r.prometheus.operatorQueriesPerSecond}/s, their latency p50/p99 ${r.prometheus.queryP50Seconds}/${r.prometheus.queryP99Seconds} s; ` +
        `API server time for GET scale p50/p99 ${r.apiserver.getScaleP50Seconds}/${r.apiserver.getScaleP99Seconds} s; its /metrics is ${round(r.operator.metricsBytes / 1e6, 1)} MB and took ${r.operator.metricsScrapeMs} ms; ` +
        `operator memory at the window's end: RSS ${r.operator.rssMiB} MiB, V8 heap ${r.operator.heapUsedMiB} used of ${r.operator.heapTotalMiB} MiB ` +
        `(by space, reserved / used MiB: ${Object.entries(r.operator.spaces ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}), external ${r.operator.externalMiB} MiB; ` +
        `load average before ${r.loadAverageBefore.join(', ')}${r.notes.length ? `; notes: ${r.notes.join('; ')}` : ''}`,
    ),
    '',
    ...heapMarkdown(heapRuns(rs, report.sharded), besideNote),
    `## Goals at ${GOALS.policies.toLocaleString('en')} policies`,
    '',
    ...(report.goals.caveat ? [`(${report.goals.caveat})`, ''] : []),
    row(['goal', 'target', 'measured', 'met']),
    row(['---', '---', '---', '---']),
    ...(['cpu', 'memory', 'p99', 'statusWrites'] as const).map((k) => {
      const g = report.goals[k];
      return row([k, g.goal, g.value, g.met ? 'yes' : 'NO']);
    }),
    '',
    ...shardedMarkdown(report),
  ];
  if (report.reading) lines.push('## Reading', '', report.reading, '');
  return lines.join('\n');
}

export interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  versions: Record<string, string>;
  loadAverageAtStart: number[];
  settings: Record<string, unknown> & {
    target: string;
    intervalSeconds: number;
    maxConcurrentTicks: number;
    measureSeconds: number;
  };
  results: SizeResult[];
  failed?: { policies: number; error: string };
  sharded?: ShardedResult & { projection: ReturnType<typeof projectionOf> };
  shardedFailed?: { spec: string; error: string };
  growth: ReturnType<typeof growth>;
  goals: ReturnType<typeof goals>;
  reading?: string;
}
