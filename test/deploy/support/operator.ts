// Starts `tidemark run` as a child process the way the e2e tests do, for the
// deploy, image and dashboard integration tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NODE } from './image.ts';
import { REPO } from './manifests.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RunningOperator {
  port: number;
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * `node <appDir>/bin/tidemark.js run --metrics-port P ...args` with KUBECONFIG
 * set; `appDir` defaults to the source checkout.
 */
export async function startOperator(opts: {
  kubeconfig: string;
  args: string[];
  appDir?: string;
  port?: number;
  env?: Record<string, string>;
}): Promise<RunningOperator> {
  const port = opts.port ?? (await freePort());
  const app = opts.appDir ?? REPO;
  const child = spawn(NODE, [join(app, 'bin/tidemark.js'), 'run', `--metrics-port=${port}`, ...opts.args], {
    cwd: app,
    env: { ...process.env, ...opts.env, KUBECONFIG: opts.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    port,
    child,
    output: () => out,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** GET http://127.0.0.1:port/path; the status and body, or status 0 when nothing answers. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}
