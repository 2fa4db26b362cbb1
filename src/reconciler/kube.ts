import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An answer from the API server other than 2xx, or a transport failure (status 0). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;
export const isAlreadyExists = (err: unknown) =>
  err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /apis/apps/v1/namespaces/shop/deployments/checkout/scale */
  path: string;
  body?: unknown;
  /** For PATCH: merge (application/merge-patch+json) unless told otherwise. */
  contentType?: string;
  timeoutMs?: number;
}

/** One request to the API server; resolves with the parsed JSON body. */
export type KubeTransport = (req: KubeRequest) => Promise<unknown>;

/**
 * A transport over node:http(s) with the kubeconfig's credentials.
 *
 * Written by hand because client-node's generated clients need a client per API
 * group, put the group into the path (no core-group scale), and make a new TLS
 * agent for every call (no keep-alive), which matters at thousands of policies.
 * Here one keep-alive agent serves every request; credentials (tokens can
 * rotate) are re-read from the kubeconfig at most every 30 s.
 */
export function httpTransport(kc: KubeConfig, opts: { maxSockets?: number } = {}): KubeTransport {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const prefix = base.pathname.replace(/\/$/, '');
  const secure = base.protocol === 'https:';
  let agent: http.Agent | undefined;
  let headers: Record<string, string> = {};
  let headersAt = -Infinity;

  async function prepare(): Promise<void> {
    if (agent && Date.now() - headersAt < 30_000) return;
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    headers = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    headersAt = Date.now();
    if (!agent) {
      const common = { keepAlive: true, maxSockets: opts.maxSockets ?? 32 };
      agent = secure
        ? new https.Agent({
            ...common,
            ca: o.ca,
            cert: o.cert,
            key: o.key,
            pfx: o.pfx,
            passphrase: o.passphrase,
            servername: o.servername,
            ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
          })
        : new http.Agent(common);
    }
  }

  return async (req) => {
    await prepare();
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const h: Record<string, string> = { ...headers, accept: 'application/json' };
    if (payload) {
      h['content-type'] =
        req.contentType ?? (req.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      h['content-length'] = String(payload.length);
    }
    const mod = secure ? https : http;
    return new Promise((resolve, reject) => {
      const r = mod.request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path: prefix + req.path,
          method: req.method,
          headers: h,
          agent,
          timeout: req.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(new KubeApiError(0, 'Transport', e.message)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = text;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(body);
            const b = (body ?? {}) as { reason?: string; message?: string };
            reject(
              new KubeApiError(
                status,
                b.reason ?? 'Unknown',
                `${req.method} ${req.path}: ${status} ${b.message ?? String(text).slice(0, 200)}`,
              ),
            );
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`timed out after ${req.timeoutMs ?? 30_000} ms`)));
      r.on('error', (e) =>
        reject(new KubeApiError(0, 'Transport', `${req.method} ${req.path}: ${e.message}`)),
      );
      if (payload) r.write(payload);
      r.end();
    });
  };
}

/** /api/v1 for the core group, /apis/<group>/<version> otherwise. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export const encode = encodeURIComponent;
