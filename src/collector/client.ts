// The HTTP side of the collector: one interface (PromClient) and its
// implementation on `prometheus-query`. prometheus-query sends its requests with
// axios; this module reaches the per-request axios config through the driver's
// request interceptor to add what the driver has no option for: an abort signal
// (a wall-clock deadline; axios' own `timeout` is a socket-idle timer that a
// server dripping one byte a second never trips), a response size limit, no
// redirects (a redirect would walk around the address allow-list), and an
// https agent that carries the policy's CA bundle or its insecureSkipVerify.
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import { PrometheusDriver } from 'prometheus-query';
import type { ObservationErrorKind } from '../policy/types.ts';
import type { RawQueryData } from './classify.ts';
import { type Credentials, credentialsIdentity, redact, secretStrings } from './credentials.ts';

export interface Connection {
  /** Normalised, allow-listed base URL without a trailing slash. */
  baseUrl: string;
  credentials?: Credentials;
  insecureSkipVerify: boolean;
}

export interface RequestOptions {
  /** Aborts the request; the collector arms it with the per-query deadline. */
  signal: AbortSignal;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Prometheus' HTTP API as the collector uses it. Rejects with QueryFailure only. */
export interface PromClient {
  instantQuery(conn: Connection, query: string, opts: RequestOptions): Promise<RawQueryData>;
  rangeQuery(
    conn: Connection,
    query: string,
    startMs: number,
    endMs: number,
    stepSeconds: number,
    opts: RequestOptions,
  ): Promise<RawQueryData>;
}

/** A failed request, already classified. Its message never holds a credential. */
export class QueryFailure extends Error {
  readonly kind: ObservationErrorKind;
  /** Whether trying again may help: timeouts, connection errors, 5xx, 429. */
  readonly transient: boolean;
  readonly status: number | undefined;
  constructor(kind: ObservationErrorKind, message: string, transient: boolean, status?: number) {
    super(message);
    this.name = 'QueryFailure';
    this.kind = kind;
    this.transient = transient;
    this.status = status;
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
]);

function isTlsCode(code: string): boolean {
  return (
    code.startsWith('ERR_SSL') ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'HOSTNAME_MISMATCH'
  );
}

interface RequestContext {
  opts: RequestOptions;
  captured: Captured;
  httpsAgent?: https.Agent;
}

const requestContext = new AsyncLocalStorage<RequestContext>();
const CONTEXT = Symbol('tidemark.requestContext');
type ContextConfig = { [CONTEXT]?: RequestContext };

interface Captured {
  status?: number;
  data?: unknown;
  /** Set when the axios response carried a body the driver then failed to parse. */
  succeeded: boolean;
}

/** The shape prometheus-query throws (it rejects with plain objects, not Errors). */
interface DriverError {
  errorType?: string;
  error?: unknown;
  code?: unknown;
  httpStatus?: number;
  prometheus?: { errorType?: unknown; error?: unknown };
}

/** Classifies whatever the driver or axios threw. Exported for tests. */
export function classifyFailure(
  thrown: unknown,
  captured: { status?: number },
  secrets: readonly string[],
  signal?: AbortSignal,
): QueryFailure {
  if (thrown instanceof QueryFailure) return thrown;
  // Whoever aborted says why (the collector aborts with a QueryFailure for its deadline).
  if (signal?.aborted) {
    return signal.reason instanceof QueryFailure
      ? signal.reason
      : new QueryFailure('timeout', 'query aborted', false);
  }
  const e = (thrown ?? {}) as DriverError;
  const clean = (s: unknown) => redact(String(s ?? ''), secrets, 300);
  const code = typeof e.code === 'string' ? e.code : '';
  const status = e.httpStatus ?? captured.status;
  if (e.errorType === 'http_error' || (e.errorType === 'client_error' && status !== undefined)) {
    const s = status ?? 0;
    const promError = e.prometheus?.error ?? e.error;
    const detail = promError ? `: ${clean(promError)}` : '';
    if (s === 400 || s === 422)
      return new QueryFailure('bad-query', `Prometheus rejected the query (HTTP ${s})${detail}`, false, s);
    if (s === 503 && e.prometheus?.errorType === 'timeout') {
      return new QueryFailure('timeout', `Prometheus timed out evaluating the query${detail}`, true, s);
    }
    const transient = s === 429 || s >= 500;
    return new QueryFailure('http-error', `Prometheus answered HTTP ${s}${detail}`, transient, s);
  }
  if (e.errorType === 'client_error') {
    return new QueryFailure(
      'http-error',
      'Prometheus answered with a body that is not a Prometheus API response',
      false,
    );
  }
  const message = clean(e.error ?? (thrown instanceof Error ? thrown.message : thrown));
  if (/maxContentLength/.test(message)) {
    return new QueryFailure(
      'too-large',
      'response exceeded the size limit; the query selects too much',
      false,
    );
  }
  if (code === 'ERR_CANCELED') return new QueryFailure('timeout', 'query aborted', false);
  if (e.errorType === 'ssl_error' || isTlsCode(code)) {
    return new QueryFailure(
      'unreachable',
      `TLS handshake with Prometheus failed (${code || 'TLS'}): ${message}`,
      false,
    );
  }
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
    return new QueryFailure('timeout', `query timed out (${code})`, true);
  }
  if (NETWORK_CODES.has(code) || e.errorType === 'network_error') {
    return new QueryFailure('unreachable', `cannot reach Prometheus: ${message || code}`, true);
  }
  return new QueryFailure('unreachable', `query failed: ${message || 'unknown error'}`, true);
}

export interface PrometheusQueryClientOptions {
  /** Most https agents kept at once (one per CA bundle and verification setting). */
  maxAgents?: number;
  /** Most drivers kept at once (one per address and credentials). */
  maxDrivers?: number;
}

/** PromClient on prometheus-query (axios), with keep-alive agents shared per TLS setting. */
export class PrometheusQueryClient implements PromClient {
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #httpsAgents = new Map<string, https.Agent>();
  readonly #drivers = new Map<string, PrometheusDriver>();
  readonly #maxAgents: number;
  readonly #maxDrivers: number;

  constructor(opts: PrometheusQueryClientOptions = {}) {
    this.#maxAgents = opts.maxAgents ?? 64;
    this.#maxDrivers = opts.maxDrivers ?? 1024;
  }

  #httpsAgent(conn: Connection): https.Agent {
    const ca = conn.credentials?.caPem;
    const key = `${conn.insecureSkipVerify}:${ca ? credentialsIdentity({ caPem: ca }) : ''}`;
    let agent = this.#httpsAgents.get(key);
    if (agent) {
      // Map order is insertion order: re-insert to keep the most recent last.
      this.#httpsAgents.delete(key);
      this.#httpsAgents.set(key, agent);
      return agent;
    }
    agent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      rejectUnauthorized: !conn.insecureSkipVerify,
      ...(ca ? { ca } : {}),
    });
    this.#httpsAgents.set(key, agent);
    if (this.#httpsAgents.size > this.#maxAgents) {
      const [oldestKey, oldest] = this.#httpsAgents.entries().next().value as [string, https.Agent];
      this.#httpsAgents.delete(oldestKey);
      oldest.destroy();
    }
    return agent;
  }

  #driver(conn: Connection): PrometheusDriver {
    const key = `${conn.baseUrl}\0${credentialsIdentity(conn.credentials)}`;
    let driver = this.#drivers.get(key);
    if (driver) {
      this.#drivers.delete(key);
      this.#drivers.set(key, driver);
      return driver;
    }
    const headers: Record<string, string> = {};
    if (conn.credentials?.bearerToken) headers.Authorization = `Bearer ${conn.credentials.bearerToken}`;
    // Drivers are cached per address and credentials (creating one costs about as
    // much as a tenth of a request); what changes per request travels in
    // requestContext, and back on the axios config object.
    driver = new PrometheusDriver({
      endpoint: conn.baseUrl,
      baseURL: '/api/v1/',
      headers,
      ...(conn.credentials?.basic ? { auth: conn.credentials.basic } : {}),
      requestInterceptor: {
        onFulfilled: (config) => {
          const ctx = requestContext.getStore();
          if (!ctx) throw new QueryFailure('unreachable', 'request issued outside the collector', false);
          (config as ContextConfig)[CONTEXT] = ctx;
          config.signal = ctx.opts.signal;
          // A backstop only: the signal enforces the wall-clock deadline.
          config.timeout = ctx.opts.timeoutMs + 1000;
          config.maxContentLength = ctx.opts.maxResponseBytes;
          config.maxRedirects = 0;
          config.adapter = 'http';
          config.httpAgent = this.#httpAgent;
          if (ctx.httpsAgent) config.httpsAgent = ctx.httpsAgent;
          return config;
        },
      },
      responseInterceptor: {
        onFulfilled: (response) => {
          const captured = (response.config as ContextConfig)[CONTEXT]?.captured;
          if (captured) {
            captured.status = response.status;
            captured.data = response.data;
            captured.succeeded = true;
          }
          return response;
        },
        onRejected: (error: { config?: ContextConfig; response?: { status?: number } }) => {
          const captured = error?.config?.[CONTEXT]?.captured;
          if (captured) captured.status = error?.response?.status;
          return Promise.reject(error);
        },
      },
    });
    this.#drivers.set(key, driver);
    if (this.#drivers.size > this.#maxDrivers) {
      const oldest = this.#drivers.keys().next().value as string;
      this.#drivers.delete(oldest);
    }
    return driver;
  }

  async #run(
    conn: Connection,
    opts: RequestOptions,
    call: (driver: PrometheusDriver) => Promise<unknown>,
  ): Promise<RawQueryData> {
    const captured: Captured = { succeeded: false };
    const secrets = secretStrings(conn.credentials);
    const httpsAgent = conn.baseUrl.startsWith('https:') ? this.#httpsAgent(conn) : undefined;
    const driver = this.#driver(conn);
    const ctx: RequestContext = { opts, captured, ...(httpsAgent ? { httpsAgent } : {}) };
    try {
      await requestContext.run(ctx, () => call(driver));
    } catch (thrown) {
      // The driver parses the body into its own classes and throws on shapes it
      // does not know (native histograms); the raw body is still good to classify.
      // (prometheus-query also turns its own "not an API response" error into a
      // network error by catching it twice, so a 2xx is judged on its body below.)
      if (!captured.succeeded) throw classifyFailure(thrown, captured, secrets, opts.signal);
    }
    if (!isApiSuccess(captured.data)) {
      throw new QueryFailure(
        'http-error',
        'Prometheus answered with a body that is not a Prometheus API response',
        false,
      );
    }
    return captured.data.data as RawQueryData;
  }

  instantQuery(conn: Connection, query: string, opts: RequestOptions): Promise<RawQueryData> {
    // Prometheus stops evaluating at its own timeout too; durations take integer units.
    const timeout = `${Math.max(1, Math.round(opts.timeoutMs))}ms`;
    return this.#run(conn, opts, (d) => d.instantQuery(query, undefined, timeout));
  }

  rangeQuery(
    conn: Connection,
    query: string,
    startMs: number,
    endMs: number,
    stepSeconds: number,
    opts: RequestOptions,
  ): Promise<RawQueryData> {
    const timeout = `${Math.max(1, Math.round(opts.timeoutMs))}ms`;
    // Dates, not numbers: the driver treats a falsy 0 as "no time given".
    return this.#run(conn, opts, (d) =>
      d.rangeQuery(query, new Date(startMs), new Date(endMs), stepSeconds, timeout),
    );
  }

  /** Closes idle keep-alive sockets (on operator shutdown). */
  close(): void {
    this.#httpAgent.destroy();
    for (const a of this.#httpsAgents.values()) a.destroy();
    this.#httpsAgents.clear();
    this.#drivers.clear();
  }
}

function isApiSuccess(body: unknown): body is { status: 'success'; data: unknown } {
  return (
    body !== null &&
    typeof body === 'object' &&
    (body as { status?: unknown }).status === 'success' &&
    typeof (body as { data?: unknown }).data === 'object' &&
    (body as { data?: unknown }).data !== null
  );
}
