// Helpers for the operator's end-to-end tests: real operator processes against
// the local sandbox (sandbox/with-sandbox.sh), one namespace per test.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { sandboxRunArgs } from '../../bench/operator-args.ts';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { httpTransport, isNotFound, type KubeTransport } from '../../src/kube/api-client.ts';
import { policyManifest } from '../support/policies.ts';
import {
  kubectl,
  NO_SANDBOX,
  promQuery,
  sandboxAvailable,
  sandboxEnv,
  waitEstablished,
  waitFor,
} from '../support/sandbox.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const NODE = join(REPO, 'node_modules/.bin/node');
/** An address on the operator's allow-list where nothing listens. */
export const DEAD_PROMETHEUS = 'http://127.0.0.1:9';
/** The skip reason of a suite that needs the sandbox (false when it is there). */
export const SANDBOX_SKIP: false | string = sandboxAvailable() ? false : NO_SANDBOX;

/** One test run's names: `<prefix>-<time>`, and a namespace per scenario under it. */
export function testRun(prefix: string): { run: string; ns: (scenario: string) => string } {
  const run = `${prefix}-${Date.now().toString(36)}`;
  return { run, ns: (s) => `${run}-${s}` };
}

/** Installs the ScalingPolicy CRD (and any other CRD files named) and waits until it serves. */
export async function installCrds(...extra: Array<{ file: string; crd: string }>): Promise<void> {
  await kubectl(['apply', '-f', join(REPO, 'crds'), ...extra.flatMap((e) => ['-f', join(REPO, e.file)])]);
  for (const crd of ['scalingpolicies.tidemark.dev', ...extra.map((e) => e.crd)])
    await waitEstablished(`crd/${crd}`);
}

/** A suite's before(): the CRDs, then its namespaces. */
export async function prepareNamespaces(
  namespaces: readonly string[],
  ...crds: Array<{ file: string; crd: string }>
): Promise<void> {
  await installCrds(...crds);
  await Promise.all(namespaces.map(createNamespace));
}

/** A suite's after(): its namespaces go, unless TIDEMARK_E2E_KEEP asks to keep them for a look. */
export async function cleanupNamespaces(namespaces: readonly string[]): Promise<void> {
  if (!process.env.TIDEMARK_E2E_KEEP) await Promise.all(namespaces.map(deleteNamespace));
}

let transport: KubeTransport | undefined;
export function api(): KubeTransport {
  if (!transport) {
    const kc = new KubeConfig();
    kc.loadFromFile(sandboxEnv().kubeconfig);
    transport = httpTransport(kc);
  }
  return transport;
}

export async function apply(objects: unknown[]): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n') });
}

export async function createNamespace(name: string): Promise<void> {
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }]);
  // Pods need the namespace's default ServiceAccount, which the controller-manager creates.
  await waitFor(
    async () => {
      try {
        await api()({ method: 'GET', path: `/api/v1/namespaces/${name}/serviceaccounts/default` });
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, what: `ServiceAccount ${name}/default` },
  );
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']).catch(() => {});
}

/**
 * A Deployment the workload simulator serves: a constant profile of `rps`. Pods are ready 2 s
 * after they start unless `readyDelay` is null (the sandbox's own simulated start-up). A
 * `readyDelay` given is exact: KWOK takes the sandbox's jitter bound (12 s by default) as the
 * upper end of a pod's delay, so a longer delay needs its own bound (a 40 s delay alone gave
 * pods ready in 12 s).
 */
export function deployment(
  namespace: string,
  name: string,
  replicas: number,
  rps: number,
  opts: { capacityRps?: number; readyDelay?: string | null } = {},
) {
  const delay = opts.readyDelay === undefined ? '2s' : opts.readyDelay;
  const exact: Record<string, string> =
    typeof opts.readyDelay === 'string'
      ? { 'pod-ready.stage.kwok.x-k8s.io/jitter-delay': opts.readyDelay }
      : {};
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      labels: { app: name, 'tidemark.dev/load-profile': 'constant' },
      annotations: {
        'tidemark.dev/load': `rps=${rps}`,
        'tidemark.dev/capacity-rps': String(opts.capacityRps ?? 100),
      },
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        // A short start-up keeps the suite fast; the sandbox default (10 s) is for the demo.
        metadata: {
          labels: { app: name },
          ...(delay === null
            ? {}
            : { annotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': delay, ...exact } }),
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/web:1' }] },
      },
    },
  };
}

export async function setLoad(namespace: string, name: string, rps: number): Promise<void> {
  await api()({
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
    body: { metadata: { annotations: { 'tidemark.dev/load': `rps=${rps}` } } },
  });
}

/** The offered load as Prometheus sees it: changes within one scrape of a setLoad(). */
export const offeredQuery = (namespace: string, name: string) =>
  `sum(tidemark_workload_offered_rps{namespace="${namespace}",deployment="${name}"})`;

/** Served requests per second from the per-pod counters (what a real policy would use). */
export const servedQuery = (namespace: string, name: string) =>
  `sum(rate(http_requests_total{namespace="${namespace}",deployment="${name}"}[20s]))`;

/**
 * An operator watching these namespaces, on its own Lease, once it leads (the
 * usual start of a suite that runs one operator).
 */
export async function startLeader(
  name: string,
  namespaces: readonly string[],
  lease: string,
  extra: string[] = [],
): Promise<OperatorProcess> {
  const scope = ['--namespaces', namespaces.join(','), '--lease-name', lease];
  const op = await OperatorProcess.start(name, [...scope, ...extra]);
  await waitFor(() => op.isLeader(), { timeoutMs: 20_000, what: `operator ${name} to lead` });
  return op;
}

/** Until Prometheus answers `rps` for the namespace's offered load (a tick after this sees it). */
export async function promSeesLoad(namespace: string, rps: number, name = 'web'): Promise<number> {
  await waitFor(async () => Number((await promQuery(offeredQuery(namespace, name)))[0]?.value[1]) === rps, {
    timeoutMs: 20_000,
    intervalMs: 250,
    what: `Prometheus to see ${rps} rps in ${namespace}`,
  });
  return Date.now();
}

/**
 * The usual policy of the fault tests: the Deployment `web`, its offered load at
 * 50 rps per replica, `extra` on top (a `prometheus` there replaces the address).
 */
export function rpsPolicy(namespace: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return scalingPolicy(namespace, 'web', {
    metrics: [
      { name: 'rps', query: offeredQuery(namespace, 'web'), target: { type: 'AverageValue', value: '50' } },
    ],
    ...extra,
  });
}

export function scalingPolicy(
  namespace: string,
  name: string,
  spec: Record<string, unknown> & { metrics: unknown[] },
): Record<string, unknown> {
  return policyManifest(namespace, name, {
    maxReplicas: 10,
    pollingIntervalSeconds: 2,
    prometheus: { address: sandboxEnv().prometheusUrl },
    ...spec,
  });
}

export async function replicas(namespace: string, name: string, plural = 'deployments', group = 'apps/v1') {
  try {
    const s = (await api()({
      method: 'GET',
      path: `/apis/${group}/namespaces/${namespace}/${plural}/${name}/scale`,
    })) as { spec?: { replicas?: number } };
    return s.spec?.replicas ?? 0;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function getPolicy(namespace: string, name: string): Promise<ScalingPolicy | undefined> {
  try {
    return (await api()({
      method: 'GET',
      path: `/apis/tidemark.dev/v1alpha1/namespaces/${namespace}/scalingpolicies/${name}`,
    })) as ScalingPolicy;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function condition(p: ScalingPolicy | undefined, type: string) {
  return p?.status?.conditions?.find((c) => c.type === type);
}

export interface KEvent {
  reason: string;
  message: string;
  type: string;
  count?: number;
  reportingInstance?: string;
  firstTimestamp?: string;
  involvedObject: { name: string; kind: string };
}

export async function events(namespace: string, policy?: string): Promise<KEvent[]> {
  const list = (await api()({ method: 'GET', path: `/api/v1/namespaces/${namespace}/events` })) as {
    items: KEvent[];
  };
  return list.items.filter(
    (e) => e.involvedObject.kind === 'ScalingPolicy' && (!policy || e.involvedObject.name === policy),
  );
}

/** Waits for an Event of the policy with this reason (Events follow the patch and status write by milliseconds). */
export async function hasEvent(
  namespace: string,
  policy: string,
  reason: string,
  message?: RegExp,
): Promise<KEvent> {
  return waitFor(
    async () =>
      (await events(namespace, policy)).find(
        (e) => e.reason === reason && (!message || message.test(e.message)),
      ),
    { timeoutMs: 10_000, what: `Event ${reason} of ${namespace}/${policy}` },
  );
}

/** Polls until the target has `n` replicas (or the predicate holds); returns when it happened. */
export async function waitForReplicas(
  namespace: string,
  name: string,
  want: number | ((n: number | undefined) => boolean),
  timeoutMs: number,
  plural?: string,
  group?: string,
): Promise<number> {
  const ok = typeof want === 'number' ? (n: number | undefined) => n === want : want;
  await waitFor(async () => ok(await replicas(namespace, name, plural, group)), {
    timeoutMs,
    intervalMs: 200,
    what: `${namespace}/${name} replicas ${typeof want === 'number' ? want : 'predicate'} (now ${await replicas(namespace, name, plural, group)})`,
  });
  return Date.now();
}

/** Polls until the Deployment has `n` ready replicas. */
export async function waitForReady(namespace: string, name: string, n: number, timeoutMs: number) {
  await waitFor(
    async () => {
      const d = (await api()({
        method: 'GET',
        path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
      })) as { status?: { readyReplicas?: number } };
      return d.status?.readyReplicas === n;
    },
    { timeoutMs, what: `${namespace}/${name}: ${n} ready replicas` },
  );
}

/** Asserts that the replicas stay at `n` for `ms`. */
export async function holdsReplicas(namespace: string, name: string, n: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await replicas(namespace, name);
    if (r !== n)
      throw new Error(`${namespace}/${name} changed to ${r} replicas; expected it to stay at ${n}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface LogLine {
  level: number;
  msg: string;
  namespace?: string;
  policy?: string;
  [k: string]: unknown;
}

/** An operator (`tidemark run`) as a real child process; logs go to .sandbox/logs/e2e-<name>.log too. */
export class OperatorProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  port = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(name: string, proc: ChildProcess, logFile: string) {
    this.name = name;
    this.proc = proc;
    const out = createWriteStream(logFile, { flags: 'a' });
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      out.write(`${line}\n`);
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a JSON line (a crash trace): kept in the file
      }
    });
    proc.stderr!.on('data', (d: Buffer) => out.write(d));
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `root`: the release to run (default this checkout; the upgrade test runs v0.1.0's). */
  static async start(name: string, args: string[], root = REPO): Promise<OperatorProcess> {
    const env = sandboxEnv();
    const logDir = join(env.dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const proc = spawn(
      NODE,
      [
        '--disable-warning=ExperimentalWarning',
        join(root, 'bin/tidemark.js'),
        ...sandboxRunArgs(`${env.prometheusUrl},${DEAD_PROMETHEUS}`),
        ...args,
      ],
      { env: { ...process.env, KUBECONFIG: env.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const op = new OperatorProcess(name, proc, join(logDir, `e2e-${name}.log`));
    const start = await waitFor(() => op.lines.find((l) => l.msg === 'operator starting'), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `operator ${name} to start`,
    });
    op.port = start.metricsPort as number;
    return op;
  }

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.text();
  }

  /** The value of an unlabelled or fully matched sample on /metrics. */
  async sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const text = await this.metrics();
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      if (want.every((w) => (m[2] ?? '').includes(w))) return Number(m[3]);
    }
    return undefined;
  }

  async isLeader(): Promise<boolean> {
    return (await this.sample('tidemark_leader')) === 1;
  }

  async ready(): Promise<number> {
    return (await fetch(`http://127.0.0.1:${this.port}/readyz`)).status;
  }

  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }
}
