// The machine and its processes: CPU and memory from /proc, the sandbox's processes, and the
// versions of what ran.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { kube, PROMETHEUS_URL, REPO, SANDBOX_DIR } from './config.ts';
import { getText } from './samples.ts';

// --- machine and process figures ------------------------------------------------------

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {}
  return {
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
  };
}

/** CPU seconds (user + system) of a process; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

export function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** The sandbox's processes, from the PID files env-up.sh writes. */
export function sandboxPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kwok',
    'workload',
    'prometheus',
  ]) {
    try {
      const pid = Number(readFileSync(join(SANDBOX_DIR, 'pids', `${c}.pid`), 'utf8').split(' ')[0]);
      if (pid > 0) out[c] = pid;
    } catch {}
  }
  return out;
}

// --- versions -----------------------------------------------------------------------------------

export async function versions() {
  const v: Record<string, string> = {};
  try {
    const kv = (await kube({ method: 'GET', path: '/version' })) as { gitVersion?: string };
    v.kubernetes = kv.gitVersion ?? 'unknown';
  } catch {}
  try {
    const b = JSON.parse(await getText(`${PROMETHEUS_URL}/api/v1/status/buildinfo`)) as {
      data?: { version?: string };
    };
    v.prometheus = b.data?.version ?? 'unknown';
  } catch {}
  try {
    const text = readFileSync(join(REPO, 'sandbox/versions.sh'), 'utf8');
    for (const k of ['ETCD_VERSION', 'KWOK_VERSION']) {
      const m = new RegExp(`^${k}=(\\S+)`, 'm').exec(text);
      if (m) v[k.replace('_VERSION', '').toLowerCase()] = m[1]!;
    }
  } catch {}
  const pkg = JSON.parse(
    readFileSync(join(REPO, 'node_modules/@kubernetes/client-node/package.json'), 'utf8'),
  ) as {
    version: string;
  };
  v['@kubernetes/client-node'] = pkg.version;
  v.node = process.version;
  return v;
}
