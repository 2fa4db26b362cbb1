// Reading figures: the Prometheus text format (operator, API server and Prometheus /metrics),
// PromQL queries, and waiting for a condition.
import * as https from 'node:https';
import { kc, PROMETHEUS_URL, sleep } from './config.ts';

// --- Prometheus text format -------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the named families (and their _bucket/_count/_sum), skipping every other line. */
export function parseSamples(text: string, prefixes: string[]): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !prefixes.some((p) => line.startsWith(p))) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export const sum = (
  samples: Sample[],
  name: string,
  match: (l: Record<string, string>) => boolean = () => true,
) => samples.filter((s) => s.name === name && match(s.labels)).reduce((a, s) => a + s.value, 0);

/** Quantile from cumulative histogram buckets, interpolated inside a bucket (as histogram_quantile). */
export function quantile(q: number, buckets: Array<{ le: number; count: number }>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe; // beyond the last finite bucket: its bound
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** The buckets of a histogram over a window: the later scrape minus the earlier one. */
export function histogramDelta(
  s0: Sample[],
  s1: Sample[],
  name: string,
  match: (l: Record<string, string>) => boolean = () => true,
): Array<{ le: number; count: number }> {
  const bucket = `${name}_bucket`;
  const les = [...new Set(s1.filter((s) => s.name === bucket && match(s.labels)).map((s) => s.labels.le!))];
  return les.map((le) => {
    const m = (l: Record<string, string>) => l.le === le && match(l);
    return {
      le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le),
      count: sum(s1, bucket, m) - sum(s0, bucket, m),
    };
  });
}

export async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

/** A raw GET to the API server (its /metrics is text, which the JSON transport does not parse). */
export async function apiserverText(path: string): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(path, cluster.server);
  return new Promise((resolve, reject) => {
    const r = https.request(url, { ...opts, method: 'GET', timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        (res.statusCode ?? 0) < 300
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(new Error(`GET ${path}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`GET ${path} timed out`)));
    r.on('error', reject);
    r.end();
  });
}

export async function promQuery(q: string): Promise<number | undefined> {
  const body = JSON.parse(await getText(`${PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(q)}`)) as {
    data?: { result?: Array<{ value?: [number, string] }> };
  };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 1000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(everyMs);
  }
}
