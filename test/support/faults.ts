// Helpers for the fault-injection tests (test/faults/): disturb one sandbox
// component through sandbox/component.sh and always put it back; stand between
// the operator and Prometheus or the API server to hold or cut its traffic; and
// check afterwards that every scaling action is accounted for exactly once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { api, events, getPolicy, OperatorProcess, REPO, replicas } from '../e2e/support.ts';
import { kubectl, sandboxEnv, waitEstablished, waitFor } from './sandbox.ts';

const execFileAsync = promisify(execFile);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or an error naming what did not happen within `ms` (a test fails instead of hanging). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export type Component =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | 'workload'
  | 'prometheus'
  | 'webhook';
export type ComponentAction = 'kill' | 'stop' | 'start' | 'restart' | 'freeze' | 'thaw' | 'health' | 'wait';

/** Installs the ScalingPolicy CRD and waits until the API server serves it. */
export async function installCrd(): Promise<void> {
  await kubectl(['apply', '-f', join(REPO, 'crds')]);
  await waitEstablished();
}

/** Runs sandbox/component.sh ACTION NAME against this run's sandbox. */
export async function component(action: ComponentAction, name: Component, timeoutS = 120): Promise<void> {
  const env = sandboxEnv();
  try {
    await execFileAsync(join(REPO, 'sandbox/component.sh'), [action, name, String(timeoutS)], {
      env: { ...process.env, TIDEMARK_SANDBOX_DIR: env.dir },
      timeout: (timeoutS + 30) * 1000,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`component.sh ${action} ${name} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Thaws, starts if needed, and waits until the component (and the API server) answer again. */
export async function restoreComponent(name: Component): Promise<void> {
  await component('thaw', name).catch(() => {});
  await component('start', name);
  await component('wait', name);
  if (name === 'etcd' || name === 'kube-apiserver') await component('wait', 'kube-apiserver');
}

/**
 * Injects a fault into one component and registers its repair with the test,
 * so the shared sandbox is whole again when the test ends, pass or fail.
 */
export async function injectFault(
  t: TestContext,
  action: 'kill' | 'stop' | 'freeze',
  name: Component,
): Promise<void> {
  t.after(() => restoreComponent(name));
  await component(action, name);
}

/** Samples a target's replicas until stopped (at the latest when the test ends): the lowest value and every change. */
export function recordReplicas(t: TestContext, namespace: string, name: string): ReplicaRecorder {
  const r = new ReplicaRecorder(namespace, name);
  t.after(() => r.stop());
  return r;
}

export class ReplicaRecorder {
  readonly sequence: number[] = [];
  min = Number.POSITIVE_INFINITY;
  #stopped = false;
  readonly #done: Promise<void>;

  readonly namespace: string;
  readonly name: string;

  constructor(namespace: string, name: string, intervalMs = 250) {
    this.namespace = namespace;
    this.name = name;
    this.#done = (async () => {
      while (!this.#stopped) {
        // The API server may be down during the fault: a failed sample is no sample.
        const n = await replicas(namespace, name).catch(() => undefined);
        if (n !== undefined) {
          this.min = Math.min(this.min, n);
          if (this.sequence.at(-1) !== n) this.sequence.push(n);
        }
        await sleep(intervalMs);
      }
    })();
  }

  /** Stops and asserts the sequence of counts seen (its lowest is the lowest seen). */
  async expectSequence(sequence: number[], why = ''): Promise<void> {
    const seen = await this.stop();
    assert.equal(seen.min, Math.min(...sequence), `${why} (sequence ${seen.sequence})`);
    assert.deepEqual(seen.sequence, sequence, why);
  }

  async stop(): Promise<{ sequence: number[]; min: number }> {
    if (!this.#stopped) {
      this.#stopped = true;
      await this.#done;
      // One last look, so that a change the caller just waited for is in the sequence.
      const n = await replicas(this.namespace, this.name).catch(() => undefined);
      if (n !== undefined) {
        this.min = Math.min(this.min, n);
        if (this.sequence.at(-1) !== n) this.sequence.push(n);
      }
    }
    await this.#done;
    return { sequence: this.sequence, min: this.min };
  }
}

export interface ScaledEvent {
  from: number;
  to: number;
  count: number;
  reportingInstance?: string;
  message: string;
}

/** The policy's Scaled Events, parsed ("scaled Deployment ns/name 6→10: …"). */
export async function scaledEvents(namespace: string, policy: string): Promise<ScaledEvent[]> {
  return (await events(namespace, policy))
    .filter((e) => e.reason === 'Scaled')
    .map((e) => {
      const m = /(\d+)→(\d+):/.exec(e.message);
      assert.ok(m, `a Scaled Event names from→to: ${e.message}`);
      return {
        from: Number(m[1]),
        to: Number(m[2]),
        count: e.count ?? 1,
        ...(e.reportingInstance ? { reportingInstance: e.reportingInstance } : {}),
        message: e.message,
      };
    });
}

export async function deploymentGeneration(namespace: string, name: string): Promise<number> {
  const d = (await api()({
    method: 'GET',
    path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
  })) as { metadata: { generation: number } };
  return d.metadata.generation;
}

/**
 * No lost and no doubled scaling action: every change of the Deployment's
 * replicas has exactly one Scaled Event and one entry in status.recentDecisions,
 * and the decisions chain (each starts where the previous ended) to the current
 * count. The Deployment's generation counts the changes: it moves on every spec
 * change and on every annotation change, so `loadChanges` (setLoad calls, which
 * rewrite an annotation) are taken off; nothing else writes these Deployments.
 */
export async function assertActionsAccountedFor(
  namespace: string,
  name: string,
  opts: { loadChanges: number; baseGeneration?: number },
): Promise<ScaledEvent[]> {
  // Events leave the operator through a queue, after the scale and the status: a Scaled
  // Event may land a moment after the count it reports, so the books are read until they
  // balance, and the last reading's assertion is the failure.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await checkActionsAccountedFor(namespace, name, opts);
    } catch (err) {
      if (!(err instanceof assert.AssertionError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function checkActionsAccountedFor(
  namespace: string,
  name: string,
  opts: { loadChanges: number; baseGeneration?: number },
): Promise<ScaledEvent[]> {
  const scaled = await scaledEvents(namespace, name);
  const total = scaled.reduce((n, e) => n + e.count, 0);
  const generation = await deploymentGeneration(namespace, name);
  const p = (await getPolicy(namespace, name)) as ScalingPolicy;
  const decisions = [...(p.status?.recentDecisions ?? [])].reverse();
  const detail = JSON.stringify({ scaled, decisions, generation });
  assert.equal(
    generation - (opts.baseGeneration ?? 1) - opts.loadChanges,
    total,
    `one Scaled Event per scale change: ${detail}`,
  );
  assert.equal(decisions.length, total, `one recorded decision per scale change: ${detail}`);
  for (let i = 1; i < decisions.length; i++) {
    assert.equal(decisions[i]!.from, decisions[i - 1]!.to, `decisions chain: ${detail}`);
  }
  const current = await replicas(namespace, name);
  if (decisions.length)
    assert.equal(decisions.at(-1)!.to, current, `the last decision is in force: ${detail}`);
  for (const d of decisions) {
    assert.ok(
      scaled.some((e) => e.from === d.from && e.to === d.to),
      `decision ${d.from}→${d.to} has its Event: ${detail}`,
    );
  }
  return scaled;
}

/** Waits for the policy's status to satisfy `ok`; returns it. */
export async function waitForStatus(
  namespace: string,
  name: string,
  ok: (p: ScalingPolicy) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<ScalingPolicy> {
  return waitFor(
    async () => {
      const p = await getPolicy(namespace, name);
      return p && ok(p) ? p : undefined;
    },
    { timeoutMs, intervalMs: 300, what: `${namespace}/${name}: ${what}` },
  );
}

/** Waits until the policy has every one of these conditions ([type, status, reason?]); returns it. */
export function waitForConditions(
  namespace: string,
  name: string,
  conditions: Array<[type: string, status: string, reason?: string]>,
  timeoutMs?: number,
): Promise<ScalingPolicy> {
  const what = conditions.map(([t, s, r]) => `${t}=${s}${r ? ` ${r}` : ''}`).join(' and ');
  const ok = (p: ScalingPolicy) => conditions.every(([t, s, r]) => hasCondition(t, s, r)(p));
  return waitForStatus(namespace, name, ok, what, timeoutMs);
}

export const hasCondition =
  (type: string, status: string, reason?: string) =>
  (p: ScalingPolicy): boolean =>
    Boolean(
      p.status?.conditions?.some(
        (c) => c.type === type && c.status === status && (reason === undefined || c.reason === reason),
      ),
    );

/** Sums a metric's samples whose labels include `labels`. */
export async function sumSamples(
  op: OperatorProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await op.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (want.every((w) => (m[2] ?? '').includes(w))) sum += Number(m[3]);
  }
  return sum;
}

/**
 * An HTTP proxy in front of the sandbox's Prometheus that can hold queries:
 * while held, a request waits (its tick is "in the middle") until release().
 * Its address must be on the operator's allow-list.
 */
export class PromProxy {
  readonly server: http.Server;
  url = '';
  requests = 0;
  #held = false;
  #waiting: Array<() => void> = [];
  #arrivals: Array<() => void> = [];
  readonly #upstream = new Set<http.ClientRequest>();

  constructor() {
    const upstream = new URL(sandboxEnv().prometheusUrl);
    this.server = http.createServer((req, res) => {
      this.requests++;
      for (const f of this.#arrivals.splice(0)) f();
      const forward = () => {
        const up = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            path: req.url,
            method: req.method,
            headers: { ...req.headers, host: upstream.host },
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        // A client that went away (a killed operator) takes its upstream request along;
        // left open, Prometheus would keep it (and this test process) alive for minutes.
        this.#upstream.add(up);
        up.on('close', () => this.#upstream.delete(up));
        res.on('close', () => up.destroy());
        if (req.destroyed) up.destroy();
        else req.pipe(up);
      };
      if (this.#held) this.#waiting.push(forward);
      else forward();
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  hold(): void {
    this.#held = true;
  }

  /** Resolves when the next request arrives (a tick has started its queries). */
  nextRequest(): Promise<void> {
    return new Promise((r) => this.#arrivals.push(r));
  }

  get heldCount(): number {
    return this.#waiting.length;
  }

  release(): void {
    this.#held = false;
    for (const f of this.#waiting.splice(0)) f();
  }

  async close(): Promise<void> {
    this.release();
    for (const up of this.#upstream) up.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * A TCP proxy in front of the API server (TLS passes through: the server's
 * certificate names 127.0.0.1). cut() is a network partition: open connections
 * die and new ones are accepted but never answered; heal() ends it. stall()
 * lets requests through but holds every answer (the server's bytes are
 * swallowed), as a server stuck mid-request would; heal() ends that too.
 */
export class TcpProxy {
  readonly server: net.Server;
  port = 0;
  #cut = false;
  #stalled = false;
  readonly #sockets = new Set<net.Socket>();

  constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => {});
      if (this.#cut) return; // black hole: the client waits for its own timeout
      const up = net.connect(target.port, target.host);
      this.#sockets.add(up);
      up.on('close', () => {
        this.#sockets.delete(up);
        client.destroy();
      });
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      client.pipe(up);
      up.on('data', (d: Buffer) => {
        if (!this.#stalled) client.write(d);
      });
    });
  }

  stall(): void {
    this.#stalled = true;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  heal(): void {
    this.#cut = false;
    this.#stalled = false;
    // Black-holed connections go too, so clients reconnect through the healed path.
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** A copy of the sandbox's admin kubeconfig that reaches the API server through this proxy. */
  kubeconfig(file: string): string {
    const kc = parse(readFileSync(sandboxEnv().kubeconfig, 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    for (const c of kc.clusters) c.cluster.server = `https://127.0.0.1:${this.port}`;
    writeFileSync(file, stringify(kc));
    return file;
  }
}

/** The API server's address from the sandbox kubeconfig. */
export function apiServerAddress(): { host: string; port: number } {
  const kc = parse(readFileSync(sandboxEnv().kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string } }>;
  };
  const u = new URL(kc.clusters[0]!.cluster.server);
  return { host: u.hostname, port: Number(u.port) };
}

/**
 * Starts an operator with another kubeconfig. OperatorProcess.start takes the
 * kubeconfig from the environment synchronously, before its first await, so
 * swapping KUBECONFIG around that call affects this process alone.
 */
export function startOperatorWithKubeconfig(
  name: string,
  args: string[],
  kubeconfig: string,
): Promise<OperatorProcess> {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = kubeconfig;
  try {
    return OperatorProcess.start(name, args);
  } finally {
    process.env.KUBECONFIG = saved;
  }
}

/** Lease timings short enough for a test: a 6 s lease, renewed every second. */
export const FAST_LEASE = [
  '--lease-duration-seconds',
  '6',
  '--renew-deadline-seconds',
  '4',
  '--retry-period-seconds',
  '1',
];

/** Freezes (SIGSTOP) or thaws (SIGCONT) an operator process: a partition that also stops its clock-driven work. */
export function freezeProcess(op: OperatorProcess): void {
  op.proc.kill('SIGSTOP');
}
export function thawProcess(op: OperatorProcess): void {
  if (op.proc.exitCode === null && op.proc.signalCode === null) op.proc.kill('SIGCONT');
}
