/**
 * Helpers for tests that run against the local sandbox (`*.int.test.ts`, run by
 * `make test-integration` through sandbox/with-sandbox.sh, or by hand after
 * `make env-up && source .sandbox/env.sh`). Everything comes from the
 * environment that .sandbox/env.sh exports.
 */

import { execFile } from 'node:child_process';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';

const execFileAsync = promisify(execFile);

export interface SandboxEnv {
  /** State directory (.sandbox): logs/, pids/, pki/. */
  dir: string;
  kubeconfig: string;
  prometheusUrl: string;
  /** The workload simulator's base URL (serves /metrics). */
  workloadUrl: string;
  /** Prometheus file_sd directory: every *.json in it is scraped. */
  scrapeTargetsDir: string;
  /** Pod start-up time KWOK simulates, from the Pending pod to Ready. */
  podReadyDelayMs: number;
  podReadyJitterMs: number;
  /** Prometheus scrape interval in milliseconds. */
  scrapeIntervalMs: number;
  /** The kubectl built for the sandbox (first on PATH after env.sh). */
  kubectl: string;
}

/**
 * Whether the environment names a sandbox (for a skip reason when it does not). Where one
 * must be there (`make test-integration` sets TIDEMARK_REQUIRE_SANDBOX=1), a missing one
 * is a failure, not a skip: an env.sh that stopped setting a variable would otherwise skip
 * every integration test and leave CI green.
 */
export function sandboxAvailable(): boolean {
  const missing = ['KUBECONFIG', 'PROMETHEUS_URL', 'SANDBOX_DIR'].filter((v) => !process.env[v]);
  if (missing.length > 0 && process.env.TIDEMARK_REQUIRE_SANDBOX === '1') {
    throw new Error(`TIDEMARK_REQUIRE_SANDBOX=1 but ${missing.join(', ')} not set: ${NO_SANDBOX}`);
  }
  return missing.length === 0;
}

export const NO_SANDBOX =
  'needs the local sandbox: run through `make test-integration`, or `make env-up && source .sandbox/env.sh`';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: ${NO_SANDBOX}`);
  return v;
}

/** Parses a Prometheus duration such as "5s", "1m" or "500ms". */
export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: "${s}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

export function sandboxEnv(): SandboxEnv {
  return {
    dir: required('SANDBOX_DIR'),
    kubeconfig: required('KUBECONFIG'),
    prometheusUrl: required('PROMETHEUS_URL').replace(/\/$/, ''),
    workloadUrl: process.env.WORKLOAD_URL ?? '',
    scrapeTargetsDir:
      process.env.TIDEMARK_SCRAPE_TARGETS_DIR ?? join(required('SANDBOX_DIR'), 'prometheus', 'targets'),
    podReadyDelayMs: Number(process.env.TIDEMARK_POD_READY_DELAY_MS ?? 10_000),
    podReadyJitterMs: Number(process.env.TIDEMARK_POD_READY_JITTER_MS ?? 12_000),
    scrapeIntervalMs: parseDurationMs(process.env.TIDEMARK_SCRAPE_INTERVAL ?? '5s'),
    kubectl: process.env.KUBECTL ?? 'kubectl',
  };
}

/** A KubeConfig for the sandbox's admin identity (system:masters). */
export function kubeConfig(env: SandboxEnv = sandboxEnv()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  return kc;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs kubectl with the sandbox's kubeconfig. By default the one first on PATH,
 * which .sandbox/env.sh makes the sandbox's own build; rejects on a non-zero exit
 * with stderr in the message.
 */
export async function kubectl(
  args: string[],
  opts: { input?: string; bin?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const env = sandboxEnv();
  const run = execFileAsync(opts.bin ?? 'kubectl', args, {
    env: { ...process.env, KUBECONFIG: env.kubeconfig },
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (opts.input !== undefined) {
    run.child.stdin?.end(opts.input);
  }
  try {
    const { stdout, stderr } = await run;
    return { stdout, stderr };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** One series of an instant-vector result. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Evaluates an instant PromQL query; throws unless Prometheus answers "success". */
export async function promQuery(query: string, env: SandboxEnv = sandboxEnv()): Promise<PromSample[]> {
  const url = `${env.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: PromSample[] };
  };
  if (body.status !== 'success' || !body.data) {
    throw new Error(`PromQL ${query}: ${body.error ?? `HTTP ${res.status}`}`);
  }
  if (body.data.resultType !== 'vector') {
    throw new Error(`PromQL ${query}: expected a vector, got ${body.data.resultType}`);
  }
  return body.data.result;
}

/**
 * Polls `probe` until it returns something other than undefined/false, and
 * returns that; rejects after `timeoutMs` with the last error or value seen.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number; what?: string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `timed out after ${opts.timeoutMs} ms waiting for ${opts.what ?? 'a condition'}: ${detail}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

/**
 * Waits until a CRD is Established. `kubectl wait` on a CRD created a moment ago fails at
 * once (it has no status yet) instead of waiting, so it is retried until the deadline.
 */
export async function waitEstablished(
  crd = 'crd/scalingpolicies.tidemark.dev',
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(() => kubectl(['wait', '--for=condition=Established', crd, '--timeout=10s']), {
    timeoutMs,
    what: `${crd} established`,
  });
}

/**
 * Makes the sandbox's Prometheus scrape `targets` (host:port) under job `job`,
 * through its file_sd directory (picked up within a few seconds). Returns a
 * function that removes the registration.
 */
export async function registerScrapeTarget(
  job: string,
  targets: string[],
  labels: Record<string, string> = {},
  env: SandboxEnv = sandboxEnv(),
): Promise<() => Promise<void>> {
  if (!/^[A-Za-z0-9_.-]+$/.test(job)) throw new Error(`job name not usable as a file name: ${job}`);
  await mkdir(env.scrapeTargetsDir, { recursive: true });
  const file = join(env.scrapeTargetsDir, `${job}.json`);
  // Written aside and renamed so that Prometheus never reads half a file.
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify([{ targets, labels: { job, ...labels } }], null, 2));
  await rename(tmp, file);
  return () => rm(file, { force: true });
}
