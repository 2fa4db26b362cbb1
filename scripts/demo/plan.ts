// The demo's load profile and its live view, kept apart from scripts/demo.ts
// (which does the I/O) so that both can be tested without a cluster.

/** Requests/s: the quiet level, the top of the ramp and the spike. */
export const LOAD = { base: 40, high: 240, spike: 520 } as const;

export interface Phase {
  name: string;
  /** Seconds after the demo's clock starts. */
  atSeconds: number;
  /** The simulator's profile (label tidemark.dev/load-profile) and parameters (annotation tidemark.dev/load). */
  profile: 'constant' | 'ramp';
  load: string;
}

/**
 * Ramp up, a spike, ramp down and a quiet end long enough for the policy's 30 s
 * scale-down window and the metric's 30 s rate window to bring the replicas
 * back down. The shares are of the whole run, so a shorter run (tests) keeps
 * the same shape.
 */
export function plan(totalSeconds: number): Phase[] {
  const s = (share: number) => Math.max(1, Math.round(totalSeconds * share));
  const rampUp = s(0.27);
  const spike = s(0.15);
  const rampDown = s(0.15);
  const t1 = s(0.08);
  const t2 = t1 + rampUp;
  const t3 = t2 + spike;
  const t4 = t3 + rampDown;
  return [
    { name: 'quiet', atSeconds: 0, profile: 'constant', load: `rps=${LOAD.base}` },
    {
      name: 'ramp up',
      atSeconds: t1,
      profile: 'ramp',
      load: `from=${LOAD.base},to=${LOAD.high},seconds=${rampUp}`,
    },
    { name: 'spike', atSeconds: t2, profile: 'constant', load: `rps=${LOAD.spike}` },
    {
      name: 'ramp down',
      atSeconds: t3,
      profile: 'ramp',
      load: `from=${LOAD.high},to=${LOAD.base},seconds=${rampDown}`,
    },
    { name: 'quiet', atSeconds: t4, profile: 'constant', load: `rps=${LOAD.base}` },
  ];
}

/** The phase in force at `elapsed` seconds. */
export function phaseAt(phases: Phase[], elapsed: number): Phase {
  let current = phases[0]!;
  for (const p of phases) if (p.atSeconds <= elapsed) current = p;
  return current;
}

/** What one refresh of the view shows; undefined where nothing is known yet. */
export interface Snapshot {
  elapsedSeconds: number;
  totalSeconds: number;
  phase: string;
  offeredRps?: number;
  metric?: { name: string; value?: string; target?: string; proposedReplicas?: number; error?: string };
  currentReplicas?: number;
  desiredReplicas?: number;
  readyReplicas?: number;
  /** The newest entry of status.recentDecisions, or the newest Event when there is none. */
  lastReason?: string;
  lastEvent?: { reason: string; message: string };
  /** spec.replicas of the Deployment, oldest first, one per refresh. */
  history: number[];
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '–' : n.toFixed(digits));
const int = (n: number | undefined) => (n === undefined ? '–' : String(n));
const mmss = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

function metricText(m: Snapshot['metric']): string {
  if (!m) return 'not evaluated yet';
  if (m.error) return `${m.name}: error: ${m.error}`;
  const proposal = m.proposedReplicas === undefined ? '' : ` → proposes ${m.proposedReplicas}`;
  return `${m.name} ${m.value ?? '–'} vs ${m.target ?? '–'}/replica${proposal}`;
}

/** A line per refresh, for logs and pipes (stdout not a terminal). */
export function plainLine(s: Snapshot): string {
  return [
    `[${mmss(s.elapsedSeconds)}]`,
    s.phase.padEnd(9),
    `offered ${fmt(s.offeredRps).padStart(5)} rps`,
    `| ${metricText(s.metric)}`,
    `| replicas ${int(s.currentReplicas)} desired ${int(s.desiredReplicas)} ready ${int(s.readyReplicas)}`,
  ].join(' ');
}

const SPARK = '▁▂▃▄▅▆▇█';

/** The replicas over time as a one-line chart scaled to `max`. */
export function sparkline(values: number[], max: number, width: number): string {
  return values
    .slice(-width)
    .map((v) => SPARK[Math.min(SPARK.length - 1, Math.round((v / Math.max(1, max)) * (SPARK.length - 1)))])
    .join('');
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** The block redrawn in place on a terminal. */
export function screen(s: Snapshot, o: { maxReplicas: number; columns: number; target: string }): string[] {
  const width = Math.max(40, o.columns - 1);
  const done = Math.min(1, s.elapsedSeconds / s.totalSeconds);
  const barWidth = Math.max(10, Math.min(40, width - 40));
  const bar = '█'.repeat(Math.round(done * barWidth)).padEnd(barWidth, '░');
  const replicasBar = (n: number | undefined, ch: string) => ch.repeat(n ?? 0);
  const lines = [
    `Tidemark demo: ${o.target}`,
    `  time      ${mmss(s.elapsedSeconds)} / ${mmss(s.totalSeconds)}  ${bar}  phase: ${s.phase}`,
    `  offered   ${fmt(s.offeredRps)} requests/s (workload simulator)`,
    `  metric    ${metricText(s.metric)}`,
    `  replicas  current ${int(s.currentReplicas).padStart(2)}  ${replicasBar(s.currentReplicas, '■')}`,
    `            desired ${int(s.desiredReplicas).padStart(2)}  ${replicasBar(s.desiredReplicas, '□')}`,
    `            ready   ${int(s.readyReplicas).padStart(2)}  ${replicasBar(s.readyReplicas, '●')}`,
    `  history   ${sparkline(s.history, o.maxReplicas, width - 12)}`,
    `  decision  ${s.lastReason ?? '–'}`,
    `  event     ${s.lastEvent ? `${s.lastEvent.reason}: ${s.lastEvent.message}` : '–'}`,
    '',
    '  Ctrl-C stops the operator and ends the demo; the sandbox stays up.',
  ];
  return lines.map((l) => clip(l, width));
}
