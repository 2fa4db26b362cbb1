// The collector: a policy's metrics in, typed observations out. See index.ts for the contract.
import type {
  MetricObservation,
  ObservationError,
  ObservationErrorKind,
  PolicySpec,
} from '../policy/types.ts';
import type { AddressPolicy } from './address-policy.ts';
import {
  classifyInstant,
  classifyRange,
  DEFAULT_MAX_VALUE,
  type Point,
  type RawQueryData,
} from './classify.ts';
import { type Connection, type PromClient, PrometheusQueryClient, QueryFailure } from './client.ts';
import {
  type Credentials,
  credentialsIdentity,
  isValidSecretName,
  parseSecret,
  type ReadSecret,
  redact,
  secretStrings,
} from './credentials.ts';
import { SharedRequests } from './dedupe.ts';
import { backoffDelayMs, DEFAULT_RETRY, type RetryOptions, realSleep, type Sleep } from './retry.ts';

/** The part of a (defaulted) ScalingPolicy spec the collector reads. */
export type CollectorSpec = Pick<PolicySpec, 'prometheus' | 'pollingIntervalSeconds'> & {
  metrics: ReadonlyArray<Pick<PolicySpec['metrics'][number], 'name' | 'query'>>;
};

export interface PolicyRef {
  /** The policy's own namespace: the only one its Secret is read from. */
  namespace: string;
  spec: CollectorSpec;
}

/** Why a policy cannot be queried at all. `invalidPolicy`: report InvalidPolicy, do not run the engine. */
export interface PolicyProblem {
  reason:
    | 'InvalidAddress'
    | 'AddressNotAllowed'
    | 'SecretNotFound'
    | 'SecretForbidden'
    | 'SecretUnreadable'
    | 'SecretInvalid';
  invalidPolicy: boolean;
  message: string;
}

export interface PolicyObservations {
  /** One per spec.metrics entry, in the same order. */
  observations: MetricObservation[];
  /** Set when the policy could not be queried at all; every observation then failed with kind 'unreachable'. */
  problem?: PolicyProblem;
  /** spec.prometheus.insecureSkipVerify on an https address (condition InsecureTLS). */
  insecureTLS: boolean;
}

export type RangeResult =
  | {
      ok: true /** [epoch ms, value], ascending; gaps are left out, NaN/±Inf/negative/too-large dropped. */;
      points: Point[];
    }
  | { ok: false; error: ObservationError; problem?: PolicyProblem };

export interface QueryEvent {
  type: 'instant' | 'range';
  outcome: 'success' | 'error';
  /** Set when outcome is 'error'. */
  errorKind?: ObservationErrorKind;
  durationSeconds: number;
  /** 1-based. */
  attempt: number;
  willRetry: boolean;
}

/** Receives one event per HTTP request to Prometheus (retries included). */
export interface QueryObserver {
  onQuery(event: QueryEvent): void;
}

/** pino-compatible subset. */
export interface CollectorLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CollectorOptions {
  /** An AddressPolicy, or anything that checks like one (the operator's reloadable allow-list). */
  addressPolicy: Pick<AddressPolicy, 'check'>;
  /** Required when any policy has spec.prometheus.authSecretRef. */
  readSecret?: ReadSecret;
  client?: PromClient;
  observer?: QueryObserver;
  logger?: CollectorLogger;
  /** epoch ms; default Date.now */
  now?: () => number;
  sleep?: Sleep;
  random?: () => number;
  /** Identical requests starting within this window share one HTTP request. Default 1000. */
  dedupeWindowMs?: number;
  /** A larger response is aborted and classified too-large. Default 4 MiB. */
  maxResponseBytes?: number;
  /** A larger value is classified too-large. Default 1e15. */
  maxValue?: number;
  retry?: Partial<RetryOptions>;
  /** How long a Secret read (or its failure) is reused. Default 10000. */
  secretTtlMs?: number;
  /** Fewest points per range chunk; Prometheus refuses more than 11,000 per series. Default 10000. */
  maxPointsPerChunk?: number;
}

type Fetched = { ok: true; data: RawQueryData } | { ok: false; failure: QueryFailure };

type Resolved = { ok: true; conn: Connection; secrets: string[] } | { ok: false; problem: PolicyProblem };

type SecretRead =
  | { ok: true; credentials: Credentials }
  | { ok: false; reason: PolicyProblem['reason']; message: string };

/** Splits [start, end] into step-aligned chunks of at most maxPoints points each. */
export function planRangeChunks(
  startMs: number,
  endMs: number,
  stepSeconds: number,
  maxPoints: number,
): Array<{ startMs: number; endMs: number }> {
  const stepMs = stepSeconds * 1000;
  if (!(stepMs > 0) || !(endMs >= startMs) || !(maxPoints >= 1)) return [];
  const chunks: Array<{ startMs: number; endMs: number }> = [];
  const span = (Math.floor(maxPoints) - 1) * stepMs;
  for (let s = startMs; s <= endMs; s += span + stepMs) {
    chunks.push({ startMs: s, endMs: Math.min(endMs, s + span) });
  }
  return chunks;
}

export class Collector {
  readonly #o: Required<Omit<CollectorOptions, 'readSecret' | 'observer' | 'logger' | 'retry'>> &
    Pick<CollectorOptions, 'readSecret' | 'observer' | 'logger'>;
  readonly #retry: RetryOptions;
  readonly #shared: SharedRequests<Fetched>;
  readonly #secrets = new Map<string, { at: number; value: Promise<SecretRead> }>();
  readonly #closing = new AbortController();

  constructor(opts: CollectorOptions) {
    const now = opts.now ?? Date.now;
    this.#o = {
      addressPolicy: opts.addressPolicy,
      readSecret: opts.readSecret,
      client: opts.client ?? new PrometheusQueryClient(),
      observer: opts.observer,
      logger: opts.logger,
      now,
      sleep: opts.sleep ?? realSleep,
      random: opts.random ?? Math.random,
      dedupeWindowMs: opts.dedupeWindowMs ?? 1000,
      maxResponseBytes: opts.maxResponseBytes ?? 4 * 1024 * 1024,
      maxValue: opts.maxValue ?? DEFAULT_MAX_VALUE,
      secretTtlMs: opts.secretTtlMs ?? 10_000,
      maxPointsPerChunk: opts.maxPointsPerChunk ?? 10_000,
    };
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#shared = new SharedRequests<Fetched>(this.#o.dedupeWindowMs, now);
  }

  /** HTTP requests started so far (after dedupe; retries not counted). */
  get requestsStarted(): number {
    return this.#shared.started;
  }

  /**
   * Observes every metric of one policy. Never rejects for a metric or Prometheus
   * failure: each becomes a failed MetricObservation.
   */
  async observe(
    policy: PolicyRef,
    opts: { signal?: AbortSignal; staleAfterMs?: number } = {},
  ): Promise<PolicyObservations> {
    const { spec } = policy;
    const insecureTLS =
      spec.prometheus.insecureSkipVerify === true && /^https:/i.test(spec.prometheus.address);
    const resolved = await this.#resolve(policy);
    if (!resolved.ok) {
      const error: ObservationError = { kind: 'unreachable', message: resolved.problem.message };
      return {
        observations: spec.metrics.map((m) => ({ name: m.name, ok: false, error })),
        problem: resolved.problem,
        insecureTLS,
      };
    }
    const interval = (spec.pollingIntervalSeconds ?? 15) * 1000;
    const staleAfterMs = opts.staleAfterMs ?? Math.max(2 * interval, 30_000);
    const timeoutMs = this.#timeoutMs(spec);
    const observations = await Promise.all(
      spec.metrics.map(async (m): Promise<MetricObservation> => {
        const fetched = await this.#fetch(
          resolved.conn,
          resolved.secrets,
          `instant\0${m.query}`,
          'instant',
          timeoutMs,
          interval,
          (o) => this.#o.client.instantQuery(resolved.conn, m.query, o),
          opts.signal,
        );
        if (!fetched.ok) return { name: m.name, ok: false, error: errorOf(fetched.failure) };
        const c = classifyInstant(fetched.data, {
          now: this.#o.now(),
          staleAfterMs,
          maxValue: this.#o.maxValue,
        });
        if (!c.ok) return { name: m.name, ok: false, error: c.error };
        return { name: m.name, ok: true, value: c.value, sampledAt: c.sampledAt };
      }),
    );
    return { observations, insecureTLS };
  }

  /**
   * History for the forecaster: a range query split into chunks under Prometheus'
   * points-per-series limit, fetched one after another. Any failing chunk fails the whole.
   */
  async queryRange(
    policy: PolicyRef,
    query: string,
    startMs: number,
    endMs: number,
    stepSeconds: number,
    opts: { signal?: AbortSignal } = {},
  ): Promise<RangeResult> {
    const resolved = await this.#resolve(policy);
    if (!resolved.ok) {
      return {
        ok: false,
        error: { kind: 'unreachable', message: resolved.problem.message },
        problem: resolved.problem,
      };
    }
    const chunks = planRangeChunks(startMs, endMs, stepSeconds, Math.min(this.#o.maxPointsPerChunk, 11_000));
    if (chunks.length === 0) {
      return {
        ok: false,
        error: { kind: 'bad-query', message: 'range query needs start <= end and a positive step' },
      };
    }
    const timeoutMs = this.#timeoutMs(policy.spec);
    const points: Point[] = [];
    for (const ch of chunks) {
      const fetched = await this.#fetch(
        resolved.conn,
        resolved.secrets,
        `range\0${ch.startMs}\0${ch.endMs}\0${stepSeconds}\0${query}`,
        'range',
        timeoutMs,
        // History loads once per policy start; give its retries a few timeouts.
        timeoutMs * this.#retry.maxAttempts + this.#retry.maxDelayMs * this.#retry.maxAttempts,
        (o) => this.#o.client.rangeQuery(resolved.conn, query, ch.startMs, ch.endMs, stepSeconds, o),
        opts.signal,
      );
      if (!fetched.ok) return { ok: false, error: errorOf(fetched.failure) };
      const c = classifyRange(fetched.data, this.#o.maxValue);
      if (!c.ok) return c;
      for (const p of c.points)
        if (points.length === 0 || p[0] > points[points.length - 1]![0]) points.push(p);
    }
    return { ok: true, points };
  }

  /** Aborts in-flight requests and closes idle connections (operator shutdown). */
  close(): void {
    this.#closing.abort(new QueryFailure('timeout', 'collector closed', false));
    this.#shared.clear();
    this.#secrets.clear();
    const client = this.#o.client as { close?: () => void };
    client.close?.();
  }

  #timeoutMs(spec: CollectorSpec): number {
    const t = spec.prometheus.timeoutSeconds;
    return Math.min(60, Math.max(0.1, typeof t === 'number' && Number.isFinite(t) ? t : 5)) * 1000;
  }

  async #resolve(policy: PolicyRef): Promise<Resolved> {
    const p = policy.spec.prometheus;
    const addr = this.#o.addressPolicy.check(p.address);
    if (!addr.ok)
      return { ok: false, problem: { reason: addr.reason, invalidPolicy: true, message: addr.message } };
    let credentials: Credentials | undefined;
    if (p.authSecretRef !== undefined) {
      const name = p.authSecretRef?.name;
      if (!isValidSecretName(name)) {
        return {
          ok: false,
          problem: {
            reason: 'SecretInvalid',
            invalidPolicy: true,
            message: 'authSecretRef.name is not a valid Secret name',
          },
        };
      }
      const read = await this.#readSecret(policy.namespace, name);
      if (!read.ok) {
        return {
          ok: false,
          problem: {
            reason: read.reason,
            invalidPolicy: read.reason === 'SecretInvalid',
            message: read.message,
          },
        };
      }
      credentials = read.credentials;
    }
    const conn: Connection = {
      baseUrl: addr.baseUrl,
      insecureSkipVerify: p.insecureSkipVerify === true,
      ...(credentials ? { credentials } : {}),
    };
    return { ok: true, conn, secrets: secretStrings(credentials) };
  }

  #readSecret(namespace: string, name: string): Promise<SecretRead> {
    const key = `${namespace}/${name}`;
    const now = this.#o.now();
    const cached = this.#secrets.get(key);
    if (cached && now - cached.at <= this.#o.secretTtlMs) return cached.value;
    const value = this.#readSecretUncached(namespace, name);
    this.#secrets.set(key, { at: now, value });
    if (this.#secrets.size > 10_000) {
      for (const [k, v] of this.#secrets) if (now - v.at > this.#o.secretTtlMs) this.#secrets.delete(k);
    }
    return value;
  }

  async #readSecretUncached(namespace: string, name: string): Promise<SecretRead> {
    const ref = `${namespace}/${name}`;
    const readSecret = this.#o.readSecret;
    if (!readSecret) {
      return {
        ok: false,
        reason: 'SecretUnreadable',
        message: `Secret ${ref}: the operator cannot read Secrets`,
      };
    }
    let secret: Awaited<ReturnType<ReadSecret>>;
    try {
      // The namespace is the policy's own, never one taken from the spec.
      secret = await readSecret(namespace, name);
    } catch (err) {
      // The error's text is not quoted: an API error can echo the object it failed on.
      const status = statusOf(err);
      if (status === 404) return { ok: false, reason: 'SecretNotFound', message: `Secret ${ref} not found` };
      if (status === 401 || status === 403) {
        return {
          ok: false,
          reason: 'SecretForbidden',
          message: `the operator may not read Secret ${ref} (HTTP ${status})`,
        };
      }
      return {
        ok: false,
        reason: 'SecretUnreadable',
        message: `reading Secret ${ref} failed${status ? ` (HTTP ${status})` : ''}`,
      };
    }
    if (secret === undefined || secret === null) {
      return { ok: false, reason: 'SecretNotFound', message: `Secret ${ref} not found` };
    }
    const parsed = parseSecret(secret, ref);
    return parsed.ok ? parsed : { ok: false, reason: 'SecretInvalid', message: parsed.message };
  }

  /** One request (shared with identical ones) with per-attempt deadline and retries; never rejects. */
  #fetch(
    conn: Connection,
    secrets: readonly string[],
    what: string,
    type: 'instant' | 'range',
    timeoutMs: number,
    budgetMs: number,
    send: (o: { signal: AbortSignal; timeoutMs: number; maxResponseBytes: number }) => Promise<RawQueryData>,
    signal: AbortSignal | undefined,
  ): Promise<Fetched> {
    const key = [
      conn.baseUrl,
      credentialsIdentity(conn.credentials),
      conn.insecureSkipVerify,
      timeoutMs,
      what,
    ].join('\0');
    const shared = this.#shared.get(key, () =>
      this.#attempts(conn, secrets, type, timeoutMs, budgetMs, send),
    );
    if (!signal) return shared;
    // The caller may stop waiting; the shared request goes on for the others.
    return new Promise<Fetched>((resolve) => {
      const onAbort = () =>
        resolve({ ok: false, failure: new QueryFailure('timeout', 'query aborted', false) });
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then((r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      });
    });
  }

  async #attempts(
    conn: Connection,
    secrets: readonly string[],
    type: 'instant' | 'range',
    timeoutMs: number,
    budgetMs: number,
    send: (o: { signal: AbortSignal; timeoutMs: number; maxResponseBytes: number }) => Promise<RawQueryData>,
  ): Promise<Fetched> {
    const began = this.#o.now();
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now();
      const deadline = new AbortController();
      const timer = setTimeout(
        () => deadline.abort(new QueryFailure('timeout', `query timed out after ${timeoutMs / 1000}s`, true)),
        timeoutMs,
      );
      const signal = AbortSignal.any([deadline.signal, this.#closing.signal]);
      let failure: QueryFailure;
      try {
        const data = await send({ signal, timeoutMs, maxResponseBytes: this.#o.maxResponseBytes });
        this.#emit({
          type,
          outcome: 'success',
          durationSeconds: (performance.now() - t0) / 1000,
          attempt,
          willRetry: false,
        });
        return { ok: true, data };
      } catch (err) {
        failure =
          err instanceof QueryFailure
            ? err
            : signal.aborted && signal.reason instanceof QueryFailure
              ? signal.reason
              : new QueryFailure('unreachable', 'query failed', true);
        // Defence in depth: whatever produced the message, no credential leaves here.
        failure = new QueryFailure(
          failure.kind,
          redact(failure.message, secrets),
          failure.transient,
          failure.status,
        );
      } finally {
        clearTimeout(timer);
      }
      const delay = backoffDelayMs(attempt, this.#retry, this.#o.random);
      const elapsed = this.#o.now() - began;
      const willRetry =
        failure.transient &&
        attempt < this.#retry.maxAttempts &&
        !this.#closing.signal.aborted &&
        elapsed + delay + timeoutMs <= budgetMs;
      this.#emit({
        type,
        outcome: 'error',
        errorKind: failure.kind,
        durationSeconds: (performance.now() - t0) / 1000,
        attempt,
        willRetry,
      });
      this.#o.logger?.debug(
        {
          address: conn.baseUrl,
          type,
          attempt,
          kind: failure.kind,
          error: failure.message,
          retryInMs: willRetry ? delay : null,
        },
        'Prometheus query failed',
      );
      if (!willRetry) return { ok: false, failure };
      await this.#o.sleep(delay, this.#closing.signal);
    }
  }

  #emit(e: QueryEvent): void {
    try {
      this.#o.observer?.onQuery(e);
    } catch {
      // A metrics hook must not break a tick.
    }
  }
}

function errorOf(f: QueryFailure): ObservationError {
  return { kind: f.kind, message: f.message };
}

function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as {
    statusCode?: unknown;
    code?: unknown;
    status?: unknown;
    response?: { statusCode?: unknown };
  };
  for (const v of [e.statusCode, e.code, e.status, e.response?.statusCode])
    if (typeof v === 'number') return v;
  return undefined;
}
