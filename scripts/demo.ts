// `make demo`: the local sandbox, the operator and a simulated workload scaling
// live. Brings the sandbox up (sandbox/env-up.sh reuses a healthy one), installs
// the CRD, starts `tidemark run` as a child process, creates a namespace with
// the Deployment and ScalingPolicy of examples/demo/, drives a load profile
// through the workload simulator (ramp up, a spike, ramp down) and shows what
// the operator does; then stops the operator, prints `kubectl describe
// scalingpolicy` and leaves the sandbox up.
//
//   node scripts/demo.ts [--seconds N] [--namespace NS] [--refresh-seconds S]
//
// DEMO_SECONDS and DEMO_NAMESPACE are the same as the flags. Exit status: 0 at
// the end of a run, 1 when something fails (with what and where to look),
// 130 after Ctrl-C.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { sandboxRunArgs } from '../bench/operator-args.ts';
import type { ScalingPolicy } from '../src/crd/types.generated.ts';
import { httpTransport, isNotFound, type KubeTransport } from '../src/kube/api-client.ts';
import { type Phase, phaseAt, plainLine, plan, type Snapshot, screen } from './demo/plan.ts';

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(REPO, 'node_modules/.bin/node');
const NAME = 'web';

class DemoError extends Error {}
class Interrupted extends Error {}

const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);

// --- options -------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    namespace: { type: 'string' },
    'refresh-seconds': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  process.stdout.write(
    'usage: node scripts/demo.ts [--seconds N (DEMO_SECONDS, 210)] [--namespace NS (DEMO_NAMESPACE, tidemark-demo)] [--refresh-seconds S (2)]\n',
  );
  process.exit(0);
}
function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`error: ${name} must be a positive number of seconds, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}
const TOTAL_SECONDS = positive('--seconds', args.seconds ?? process.env.DEMO_SECONDS, 210);
const REFRESH_MS = positive('--refresh-seconds', args['refresh-seconds'], 2) * 1000;
const NAMESPACE = args.namespace ?? process.env.DEMO_NAMESPACE ?? 'tidemark-demo';
if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(NAMESPACE)) {
  process.stderr.write(`error: "${NAMESPACE}" is not a valid namespace name\n`);
  process.exit(2);
}
// The sandbox this demo uses: the one named by the caller, else the one whose
// env.sh is already sourced (sandbox/with-sandbox.sh), else the repository's.
const SANDBOX_DIR = process.env.TIDEMARK_SANDBOX_DIR || process.env.SANDBOX_DIR || join(REPO, '.sandbox');

// --- Ctrl-C ------------------------------------------------------------------------

const interrupt = new AbortController();
let operator: ChildProcess | undefined;
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) {
    // A second Ctrl-C: do not wait for a graceful shutdown.
    operator?.kill('SIGKILL');
    restoreCursor();
    process.exit(130);
  }
  say('interrupted: stopping the operator (Ctrl-C again to force)');
  interrupt.abort();
});
process.on('SIGTERM', () => interrupt.abort());
process.on('exit', () => {
  // Last resort (an unexpected crash): never leave the operator behind.
  if (operator && operator.exitCode === null && operator.signalCode === null) operator.kill('SIGKILL');
  restoreCursor();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      interrupt.signal.removeEventListener('abort', done);
      resolve();
    }
    interrupt.signal.addEventListener('abort', done, { once: true });
  });
}

function checkInterrupted(): void {
  if (interrupt.signal.aborted) throw new Interrupted();
}

/** Polls `probe` until it returns a value; throws DemoError with `what` after `timeoutMs`. */
async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    checkInterrupted();
    checkOperator();
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new DemoError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

// --- sandbox ---------------------------------------------------------------------

async function envUp(): Promise<void> {
  say(`starting the sandbox in ${SANDBOX_DIR} (reused when one is already running)`);
  const child = spawn(join(REPO, 'sandbox/env-up.sh'), [], {
    env: { ...process.env, TIDEMARK_SANDBOX_DIR: SANDBOX_DIR },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  checkInterrupted();
  if (code !== 0) {
    throw new DemoError(
      `the sandbox did not start (sandbox/env-up.sh exited ${code}); its messages are above, component logs in ${join(SANDBOX_DIR, 'logs')}/`,
    );
  }
}

/** The variables .sandbox/env.sh exports, as bash sees them after sourcing it. */
function sandboxEnv(): Record<string, string> {
  const file = join(SANDBOX_DIR, 'env.sh');
  if (!existsSync(file)) throw new DemoError(`${file} is missing: sandbox/env-up.sh did not write it`);
  const r = spawnSync('bash', ['-c', 'source "$1" >/dev/null && env -0', 'bash', file], {
    encoding: 'utf8',
    env: process.env,
  });
  if (r.status !== 0) throw new DemoError(`cannot source ${file}: ${r.stderr.trim()}`);
  const env: Record<string, string> = {};
  for (const entry of r.stdout.split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  for (const k of ['KUBECONFIG', 'PROMETHEUS_URL', 'KUBECTL', 'TIDEMARK_SCRAPE_TARGETS_DIR']) {
    if (!env[k]) throw new DemoError(`${file} does not set ${k}`);
  }
  return env;
}

async function kubectl(argv: string[], input?: string): Promise<string> {
  const run = execFileAsync(process.env.KUBECTL!, argv, { timeout: 150_000, maxBuffer: 16 << 20 });
  if (input !== undefined) run.child.stdin?.end(input);
  try {
    return (await run).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new DemoError(`kubectl ${argv.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

async function promQuery(query: string): Promise<number | undefined> {
  const url = `${process.env.PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(query)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  const v = body.data?.result?.[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

/** examples/demo/FILE with ${NAMESPACE} and ${PROMETHEUS_URL} filled in. */
function manifest(file: string): string {
  const text = readFileSync(join(REPO, 'examples/demo', file), 'utf8');
  const vars: Record<string, string> = {
    NAMESPACE,
    PROMETHEUS_URL: process.env.PROMETHEUS_URL!.replace(/\/$/, ''),
  };
  return text.replace(/\$\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
}

// --- the operator ------------------------------------------------------------------

let operatorLog = '';
let operatorExit: string | undefined;

function checkOperator(): void {
  if (operatorExit !== undefined) {
    throw new DemoError(
      `the operator exited early (${operatorExit}); last lines of ${operatorLog}:\n${tail()}`,
    );
  }
}

function tail(lines = 20): string {
  try {
    return readFileSync(operatorLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function startOperator(): Promise<{ port: number; unregister: () => Promise<void> }> {
  const logDir = join(SANDBOX_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  operatorLog = join(logDir, 'demo-operator.log');
  const out = createWriteStream(operatorLog, { flags: 'w' });
  // Its own process group, so that a Ctrl-C in the terminal reaches only the
  // demo, which then sends exactly one SIGTERM: the operator treats a second
  // signal as "die now".
  const child = spawn(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      join(REPO, 'bin/tidemark.js'),
      ...sandboxRunArgs(process.env.PROMETHEUS_URL!, NAMESPACE),
      '--namespaces',
      NAMESPACE,
      '--lease-name',
      'tidemark-demo',
    ],
    { env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  operator = child;
  let port: number | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out.write(`${line}\n`);
    if (port === undefined && line.includes('"operator starting"')) {
      try {
        port = (JSON.parse(line) as { metricsPort?: number }).metricsPort;
      } catch {
        // not JSON: kept in the log
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => out.write(d));
  child.on('exit', (code, signal) => {
    operatorExit = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  say(`operator started (pid ${child.pid}), log: ${operatorLog}`);
  const metricsPort = await waitUntil('the operator to serve its metrics', 30_000, async () => port, 100);
  await waitUntil('the operator to become leader (/readyz)', 45_000, async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? true : undefined;
  });
  // Prometheus scrapes the operator's own metrics too (file_sd, as test/support/sandbox.ts does).
  const targets = process.env.TIDEMARK_SCRAPE_TARGETS_DIR!;
  mkdirSync(targets, { recursive: true });
  const file = join(targets, `tidemark-demo-${NAMESPACE}.json`);
  await writeFile(
    `${file}.tmp`,
    JSON.stringify([{ targets: [`127.0.0.1:${metricsPort}`], labels: { job: 'tidemark' } }]),
  );
  await rename(`${file}.tmp`, file);
  return { port: metricsPort, unregister: () => rm(file, { force: true }) };
}

async function stopOperator(): Promise<void> {
  const child = operator;
  if (!child || operatorExit !== undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  // Its shutdown grace is 20 s for in-flight ticks; a demo tick takes milliseconds.
  const timer = setTimeout(() => {
    say('the operator did not stop within 25 s of SIGTERM: killing it');
    child.kill('SIGKILL');
  }, 25_000);
  await exited;
  clearTimeout(timer);
  say(`operator stopped (${operatorExit})`);
}

// --- the demo workload -------------------------------------------------------------

let api: KubeTransport;

const deploymentPath = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${NAME}`;
const policyPath = `/apis/tidemark.dev/v1alpha1/namespaces/${NAMESPACE}/scalingpolicies/${NAME}`;

async function get<T>(path: string): Promise<T | undefined> {
  try {
    return (await api({ method: 'GET', path, timeoutMs: 5000 })) as T;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

interface Deployment {
  spec?: { replicas?: number };
  status?: { readyReplicas?: number };
}

async function freshNamespace(): Promise<void> {
  if (await get(`/api/v1/namespaces/${NAMESPACE}`)) {
    say(`deleting namespace ${NAMESPACE} left by an earlier run`);
    await kubectl(['delete', 'namespace', NAMESPACE, '--wait=true', '--timeout=120s']);
  }
  await kubectl(['create', 'namespace', NAMESPACE]);
  // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  await waitUntil(`ServiceAccount ${NAMESPACE}/default`, 30_000, async () =>
    (await get(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/default`)) ? true : undefined,
  );
}

/**
 * Waits until the policy's query would see only this run's pods. A demo run
 * right after another one in the same namespace would otherwise start with the
 * old pods' requests still inside the 30 s rate window (a deleted pod's series
 * goes stale, but its samples stay in range), and scale up at its first tick.
 */
async function waitForOwnSeries(): Promise<void> {
  const selector = `http_requests_total{namespace="${NAMESPACE}",deployment="${NAME}"}`;
  await waitUntil(
    `Prometheus to scrape only this run's pods of ${NAMESPACE}/${NAME} for 30 s`,
    120_000,
    async () => {
      const pods = await get<{ items: { metadata: { name: string } }[] }>(
        `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${NAME}`,
      );
      const mine = new Set(pods?.items.map((p) => p.metadata.name));
      const url = `${process.env.PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(`count by (pod) (count_over_time(${selector}[30s]))`)}`;
      const body = (await (await fetch(url, { signal: AbortSignal.timeout(5000) })).json()) as {
        data?: { result?: { metric: { pod?: string } }[] };
      };
      const scraped = (body.data?.result ?? []).map((r) => r.metric.pod ?? '');
      return scraped.length > 0 && scraped.every((p) => mine.has(p)) ? true : undefined;
    },
    1000,
  );
}

async function applyPhase(p: Phase): Promise<void> {
  // One merge patch for the label and the annotation: the simulator never sees
  // a profile with the other profile's parameters.
  await api({
    method: 'PATCH',
    path: deploymentPath,
    body: {
      metadata: {
        labels: { 'tidemark.dev/load-profile': p.profile },
        annotations: { 'tidemark.dev/load': p.load },
      },
    },
  });
}

interface KEvent {
  reason: string;
  message: string;
  lastTimestamp?: string;
  eventTime?: string;
  metadata?: { creationTimestamp?: string };
  involvedObject: { kind: string; name: string };
}

async function snapshot(elapsed: number, phase: string, history: number[]): Promise<Snapshot> {
  const quiet = <T>(p: Promise<T>) => p.catch(() => undefined);
  const [offered, policy, deployment, events] = await Promise.all([
    quiet(promQuery(`sum(tidemark_workload_offered_rps{namespace="${NAMESPACE}",deployment="${NAME}"})`)),
    quiet(get<ScalingPolicy>(policyPath)),
    quiet(get<Deployment>(deploymentPath)),
    quiet(
      get<{ items: KEvent[] }>(
        `/api/v1/namespaces/${NAMESPACE}/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=ScalingPolicy,involvedObject.name=${NAME}`)}`,
      ),
    ),
  ]);
  const when = (e: KEvent) => e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '';
  const newest = events?.items
    .slice()
    .sort((a, b) => when(a).localeCompare(when(b)))
    .at(-1);
  const status = policy?.status;
  const current = deployment?.spec?.replicas;
  if (current !== undefined) history.push(current);
  return {
    elapsedSeconds: elapsed,
    totalSeconds: TOTAL_SECONDS,
    phase,
    ...(offered !== undefined ? { offeredRps: offered } : {}),
    ...(status?.currentMetrics?.[0] ? { metric: status.currentMetrics[0] } : {}),
    ...(current !== undefined ? { currentReplicas: current } : {}),
    ...(status?.desiredReplicas !== undefined ? { desiredReplicas: status.desiredReplicas } : {}),
    ...(deployment ? { readyReplicas: deployment.status?.readyReplicas ?? 0 } : {}),
    ...(status?.recentDecisions?.[0]?.reason
      ? { lastReason: status.recentDecisions[0].reason }
      : newest
        ? { lastReason: newest.message }
        : {}),
    ...(newest ? { lastEvent: { reason: newest.reason, message: newest.message } } : {}),
    history,
  };
}

// --- the live view -------------------------------------------------------------------

const tty = Boolean(process.stdout.isTTY);
let drawn = 0;
let cursorHidden = false;

function restoreCursor(): void {
  if (cursorHidden) process.stdout.write('\x1b[?25h');
  cursorHidden = false;
}

function draw(lines: string[]): void {
  let out = drawn ? `\x1b[${drawn}A\r\x1b[J` : '';
  if (!cursorHidden) {
    out += '\x1b[?25l';
    cursorHidden = true;
  }
  out += `${lines.join('\n')}\n`;
  process.stdout.write(out);
  drawn = lines.length;
}

async function run(): Promise<{ peak: number; start: number }> {
  const phases = plan(TOTAL_SECONDS);
  const history: number[] = [];
  const start = Date.now();
  let next = 1;
  let lastReason: string | undefined;
  let lastShown = '';
  let lastPrinted = Number.NEGATIVE_INFINITY;
  let peak = 0;
  if (!tty) {
    process.stdout.write(
      `load profile (${TOTAL_SECONDS} s): ${phases.map((p) => `${p.atSeconds}s ${p.name} ${p.profile} ${p.load}`).join('; ')}\n`,
    );
  }
  for (;;) {
    checkOperator();
    const elapsed = (Date.now() - start) / 1000;
    while (next < phases.length && phases[next]!.atSeconds <= elapsed) {
      const p = phases[next++]!;
      await applyPhase(p);
      if (!tty) process.stdout.write(`[load] ${p.name}: ${p.profile} ${p.load}\n`);
    }
    const phase = phaseAt(phases, elapsed);
    const s = await snapshot(Math.min(elapsed, TOTAL_SECONDS), phase.name, history);
    peak = Math.max(peak, s.currentReplicas ?? 0);
    if (tty) {
      draw(
        screen(s, {
          maxReplicas: 12,
          columns: process.stdout.columns ?? 100,
          target: `Deployment ${NAMESPACE}/${NAME}, ScalingPolicy ${NAMESPACE}/${NAME} (50 rps per replica)`,
        }),
      );
    } else {
      // A line when something shown changed, and every 10 s otherwise: a log, not a flood.
      const line = plainLine(s);
      const shown = line.slice(line.indexOf(']') + 1);
      if (shown !== lastShown || elapsed - lastPrinted >= 10 || elapsed >= TOTAL_SECONDS) {
        process.stdout.write(`${line}\n`);
        lastShown = shown;
        lastPrinted = elapsed;
      }
      if (s.lastReason && s.lastReason !== lastReason) process.stdout.write(`[decision] ${s.lastReason}\n`);
    }
    lastReason = s.lastReason;
    if (elapsed >= TOTAL_SECONDS || interrupt.signal.aborted) break;
    await sleep(Math.min(REFRESH_MS, Math.max(0, (TOTAL_SECONDS - elapsed) * 1000)));
  }
  restoreCursor();
  return { peak, start };
}

// --- main ---------------------------------------------------------------------------

async function main(): Promise<number> {
  let unregister: (() => Promise<void>) | undefined;
  let ranToEnd = false;
  try {
    await envUp();
    Object.assign(process.env, sandboxEnv());
    const kc = new KubeConfig();
    kc.loadFromFile(process.env.KUBECONFIG!);
    api = httpTransport(kc);

    say('installing the CRD (kubectl apply -f crds/)');
    await kubectl(['apply', '-f', join(REPO, 'crds')]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      'crd/scalingpolicies.tidemark.dev',
      '--timeout=60s',
    ]);

    await freshNamespace();
    say(`creating Deployment ${NAMESPACE}/${NAME} (workload simulator: constant 40 rps, 100 rps per pod)`);
    await kubectl(['apply', '-f', '-'], manifest('web.yaml'));
    await waitUntil(`Deployment ${NAMESPACE}/${NAME} to have a ready pod`, 90_000, async () =>
      ((await get<Deployment>(deploymentPath))?.status?.readyReplicas ?? 0) >= 1 ? true : undefined,
    );

    await waitForOwnSeries();

    ({ unregister } = await startOperator());
    say(`creating ScalingPolicy ${NAMESPACE}/${NAME} (50 rps per replica, polled every 5 s)`);
    await kubectl(['apply', '-f', '-'], manifest('policy.yaml'));
    await waitUntil('the operator to read the metric for the first time', 90_000, async () => {
      const m = (await get<ScalingPolicy>(policyPath))?.status?.currentMetrics?.[0];
      return m?.value !== undefined ? true : undefined;
    });
    say(`driving the load for ${TOTAL_SECONDS} s: ramp up, a spike, ramp down`);

    const { peak } = await run();
    ranToEnd = !interrupt.signal.aborted;
    await stopOperator();
    await unregister();
    unregister = undefined;

    const scaled = (
      (await get<{ items: KEvent[] }>(`/api/v1/namespaces/${NAMESPACE}/events`))?.items ?? []
    ).filter((e) => e.involvedObject.kind === 'ScalingPolicy' && e.reason === 'Scaled');
    process.stdout.write(
      `\nThe operator scaled ${NAMESPACE}/${NAME} ${scaled.length} time(s); peak ${peak} replica(s).\n\n`,
    );
    process.stdout.write(`$ kubectl describe scalingpolicy -n ${NAMESPACE} ${NAME}\n`);
    process.stdout.write(await kubectl(['describe', 'scalingpolicy', '-n', NAMESPACE, NAME]));
    const envFile = join(SANDBOX_DIR, 'env.sh');
    const stop =
      SANDBOX_DIR === join(REPO, '.sandbox')
        ? 'make env-down'
        : `TIDEMARK_SANDBOX_DIR=${SANDBOX_DIR} make env-down`;
    process.stdout.write(
      [
        '',
        'The sandbox is still running. Explore it:',
        `  source ${envFile}`,
        `  kubectl get scalingpolicies,deployments,pods -n ${NAMESPACE}`,
        `  curl -s "$PROMETHEUS_URL/api/v1/query" --data-urlencode 'query=sum(rate(http_requests_total{namespace="${NAMESPACE}"}[30s]))'`,
        `  operator log: ${operatorLog}`,
        `Stop it with: ${stop}`,
        '',
      ].join('\n'),
    );
    return ranToEnd ? 0 : 130;
  } catch (err) {
    restoreCursor();
    if (drawn) process.stdout.write('\n');
    if (err instanceof Interrupted) {
      await stopOperator();
      return 130;
    }
    const message = err instanceof DemoError ? err.message : err instanceof Error ? err.stack : String(err);
    say(`failed: ${message}`);
    await stopOperator().catch(() => {});
    return 1;
  } finally {
    await unregister?.().catch(() => {});
  }
}

// The API client keeps sockets alive; the work is done when main returns.
process.exit(await main());
