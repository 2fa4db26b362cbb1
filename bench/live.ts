// make bench-live: Tidemark (15 s and 5 s polling) and the real KEDA (its HPA in the
// sandbox's kube-controller-manager) side by side on the same replayed load, beside the
// simulator's prediction, then metric faults live. Runs inside sandbox/with-sandbox.sh
// (the Makefile starts a sandbox of its own with every clock compressed); writes
// bench/results/live.{md,json} and the pictures.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { httpTransport } from '../src/kube/api-client.ts';
import { parseTrace } from '../src/simulate/trace.ts';
import { type Arm, type ArmTarget, kedaArm, tidemarkArm } from './live/arms.ts';
import {
  deploymentManifest,
  offeredQuery,
  promRange,
  REPO,
  type ReplicaWatch,
  servedQuery,
  sleep,
  startOperator,
  watchReplicas,
} from './live/cluster.ts';
import { type FaultWindow, faultOutcome } from './live/faults.ts';
import { kedaUnavailableReason } from './live/keda.ts';
import { type LoadStep, measure, reaction, stepsUp } from './live/measure.ts';
import {
  busyAfternoon,
  liveClocks,
  type Stretch,
  scaleTo,
  stepAndFlashCrowd,
  withWarmup,
} from './live/plan.ts';
import { compare, type Settings, simulateStretch, windowFigures } from './live/predict.ts';
import { type LiveResults, liveSeries, renderLiveReport } from './live/report.ts';

const run = promisify(execFile);
const env = (k: string, d?: string) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set: run through make bench-live`);
  return v;
};

const SPEEDUP = Number(env('LIVE_SPEEDUP', '5'));
const CLOCKS = liveClocks(SPEEDUP);
const TRACE_FILE = resolve(REPO, env('LIVE_TRACE', '../shared/traces/clarknet_per_minute.csv'));
const TRACE_MINUTES = Number(env('LIVE_TRACE_MINUTES', '60'));
const WARMUP_MINUTES = Number(env('LIVE_WARMUP_MINUTES', '10'));
/** For a quick look: only the first N measured minutes of each stretch. */
const TRIM = process.env.LIVE_MINUTES ? Number(process.env.LIVE_MINUTES) : undefined;
const FAULT_SECONDS = Number(env('LIVE_FAULT_SECONDS', '90'));
const SETTINGS: Settings = {
  capacityRps: 10,
  targetRps: 7,
  minReplicas: 1,
  maxReplicas: 40,
  startupSeconds: 60,
};
const PEAK_REPLICAS = 20;
/** How long after a step up (uncompressed minutes) a scale write still answers it. */
const REACTION_MINUTES = 5;
const OUT = join(REPO, 'bench/results');

const SANDBOX_DIR = env('SANDBOX_DIR');
const KUBECONFIG = env('KUBECONFIG');
const PROMETHEUS_URL = env('PROMETHEUS_URL').replace(/\/$/, '');
const KUBECTL = env('KUBECTL', 'kubectl');

function log(msg: string): void {
  process.stderr.write(`[bench-live ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const p = run(KUBECTL, args, { env: { ...process.env, KUBECONFIG }, maxBuffer: 1 << 24 });
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}
const apply = (objects: unknown[]) =>
  kubectl(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
const component = (action: string, name: string) =>
  run(join(REPO, 'sandbox/component.sh'), [action, name], {
    env: { ...process.env, TIDEMARK_SANDBOX_DIR: SANDBOX_DIR },
  });

function checkClocks(): void {
  const scrape = env('TIDEMARK_SCRAPE_INTERVAL', '5s');
  if (scrape !== `${CLOCKS.scrapeSeconds}s`)
    throw new Error(
      `the sandbox scrapes every ${scrape}; at speedup ${SPEEDUP} it must be ${CLOCKS.scrapeSeconds}s`,
    );
  const hpaSync = env('TIDEMARK_HPA_SYNC_PERIOD', '15s');
  if (hpaSync !== `${CLOCKS.hpaSyncSeconds}s`)
    throw new Error(
      `the HPA syncs every ${hpaSync}; at speedup ${SPEEDUP} it must be ${CLOCKS.hpaSyncSeconds}s`,
    );
}

function stretches(): Stretch[] {
  const trace = parseTrace(readFileSync(TRACE_FILE, 'utf8'), TRACE_FILE).requests;
  const start = busyAfternoon(trace, TRACE_MINUTES);
  const picked = scaleTo(
    Array.from(trace.subarray(start, start + TRACE_MINUTES)),
    SETTINGS.capacityRps,
    PEAK_REPLICAS,
  );
  const step = scaleTo(stepAndFlashCrowd(1), SETTINGS.capacityRps, PEAK_REPLICAS);
  const file = TRACE_FILE.split('/').pop();
  const trim = (xs: number[]) => (TRIM === undefined ? xs : xs.slice(0, WARMUP_MINUTES + TRIM));
  return [
    {
      name: 'trace',
      what: `${file} minutes ${start}–${start + TRACE_MINUTES} (the busiest hour between 12:00 and 18:00), scaled so its peak minute needs ${PEAK_REPLICAS} replicas`,
      perMinute: trim(withWarmup(picked, WARMUP_MINUTES)),
      warmupMinutes: WARMUP_MINUTES,
    },
    {
      name: 'step',
      what: `a step to 4 × for 15 minutes, back for 10, then a 3-minute flash crowd at 6 × (peak ${PEAK_REPLICAS} replicas)`,
      perMinute: trim(withWarmup(step, WARMUP_MINUTES)),
      warmupMinutes: WARMUP_MINUTES,
    },
  ];
}

/** The KEDA arm, when the sandbox runs KEDA (TIDEMARK_KEDA=1, as make bench-live starts it). */
async function withKeda(): Promise<{ arm?: Arm; why?: string }> {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const why = await kedaUnavailableReason(httpTransport(kc));
  if (why !== undefined) return { why: `no KEDA arm: ${why}` };
  const window = env('TIDEMARK_HPA_DOWNSCALE_STABILIZATION', '5m0s');
  return { arm: kedaArm(), why: `KEDA arm on (controller-manager HPA downscale stabilization ${window})` };
}

interface Placed {
  stretch?: Stretch;
  arm: Arm;
  name: string;
  fault?: 'plain' | 'zero';
}

function target(name: string, query: string): ArmTarget {
  return {
    namespace: NS,
    deployment: name,
    prometheusUrl: PROMETHEUS_URL,
    query,
    targetRps: SETTINGS.targetRps,
    minReplicas: SETTINGS.minReplicas,
    maxReplicas: SETTINGS.maxReplicas,
    speedup: SPEEDUP,
  };
}

const NS = `live-${Date.now().toString(36)}`;

async function versions(): Promise<Record<string, string>> {
  const kube = JSON.parse(await kubectl(['version', '-o', 'json'])) as {
    serverVersion?: { gitVersion?: string };
  };
  const prom = (await (await fetch(`${PROMETHEUS_URL}/api/v1/status/buildinfo`)).json()) as {
    data?: { version?: string };
  };
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  return {
    kubernetes: kube.serverVersion?.gitVersion ?? '?',
    prometheus: prom.data?.version ?? '?',
    tidemark: pkg.version,
    node: process.version,
  };
}

async function otherSandboxes(): Promise<number> {
  const { stdout } = await run('pgrep', ['-c', 'kube-apiserver']).catch(() => ({ stdout: '0' }));
  return Number(stdout.trim()) - 1;
}

async function main(): Promise<void> {
  checkClocks();
  const startedAt = Date.now();
  const machine = {
    loadavgBefore: loadavg().map((x) => Math.round(x * 100) / 100),
    otherSandboxes: await otherSandboxes(),
  };
  const all = stretches();
  const keda = await withKeda();
  const arms: Arm[] = [tidemarkArm(15), tidemarkArm(5), ...(keda.arm ? [keda.arm] : [])];
  const faultArms: Arm[] = [
    tidemarkArm(15, { anomaly: { enabled: true } }, 'a'),
    tidemarkArm(15),
    ...(keda.arm ? [keda.arm] : []),
  ];
  const dir = join(SANDBOX_DIR, 'live');
  mkdirSync(dir, { recursive: true });

  const loadStart = Date.now() + 5000;
  const placed: Placed[] = [];
  const objects: unknown[] = [];
  const rate = CLOCKS.rateWindowSeconds;
  for (const s of all) {
    const file = join(dir, `${s.name}.csv`);
    writeFileSync(file, `minute,requests\n${s.perMinute.map((v, i) => `${i},${v}`).join('\n')}\n`);
    for (const arm of arms) {
      const name = `${s.name}-${arm.id}`;
      placed.push({ stretch: s, arm, name });
      objects.push(
        deploymentManifest({
          namespace: NS,
          name,
          replicas: Math.ceil(s.perMinute[0]! / 60 / SETTINGS.targetRps),
          capacityRps: SETTINGS.capacityRps,
          startupSeconds: CLOCKS.podStartupSeconds,
          profile: 'trace',
          load: `file=${file},speedup=${SPEEDUP}`,
          loadStart,
        }),
        ...arm.manifests(target(name, servedQuery(NS, name, rate))),
      );
    }
  }
  // Faults: a steady load that needs 8 replicas; `zero` reads the query the way many
  // dashboards write it, `... or vector(0)`, so a lost series reads as a zero.
  const faultRps = SETTINGS.targetRps * 8 * 0.9;
  for (const variant of ['plain', 'zero'] as const) {
    for (const arm of faultArms) {
      if (variant === 'plain' && arm.id === 'tm15') continue;
      const name = `fault-${variant}-${arm.id}`;
      placed.push({ arm, name, fault: variant });
      const q = servedQuery(NS, name, rate);
      objects.push(
        deploymentManifest({
          namespace: NS,
          name,
          replicas: 8,
          capacityRps: SETTINGS.capacityRps,
          startupSeconds: CLOCKS.podStartupSeconds,
          profile: 'constant',
          load: `rps=${faultRps}`,
          loadStart,
        }),
        ...arm.manifests(target(name, variant === 'zero' ? `${q} or vector(0)` : q)),
      );
    }
  }

  log(`namespace ${NS}: ${placed.length} Deployments; speedup ${SPEEDUP}; ${keda.why ?? 'KEDA arm on'}`);
  await kubectl(['apply', '-f', join(REPO, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', 'crd/scalingpolicies.tidemark.dev', '--timeout=60s']);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]);
  for (let i = 0; i < 60; i++) {
    if (
      await kubectl(['get', 'serviceaccount', 'default', '-n', NS]).then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(500);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const watch: ReplicaWatch = watchReplicas(kc, NS);
  await apply(objects);
  const operator = startOperator({
    kubeconfig: KUBECONFIG,
    prometheusUrl: PROMETHEUS_URL,
    namespace: NS,
    logFile: join(SANDBOX_DIR, 'logs/bench-live-operator.log'),
  });
  const minuteMs = 60_000 / SPEEDUP;
  const mainEnd = loadStart + Math.max(...all.map((s) => s.perMinute.length)) * minuteMs;
  try {
    log(`main stretches until ${new Date(mainEnd).toISOString()}`);
    await sleep(mainEnd - Date.now());
    const faults = await runFaults();
    const end = Date.now();
    await sleep(2 * CLOCKS.scrapeSeconds * 1000);
    const results = await collect(all, arms, placed, watch, faults, {
      loadStart,
      end,
      startedAt,
      machine,
      keda,
    });
    writeResults(results);
  } finally {
    await operator.stop();
    await watch.stop();
    if (!process.env.LIVE_KEEP) await kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => {});
  }
}

/** Prometheus down, then the exporter down (an empty result, or a zero through `or vector(0)`). */
async function runFaults(): Promise<FaultWindow[]> {
  const out: FaultWindow[] = [];
  const recover = 60_000;
  for (const [name, comp, what] of [
    ['prometheus-down', 'prometheus', 'Prometheus stopped: every query fails'],
    [
      'exporter-down',
      'workload',
      'the exporter stopped: the plain query returns an empty result, `or vector(0)` a bogus zero',
    ],
  ] as const) {
    log(`fault ${name}: ${what}`);
    const from = Date.now();
    await component('stop', comp);
    await sleep(FAULT_SECONDS * 1000 - (Date.now() - from));
    await component('start', comp);
    await run(join(REPO, 'sandbox/component.sh'), ['wait', comp, '120'], {
      env: { ...process.env, TIDEMARK_SANDBOX_DIR: SANDBOX_DIR },
    });
    const to = Date.now();
    out.push({ name, what, from, to, recoverUntil: to + recover });
    await sleep(recover);
  }
  return out;
}

async function collect(
  all: Stretch[],
  arms: Arm[],
  placed: Placed[],
  watch: ReplicaWatch,
  faults: FaultWindow[],
  ctx: {
    loadStart: number;
    end: number;
    startedAt: number;
    machine: { loadavgBefore: number[]; otherSandboxes: number };
    keda: { why?: string };
  },
): Promise<LiveResults> {
  const minuteMs = 60_000 / SPEEDUP;
  const stretchResults = [];
  const series = [];
  for (const s of all) {
    const window = {
      from: ctx.loadStart + s.warmupMinutes * minuteMs,
      to: ctx.loadStart + s.perMinute.length * minuteMs,
    };
    const predictions = new Map<number, ReturnType<typeof simulateStretch>>();
    const rows = [];
    const lines = [];
    for (const arm of arms) {
      const p = placed.find((x) => x.stretch === s && x.arm === arm)!;
      const history = watch.histories.get(p.name) ?? [];
      const load = await promRange(
        PROMETHEUS_URL,
        offeredQuery(NS, p.name),
        ctx.loadStart,
        window.to,
        CLOCKS.scrapeSeconds,
      );
      const live = measure(history, load, window, SETTINGS.capacityRps, SPEEDUP);
      const polling = arm.simulated.pollingSeconds;
      if (!predictions.has(polling)) predictions.set(polling, simulateStretch(s, SETTINGS, polling));
      const predicted = windowFigures(predictions.get(polling)!, arm.simulated.strategy, s.warmupMinutes);
      const steps: LoadStep[] = stepsUp(s.perMinute, SETTINGS.targetRps * 60).map((x) => ({
        t: ctx.loadStart + x.minute * minuteMs,
        before: x.before / 60,
        after: x.after / 60,
      }));
      // A write counts as the answer to a step within REACTION_MINUTES of it (a brief rise in a
      // trace may never be answered; the next write can be another story).
      const reactions = steps.map((st, i) =>
        reaction(
          history,
          load,
          st,
          Math.min(steps[i + 1]?.t ?? window.to, st.t + REACTION_MINUTES * minuteMs),
        ),
      );
      rows.push({
        arm: arm.id,
        label: arm.label,
        live,
        predicted,
        comparison: compare(live, predicted),
        reactions,
        raw: { history, load },
      });
      lines.push({ name: arm.label, history, load });
    }
    stretchResults.push({
      name: s.name,
      what: s.what,
      window,
      minutes: s.perMinute.length - s.warmupMinutes,
      rows,
    });
    series.push({ stretch: s.name, ...liveSeries(lines, { from: ctx.loadStart, to: window.to }, minuteMs) });
  }
  const faultRows = faults.map((f) => ({
    ...f,
    arms: placed
      .filter((p) => p.fault)
      .map((p) => ({
        deployment: p.name,
        arm: p.arm.label,
        query: p.fault!,
        ...faultOutcome(watch.histories.get(p.name) ?? [], f),
      })),
  }));
  return {
    run: {
      startedAt: new Date(ctx.startedAt).toISOString(),
      wallMinutes: Math.round((ctx.end - ctx.startedAt) / 600) / 100,
      speedup: SPEEDUP,
      liveClocks: CLOCKS,
      machine: { ...ctx.machine, loadavgAfter: loadavg().map((x) => Math.round(x * 100) / 100) },
      kedaArm: ctx.keda.why ?? 'on',
    },
    versions: await versions(),
    settings: {
      ...SETTINGS,
      peakReplicas: PEAK_REPLICAS,
      warmupMinutes: WARMUP_MINUTES,
      faultSeconds: FAULT_SECONDS,
    },
    stretches: stretchResults,
    faults: faultRows,
    series,
  };
}

function writeResults(r: LiveResults): void {
  const { md, svgs } = renderLiveReport(r, SETTINGS.capacityRps * 60);
  const { series: _series, ...json } = r;
  writeFileSync(join(OUT, 'live.json'), `${JSON.stringify(json, null, 2)}\n`);
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(OUT, name), svg);
  writeFileSync(join(OUT, 'live.md'), md);
  log(`wrote bench/results/live.md, live.json and ${Object.keys(svgs).join(', ')}`);
}

if (import.meta.main) {
  await main();
}
