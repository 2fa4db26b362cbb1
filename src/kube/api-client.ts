import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { type MonotonicNow, monotonicNow, type TokenBucket } from './rate-limit.ts';

/** An answer from the API server other than 2xx, or a transport failure (status 0). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  /** From a 429's Retry-After header (API Priority and Fairness): when to try again. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, reason: string, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;
export const isAlreadyExists = (err: unknown) =>
  err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';
/** The request was abandoned at its deadline (it may or may not have reached the server). */
export const isDeadline = (err: unknown) => err instanceof KubeApiError && err.reason === 'Deadline';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /apis/apps/v1/namespaces/shop/deployments/checkout/scale */
  path: string;
  body?: unknown;
  /** For PATCH: merge (application/merge-patch+json) unless told otherwise. */
  contentType?: string;
  /**
   * Total deadline in ms, from the call until the response is read: it covers
   * the wait for the client-side rate limit, every retry after a 429 and the
   * exchange itself, and destroys the request when it passes.
   */
  timeoutMs?: number;
  /** Abandons the request (not sent, or destroyed in flight) when it aborts: a shutdown's early fence. */
  signal?: AbortSignal;
}

/** One request to the API server; resolves with the parsed JSON body. */
export type KubeTransport = (req: KubeRequest) => Promise<unknown>;

/** What the transport reports, for metrics. */
export interface ApiObserver {
  /** Every attempt: its HTTP status, or `error` / `deadline`. */
  onRequest?(e: { method: string; code: string; seconds: number; path: string }): void;
  /** A wait for the client-side limit (`client`) or a server's Retry-After (`server`). */
  onThrottled?(e: { source: 'client' | 'server'; seconds: number }): void;
}

export interface TransportOptions {
  maxSockets?: number;
  /** Client-side QPS/burst limit shared by every request of this transport. */
  limiter?: TokenBucket;
  /** Deadline of a request that names none. */
  defaultTimeoutMs?: number;
  /** Retries of one request after 429 (client-go's default is 10). */
  max429Retries?: number;
  observer?: ApiObserver;
  now?: MonotonicNow;
}

/**
 * A request that failed on a kept-alive connection the server had closed (its idle timeout
 * racing our reuse): the server never answered it. A GET is sent again, once, on a new
 * connection, as Go's transport does for client-go; a write is not (its outcome is unknown,
 * and the callers re-read after one).
 */
class StaleConnectionError extends KubeApiError {}

const resentOnStaleConnection = (req: KubeRequest, err: unknown, resent: boolean) =>
  err instanceof StaleConnectionError && req.method === 'GET' && !resent;

const deadlineError = (req: KubeRequest, totalMs: number, what: string) =>
  new KubeApiError(0, 'Deadline', `${req.method} ${req.path}: deadline of ${totalMs} ms exceeded ${what}`);

/** Like a deadline, it may or may not have reached the server. */
const abortedError = (req: KubeRequest) =>
  new KubeApiError(0, 'Aborted', `${req.method} ${req.path}: aborted (shutting down)`);

function throwIfAborted(req: KubeRequest): void {
  if (req.signal?.aborted) throw abortedError(req);
}

/**
 * A transport over node:http(s) with the kubeconfig's credentials.
 *
 * Written by hand because client-node's generated clients need a client per API
 * group, put the group into the path (no core-group scale), and make a new TLS
 * agent for every call (no keep-alive), which matters at thousands of policies.
 * Here one keep-alive agent serves every request; credentials (tokens can
 * rotate) are re-read from the kubeconfig at most every 30 s.
 *
 * Every request has a total deadline (http.request's `timeout` is only an idle
 * timeout: a response that trickles never trips it), waits its turn at the
 * client-side rate limit, and honours 429 + Retry-After from API Priority and
 * Fairness while its deadline allows.
 */
export function httpTransport(kc: KubeConfig, opts: TransportOptions = {}): KubeTransport {
  const now = opts.now ?? monotonicNow;
  const send = exchange(kc, opts.maxSockets ?? 32, now);
  const obs = opts.observer ?? {};
  const maxRetries = opts.max429Retries ?? 10;
  return async (req) => {
    const totalMs = req.timeoutMs ?? opts.defaultTimeoutMs ?? 30_000;
    const deadline = now() + totalMs;
    let resent = false;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(req);
      if (opts.limiter) {
        const waitMs = opts.limiter.reserve(deadline - now());
        if (waitMs === undefined) throw deadlineError(req, totalMs, 'waiting for the client-side rate limit');
        if (waitMs > 0) {
          obs.onThrottled?.({ source: 'client', seconds: waitMs / 1000 });
          await sleep(waitMs, req.signal);
          throwIfAborted(req);
        }
      }
      const started = now();
      try {
        const body = await send(req, deadline, totalMs);
        obs.onRequest?.({
          method: req.method,
          code: '2xx',
          seconds: (now() - started) / 1000,
          path: req.path,
        });
        return body;
      } catch (err) {
        const e = err as KubeApiError;
        const code = e.status ? String(e.status) : e.reason === 'Deadline' ? 'deadline' : 'error';
        obs.onRequest?.({ method: req.method, code, seconds: (now() - started) / 1000, path: req.path });
        if (resentOnStaleConnection(req, err, resent)) {
          resent = true;
          continue;
        }
        // Jitter, so the requests APF turned away together do not all come back together.
        const retryMs = e.status === 429 ? (e.retryAfterMs ?? 1000) * (1 + Math.random() / 4) : undefined;
        if (retryMs === undefined || attempt >= maxRetries || now() + retryMs >= deadline) throw err;
        obs.onThrottled?.({ source: 'server', seconds: retryMs / 1000 });
        await sleep(retryMs, req.signal);
      }
    }
  };
}

/** Ends early (resolves) when `signal` aborts: the caller checks it next. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((r) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      r();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

type Exchange = (req: KubeRequest, deadline: number, totalMs: number) => Promise<unknown>;

/**
 * One HTTP exchange with the API server, destroyed at `deadline` (on `now`'s clock).
 * The time left is read after the credentials are in hand: refreshing them (an exec
 * plugin, every 30 s) may take long, and a fenced write must neither leave after its
 * fence nor run past it by however long the refresh took.
 */
function exchange(kc: KubeConfig, maxSockets: number, now: MonotonicNow): Exchange {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const prefix = base.pathname.replace(/\/$/, '');
  const mod = base.protocol === 'https:' ? https : http;
  const conn = connection(kc, base.protocol === 'https:', maxSockets);
  return async (req, deadline, totalMs) => {
    if (deadline - now() <= 0) throw deadlineError(req, totalMs, 'before the request was sent');
    const { agent, headers } = await conn();
    const remainingMs = deadline - now();
    if (remainingMs <= 0) throw deadlineError(req, totalMs, 'while its credentials were refreshed: not sent');
    throwIfAborted(req);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const h: Record<string, string> = { ...headers, accept: 'application/json' };
    if (payload) {
      h['content-type'] =
        req.contentType ?? (req.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      h['content-length'] = String(payload.length);
    }
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
        },
        (res) => readResponse(req, res).then(resolve, reject),
      );
      const timer = setTimeout(() => r.destroy(deadlineError(req, totalMs, 'in flight')), remainingMs);
      const abort = () => r.destroy(abortedError(req));
      req.signal?.addEventListener('abort', abort, { once: true });
      r.on('close', () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', abort);
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof KubeApiError) return reject(e);
        const message = `${req.method} ${req.path}: ${e.message}`;
        const stale = r.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
        reject(
          stale
            ? new StaleConnectionError(0, 'Transport', message)
            : new KubeApiError(0, 'Transport', message),
        );
      });
      if (payload) r.write(payload);
      r.end();
    });
  };
}

/** The keep-alive agent and the credential headers, re-read at most every 30 s (tokens rotate). */
function connection(kc: KubeConfig, secure: boolean, maxSockets: number) {
  let agent: http.Agent | undefined;
  let headers: Record<string, string> = {};
  let headersAt = Number.NEGATIVE_INFINITY;
  return async (): Promise<{ agent: http.Agent; headers: Record<string, string> }> => {
    if (agent && monotonicNow() - headersAt < 30_000) return { agent, headers };
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    headers = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    headersAt = monotonicNow();
    agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets,
          ca: o.ca,
          cert: o.cert,
          key: o.key,
          pfx: o.pfx,
          passphrase: o.passphrase,
          servername: o.servername,
          ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
        })
      : new http.Agent({ keepAlive: true, maxSockets });
    return { agent, headers };
  };
}

function readResponse(req: KubeRequest, res: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', (e) =>
      reject(e instanceof KubeApiError ? e : new KubeApiError(0, 'Transport', e.message)),
    );
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
      const retryAfter = Number(res.headers['retry-after']);
      reject(
        new KubeApiError(
          status,
          b.reason ?? 'Unknown',
          `${req.method} ${req.path}: ${status} ${b.message ?? String(text).slice(0, 200)}`,
          Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
        ),
      );
    });
  });
}

/**
 * Caps the deadline of some requests (the leader's writes) by a budget that
 * shrinks as the lease ages; a budget of 0 refuses the request outright.
 */
export function withDeadlineBudget(
  transport: KubeTransport,
  budgetMs: (req: KubeRequest) => number | undefined,
  defaultTimeoutMs = 30_000,
): KubeTransport {
  return (req) => {
    const budget = budgetMs(req);
    if (budget === undefined) return transport(req);
    if (budget <= 0) {
      return Promise.reject(
        new KubeApiError(0, 'NotLeader', `${req.method} ${req.path}: not leading: not sent`),
      );
    }
    return transport({ ...req, timeoutMs: Math.min(req.timeoutMs ?? defaultTimeoutMs, Math.floor(budget)) });
  };
}

/**
 * The writes (every method but GET) of a transport still in flight, so that a
 * shutdown can stop them before it gives up its lease: a write that kept its
 * budget could otherwise land after a standby took over (the fence counts on
 * the lease not being released while a write may still run).
 */
export class InFlightWrites {
  readonly #running = new Map<AbortController, Promise<unknown>>();
  #closed = false;

  get size(): number {
    return this.#running.size;
  }

  wrap(transport: KubeTransport): KubeTransport {
    return (req) => {
      if (req.method === 'GET') return transport(req);
      if (this.#closed) {
        return Promise.reject(
          new KubeApiError(0, 'Aborted', `${req.method} ${req.path}: shutting down: not sent`),
        );
      }
      const ac = new AbortController();
      const signal = req.signal ? AbortSignal.any([req.signal, ac.signal]) : ac.signal;
      const p = transport({ ...req, signal });
      this.#running.set(ac, p);
      const done = () => this.#running.delete(ac);
      p.then(done, done);
      return p;
    };
  }

  /**
   * Refuses new writes, aborts those in flight and resolves once each has
   * settled (answered, failed or destroyed): how many were aborted.
   */
  async abortAll(): Promise<number> {
    this.#closed = true;
    const running = [...this.#running];
    for (const [ac] of running) ac.abort();
    await Promise.allSettled(running.map(([, p]) => p));
    return running.length;
  }
}

/** /api/v1 for the core group, /apis/<group>/<version> otherwise. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export const encode = encodeURIComponent;

/**
 * The resource a request path names, with its subresource (`deployments/scale`,
 * `scalingpolicies/status`, `events`), or `discovery` for /api, /apis and a
 * group-version: a label of few values (one per kind the operator touches).
 */
export function resourceOfPath(path: string): string {
  const segs = (path.split('?')[0] ?? '').split('/').filter(Boolean);
  let i = segs[0] === 'api' ? 2 : segs[0] === 'apis' ? 3 : -1;
  if (i < 0 || segs.length <= i) return 'discovery';
  if (segs[i] === 'namespaces' && segs.length > i + 2) i += 2;
  const sub = segs[i + 2];
  return sub ? `${segs[i]}/${sub}` : (segs[i] ?? 'discovery');
}

/**
 * A list read `limit` objects at a time, following `continue` (the API server's paging, so a
 * list of thousands is never one response): each page, and whether more follow.
 */
export async function* listPages<T>(
  transport: KubeTransport,
  path: string,
  limit: number,
  timeoutMs?: number,
): AsyncGenerator<{ items: T[]; more: boolean }> {
  let cont: string | undefined;
  do {
    const query = `limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
    const page = (await transport({
      method: 'GET',
      path: `${path}${path.includes('?') ? '&' : '?'}${query}`,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    })) as { items: T[]; metadata?: { continue?: string } };
    cont = page.metadata?.continue || undefined;
    yield { items: page.items, more: cont !== undefined };
  } while (cont);
}
