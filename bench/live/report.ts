// bench/results/live.md and the pictures, from the run's results.
import { renderSvg } from '../../src/simulate/plot.ts';
import type { Series, StrategyName } from '../../src/simulate/simulate.ts';
import type { FaultOutcome, FaultWindow } from './faults.ts';
import {
  type LoadSample,
  loadAt,
  type Measures,
  type Reaction,
  type ReplicaPoint,
  stateAt,
} from './measure.ts';
import type { liveClocks } from './plan.ts';
import type { Comparison, Predicted } from './predict.ts';

export interface StretchRow {
  arm: string;
  label: string;
  live: Measures;
  predicted: Predicted;
  comparison: Comparison;
  reactions: Reaction[];
  /** What the measures came from: the watch's replica history and the load's samples. */
  raw?: { history: ReplicaPoint[]; load: LoadSample[] };
}

export interface LiveResults {
  run: {
    startedAt: string;
    wallMinutes: number;
    speedup: number;
    liveClocks: ReturnType<typeof liveClocks>;
    machine: { loadavgBefore: number[]; loadavgAfter: number[]; otherSandboxes: number };
    kedaArm: string;
  };
  versions: Record<string, string>;
  settings: Record<string, number>;
  stretches: Array<{
    name: string;
    what: string;
    minutes: number;
    window: { from: number; to: number };
    rows: StretchRow[];
  }>;
  faults: Array<
    FaultWindow & { arms: Array<FaultOutcome & { deployment: string; arm: string; query: string }> }
  >;
  series: Array<{ stretch: string } & Series>;
}

/**
 * Per-minute series of a live run for the plot: the load (requests per minute, mean of the
 * samples in each minute) and each autoscaler's replicas and ready pods (time-weighted).
 */
export function liveSeries(
  lines: Array<{ name: string; history: readonly ReplicaPoint[]; load: readonly LoadSample[] }>,
  w: { from: number; to: number },
  minuteMs: number,
): Series {
  const minutes = Math.max(1, Math.round((w.to - w.from) / minuteMs));
  const load = lines[0]?.load ?? [];
  const requests = new Float64Array(minutes);
  for (let m = 0; m < minutes; m++) {
    const inside = load.filter((s) => s.t >= w.from + m * minuteMs && s.t < w.from + (m + 1) * minuteMs);
    requests[m] = inside.length
      ? (inside.reduce((a, s) => a + s.rps, 0) / inside.length) * 60
      : (loadAt(load, w.from + m * minuteMs) ?? 0) * 60;
  }
  const mean = (h: readonly ReplicaPoint[], m: number, f: (p: ReplicaPoint) => number) => {
    const samples = 12;
    let sum = 0;
    for (let i = 0; i < samples; i++) {
      const p = stateAt(h, w.from + (m + (i + 0.5) / samples) * minuteMs);
      sum += p ? f(p) : 0;
    }
    return sum / samples;
  };
  return {
    requests,
    strategies: lines.map((l) => ({
      // The plot keys its styles by name; live lines are drawn with their own labels.
      strategy: l.name as StrategyName,
      replicas: Float32Array.from({ length: minutes }, (_, m) => mean(l.history, m, (p) => p.replicas)),
      ready: Float32Array.from({ length: minutes }, (_, m) => mean(l.history, m, (p) => p.ready)),
    })),
  };
}

const fmt = (x: number | undefined, d = 1) => (x === undefined ? '—' : x.toFixed(d));
const sign = (x: number, d = 1) => `${x > 0 ? '+' : ''}${x.toFixed(d)}`;

function meanOf(xs: Array<number | undefined>): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}

function stretchTable(s: LiveResults['stretches'][number], speedup: number): string[] {
  const out = [
    `| autoscaler | replica-min live | sim | error | under-prov. min live | sim | error | reversals live / sim | scale writes | load visible → first write (s, wall) | → pods ready (s, wall) | steps without a write |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of s.rows) {
    const c = r.comparison;
    const toWrite = meanOf(r.reactions.map((x) => x.toFirstWriteSeconds));
    const toReady = meanOf(r.reactions.map((x) => x.toReadySeconds));
    const missed = r.reactions.filter((x) => x.firstWriteAt === undefined).length;
    out.push(
      `| ${r.label} | ${fmt(r.live.replicaMinutes)} | ${fmt(r.predicted.replicaMinutes)} | ${sign(c.replicaMinutesErrorPercent)} %${c.replicaMinutesMet ? '' : ' ✗'} | ${r.live.underProvisionedMinutes} | ${r.predicted.underProvisionedMinutes} | ${sign(c.underProvisionedErrorMinutes, 0)}${c.underProvisionedMet ? '' : ' ✗'} | ${r.live.reversals} / ${r.predicted.reversals} | ${r.live.scaleWrites} | ${fmt(toWrite)} (×${speedup}: ${fmt(toWrite && toWrite * speedup, 0)}) | ${fmt(toReady)} (×${speedup}: ${fmt(toReady && toReady * speedup, 0)}) | ${missed} of ${r.reactions.length} |`,
    );
  }
  return out;
}

function faultTable(r: LiveResults): string[] {
  const out = [
    '| fault | autoscaler | query | before | lowest | after | scale writes (s after the fault began: from→to) | scaled down |',
    '|---|---|---|---:|---:|---:|---|---|',
  ];
  for (const f of r.faults) {
    for (const a of f.arms) {
      const writes = a.writes.map((w) => `${w.atSeconds} s: ${w.from}→${w.to}`).join(', ') || 'none';
      out.push(
        `| ${f.name} (${Math.round((f.to - f.from) / 1000)} s) | ${a.arm} | ${a.query === 'zero' ? '`… or vector(0)`' : 'plain'} | ${a.before} | ${a.lowest} | ${a.after} | ${writes} | ${a.scaledDown ? '**yes**' : 'no'} |`,
      );
    }
  }
  return out;
}

export function renderLiveReport(
  r: LiveResults,
  capacityRpm: number,
): { md: string; svgs: Record<string, string> } {
  const svgs: Record<string, string> = {};
  for (const s of r.series) {
    svgs[`live-${s.stretch}.svg`] = renderSvg(s, {
      title: `bench-live, ${s.stretch} stretch: load and each autoscaler's replicas (live, minutes of the uncompressed run)`,
      capacity: capacityRpm,
    });
  }
  const c = r.run.liveClocks;
  const md = [
    '# bench-live: Tidemark and the real KEDA on the same load, beside the simulator',
    '',
    `Run ${r.run.startedAt}, ${r.run.wallMinutes} wall minutes. Versions: ${Object.entries(r.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `KEDA arm: ${r.run.kedaArm}. The reading of a committed run is in [live-reading.md](live-reading.md).`,
    '',
    `**Time is compressed ${r.run.speedup}×**, every clock together: Prometheus scrapes every ${c.scrapeSeconds} s (15 s uncompressed) and the metric is \`rate(...[${c.rateWindowSeconds}s])\` (1m); Tidemark polls every 3 s and 1 s (15 s and 5 s); the HPA's sync period is ${c.hpaSyncSeconds} s (15 s) and KEDA's pollingInterval ${c.kedaPollingSeconds} s (30 s); the HPA behaviour's windows and periods are divided by ${r.run.speedup} (scale-down stabilization ${300 / r.run.speedup} s, rate periods ${15 / r.run.speedup} s); KWOK makes every pod Ready exactly ${c.podStartupSeconds} s after it is created (${c.podStartupSeconds * r.run.speedup} s); the trace plays ${r.run.speedup} trace minutes per wall minute. Figures are in minutes of the uncompressed run (wall × ${r.run.speedup}), reaction times in wall seconds with the uncompressed value beside them.`,
    '',
    `Machine: 2 cores shared with the other engineers' builds and sandboxes: ${r.run.machine.otherSandboxes} other kube-apiserver(s) running at the start, load average ${r.run.machine.loadavgBefore.join(' / ')} before and ${r.run.machine.loadavgAfter.join(' / ')} after.`,
    '',
    `Every Deployment: capacity ${r.settings.capacityRps} requests/s per ready pod, target AverageValue ${r.settings.targetRps} requests/s per replica on the served rate (the per-pod counters of the workload simulator), min ${r.settings.minReplicas}, max ${r.settings.maxReplicas}, the HPA's default behaviour (compressed). Each stretch starts with ${r.settings.warmupMinutes} minutes of its first minute's load (not measured) so every autoscaler starts settled. Under-provisioned: a minute in which the offered load (Prometheus, \`tidemark_workload_offered_rps\`) exceeded ready pods × capacity at some moment. Predicted: \`tidemark simulate\` (the library) on the same per-minute load, settings and uncompressed clocks, over the same window; Tidemark's arms against its \`tidemark\` strategy at that polling interval, KEDA against \`keda-default\`. Goals: replica-minutes within 5 %, under-provisioned minutes within 10 % or 3 minutes (✗ marks a miss). A step up is a minute whose load is at least 1.5 × the previous one's and needs more replicas; its reaction is the first scale-up write within 5 minutes (uncompressed) of the load becoming visible in Prometheus (the offered load crossing halfway), and the pods of that write Ready (means over the steps); Tidemark's goal is its polling interval + 1 s, here 4 s and 2 s of wall time.`,
    '',
    ...r.stretches.flatMap((s) => [
      `## ${s.name}: ${s.what} (${s.minutes} minutes measured)`,
      '',
      ...stretchTable(s, r.run.speedup),
      '',
      `![${s.name}](live-${s.name}.svg)`,
      '',
    ]),
    '## Metric faults, live',
    '',
    "Each fault hits every Deployment below at once, each at a steady load that needs 8 replicas. What each autoscaler did to its Deployment, from the API server, from the fault's start until a minute after it ended:",
    '',
    ...r.faults.map((f) => `- ${f.name}: ${f.what}`),
    '',
    ...faultTable(r),
    '',
  ].join('\n');
  return { md, svgs };
}
