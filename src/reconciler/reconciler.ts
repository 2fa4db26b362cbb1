import type { Logger } from 'pino';
import type { AddressCheck, PolicyObservations, PolicyRef, RangeResult } from '../collector/index.ts';
import type { ScalingPolicy, ScalingPolicyStatus } from '../crd/types.generated.ts';
import { fmtDuration } from '../forecast/holtwinters.ts';
import { type OperatorMetrics, observeEvaluation } from '../metrics/registry.ts';
import { decide as engineDecide, initialState } from '../policy/engine.ts';
import { forecastConfig, type Level5State, level5TrainForecast } from '../policy/level5.ts';
import type { Decision, EngineInput, EngineOutput, EngineState, LimitReason } from '../policy/types.ts';
import { DiscoveryCache, type ScalableResource, TargetResolveError } from './discovery.ts';
import type { EventSpec, InvolvedObject } from './events.ts';
import { encode, isConflict, isNotFound, KubeApiError, type KubeTransport } from './kube.ts';
import {
  historyKey,
  historyRetryDelayMs,
  historyWindow,
  latencySpec,
  readyReplicasOf,
  wantsReadyReplicas,
} from './level5-inputs.ts';
import {
  type Condition,
  type ConditionInput,
  type CurrentMetric,
  compactState,
  formatNumber,
  getCondition,
  pushDecision,
  restoreState,
  setCondition,
  statusChanged,
} from './status.ts';

export const POLICY_API_VERSION = 'tidemark.dev/v1alpha1';
export const POLICY_PLURAL = 'scalingpolicies';

/** What the reconciler needs from the collector (src/collector's Collector satisfies it). */
export interface ObservationSource {
  observe(policy: PolicyRef, opts?: { signal?: AbortSignal }): Promise<PolicyObservations>;
  /** The forecaster's history; without it, a predictive policy learns from its live ticks only. */
  queryRange?(
    policy: PolicyRef,
    query: string,
    startMs: number,
    endMs: number,
    stepSeconds: number,
  ): Promise<RangeResult>;
}

export interface EventSink {
  record(obj: InvolvedObject, e: EventSpec): Promise<void>;
}

export interface ReconcilerDeps {
  transport: KubeTransport;
  discovery: DiscoveryCache;
  collector: ObservationSource;
  addressPolicy: { check(address: string): AddressCheck };
  events: EventSink;
  metrics: OperatorMetrics;
  log: Logger;
  /**
   * Fencing, checked right before every side effect (scale patch, status write,
   * Event): false once this process lost the Lease or the policy was deleted, so
   * a tick that was in flight at that moment changes nothing more.
   */
  mayAct: (uid: string) => boolean;
  decide?: (input: EngineInput) => EngineOutput;
  now?: () => number;
  /** Conflict retries of a status write. */
  statusRetries?: number;
  /** Timeout of each API server request made by a tick. */
  requestTimeoutMs?: number;
  /** Longest time the volatile engine state (Level 5 histories) goes unwritten while status is otherwise idle. */
  volatileMaxAgeMs?: number;
}

export type TickOutcome =
  | 'paused'
  | 'invalid-policy'
  | 'target-not-found'
  | 'target-error'
  | 'decided'
  | 'scale-failed'
  | 'fenced';

export interface TickResult {
  outcome: TickOutcome;
  decision?: Decision;
  scaled?: { from: number; to: number; at: number };
  statusWritten: boolean;
  events: EventSpec[];
}

/** Per policy, while this process is the leader: what it last wrote and the full engine state. */
interface Memory {
  engineState?: EngineState;
  /** The status as last written (or read at start): the base of every comparison. */
  status?: ScalingPolicyStatus;
  rv?: string;
  basedOnRv?: string;
  writtenAt?: number;
  /**
   * A status this process computed but failed to write (conflicts beyond the
   * retries, API server away): the next tick builds on it, so that what it
   * recorded (a scaling decision, lastScaleTime) is not lost.
   */
  unwritten?: ScalingPolicyStatus;
  /** Per metric, what its forecaster's history was loaded for (historyKey); absent: not loaded yet. */
  history?: Map<string, string>;
  /** The last history load failed: why, how often in a row, and when to try again. */
  historyError?: { message: string; failures: number; retryAt: number };
}

/**
 * Engine state that changes every tick without changing the next decision much:
 * the Level 5 histories (forecast model, anomaly windows, flap counts). Losing a
 * few minutes of it on a restart only makes those mechanisms more cautious.
 */
const VOLATILE_STATE_KEYS: ReadonlySet<string> = new Set(['level5']);

/** Limits that mean "the policy wanted more (or less) than it was allowed": condition ScalingLimited. */
const LIMITING = new Set<LimitReason>([
  'ScaleUpRateLimit',
  'ScaleDownRateLimit',
  'ScaleUpCooldown',
  'ScaleDownCooldown',
  'ScaleUpDisabled',
  'ScaleDownDisabled',
  'MaxReplicas',
  'MinReplicas',
]);

interface Scale {
  metadata?: { resourceVersion?: string };
  spec?: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}

/**
 * One tick of one policy: allow-list, target, observations, decision, action,
 * status and Events. Everything it remembers between ticks is either in the
 * policy's status (so a restarted operator or a new leader continues) or is a
 * cache that the status can rebuild.
 */
export class PolicyReconciler {
  readonly #d: ReconcilerDeps;
  readonly #decide: (input: EngineInput) => EngineOutput;
  readonly #now: () => number;
  readonly #memory = new Map<string, Memory>();
  readonly #anomaliesSeen = new Map<string, Record<string, number>>();
  /**
   * Scale patches whose outcome is unknown (timed out, connection lost, 5xx): the
   * API server may still apply them, e.g. once etcd answers again. Kept across
   * reset() (the leadership is usually lost in the same outage), so that the
   * next tick that finds the target at the patched count records the action
   * once instead of losing it.
   */
  readonly #unconfirmed = new Map<string, UnconfirmedScale>();
  /** Unwritten statuses kept across reset(), with the status they were built on. */
  readonly #carried = new Map<string, { base?: ScalingPolicyStatus; unwritten: ScalingPolicyStatus }>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#decide = deps.decide ?? ((input) => engineDecide(input));
    this.#now = deps.now ?? Date.now;
  }

  /** The policy was deleted: forget it (its target keeps its replicas). */
  forget(uid: string): void {
    this.#memory.delete(uid);
    this.#unconfirmed.delete(uid);
    this.#carried.delete(uid);
  }

  /** Leadership changed hands: the status, written by whoever led, is the truth again. */
  reset(): void {
    // A status this process failed to write survives only if nobody wrote one since (see #memoryOf).
    for (const [uid, m] of this.#memory) {
      if (m.unwritten) this.#carried.set(uid, { base: m.status, unwritten: m.unwritten });
    }
    this.#memory.clear();
  }

  async reconcile(policy: ScalingPolicy, dueAt: number = this.#now()): Promise<TickResult> {
    const { namespace = '', name = '', uid = '', generation } = policy.metadata;
    const log = this.#d.log.child({ namespace, policy: name });
    const spec = policy.spec;
    const mem = this.#memoryOf(uid, policy);
    const prev = mem.status;
    const now = this.#now();
    const nowIso = new Date(now).toISOString();
    const target = spec.targetRef;
    const next: ScalingPolicyStatus = {
      ...structuredClone(mem.unwritten ?? prev ?? {}),
      observedGeneration: generation,
      targetDisplay: `${target.kind}/${target.name}`,
    };
    const events: EventSpec[] = [];
    const cond = (c: ConditionInput) => {
      next.conditions = setCondition(next.conditions, c, nowIso, generation);
    };
    const transitioned = (type: string, status: string, reason?: string) => {
      const p = getCondition(prev, type);
      return !p || p.status !== status || (reason !== undefined && p.reason !== reason);
    };
    const involved: InvolvedObject = {
      apiVersion: POLICY_API_VERSION,
      kind: 'ScalingPolicy',
      name,
      namespace,
      uid,
    };
    const finish = async (outcome: TickOutcome, extra: Partial<TickResult> = {}): Promise<TickResult> => {
      if (!this.#d.mayAct(uid)) return { outcome: 'fenced', statusWritten: false, events: [], ...extra };
      let statusWritten = false;
      // The Level 5 history moves every tick; it rides along with other changes, and on its
      // own at most every volatileMaxAgeMs, so an idle policy stays (almost) silent.
      const volatileDue = now - (mem.writtenAt ?? -Infinity) >= (this.#d.volatileMaxAgeMs ?? 300_000);
      if (statusChanged(prev, next, spec, volatileDue ? undefined : VOLATILE_STATE_KEYS)) {
        statusWritten = await this.#writeStatus(policy, next, mem, log, now);
        if (statusWritten) delete mem.unwritten;
        else mem.unwritten = next;
      } else {
        delete mem.unwritten;
      }
      for (const e of events) {
        if (!this.#d.mayAct(uid)) break;
        await this.#d.events.record(involved, e);
      }
      this.#observeConditions(namespace, name, next.conditions ?? []);
      return { outcome, statusWritten, events, ...extra };
    };

    // Paused: nothing is read and nothing is changed, beyond saying so once.
    if (spec.mode === 'Paused') {
      cond({
        type: 'Active',
        status: 'False',
        reason: 'Paused',
        message: 'mode is Paused: no metrics are read and the target is left as it is',
      });
      return finish('paused');
    }
    cond({
      type: 'Active',
      status: 'True',
      reason: spec.mode,
      message:
        spec.mode === 'DryRun'
          ? 'mode is DryRun: decisions are recorded, the target is never changed'
          : 'mode is Active: decisions are applied to the target',
    });

    // The allow-list comes first: a policy naming another address sends no request at all.
    const addr = this.#d.addressPolicy.check(spec.prometheus.address);
    if (!addr.ok) return this.#invalid(addr.message, prev, cond, events, finish);

    let resource: ScalableResource;
    let scale: Scale;
    try {
      resource = await this.#d.discovery.resolve(target.apiVersion, target.kind);
      scale = (await this.#d.transport({
        method: 'GET',
        path: DiscoveryCache.scalePath(resource, namespace, target.name),
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      })) as Scale;
    } catch (err) {
      if (
        isNotFound(err) ||
        (err instanceof TargetResolveError &&
          (err.kind === 'UnknownKind' || err.kind === 'UnknownGroupVersion'))
      ) {
        const what = `${target.kind} ${namespace}/${target.name}`;
        const message =
          err instanceof TargetResolveError
            ? `target ${what} not found: ${err.message}`
            : `target ${what} not found`;
        cond({ type: 'AbleToScale', status: 'False', reason: 'TargetNotFound', message });
        cond({ type: 'Ready', status: 'False', reason: 'TargetNotFound', message });
        if (transitioned('AbleToScale', 'False', 'TargetNotFound')) {
          events.push({ type: 'Warning', reason: 'TargetNotFound', message });
        }
        log.warn({ target: what }, 'target not found');
        return finish('target-not-found');
      }
      if (err instanceof TargetResolveError) {
        return this.#invalid(
          `targetRef ${target.apiVersion} ${target.kind}: ${err.message}`,
          prev,
          cond,
          events,
          finish,
        );
      }
      const message = `reading the scale of ${target.kind} ${namespace}/${target.name} failed: ${errText(err)}`;
      cond({ type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message });
      log.warn({ err: errText(err) }, 'reading the target scale failed');
      return finish('target-error');
    }
    const current = scale.spec?.replicas ?? 0;
    const display = `${target.kind} ${namespace}/${target.name}`;
    const late = this.#confirmUnconfirmed(uid, current, prev, now);
    if (late) {
      // Our own earlier patch took effect after its request failed: record it now, once.
      events.push({
        type: 'Normal',
        reason: 'Scaled',
        message: `scaled ${display} ${late.from}→${late.to}: ${late.reason} (applied after the request failed)`,
      });
      next.lastScaleTime = late.time;
      next.recentDecisions = pushDecision(next.recentDecisions, {
        time: late.time,
        from: late.from,
        to: late.to,
        reason: late.reason,
        limitedBy: late.limitedBy,
      });
      mem.engineState = late.state;
      this.#d.metrics.scalingActions.inc({ namespace, policy: name, direction: late.direction });
      log.info({ from: late.from, to: late.to }, 'an earlier scale patch took effect after it failed');
    }
    const wasNotFound = getCondition(prev, 'AbleToScale')?.reason === 'TargetNotFound';
    if (wasNotFound) {
      events.push({
        type: 'Normal',
        reason: 'TargetFound',
        message: `target ${display} found (${current} replicas)`,
      });
    }
    cond({
      type: 'AbleToScale',
      status: 'True',
      reason: 'SucceededGetScale',
      message: `the scale subresource of ${display} is readable`,
    });

    // Observations. The collector never rejects for Prometheus or a metric; the ready count
    // and the SLO latency are extras whose failure only leaves them out.
    const latency = latencySpec(spec);
    const [obs, readyReplicas, latencySeconds] = await Promise.all([
      this.#d.collector.observe({ namespace, spec }),
      wantsReadyReplicas(spec) ? this.#readyReplicas(resource, namespace, target.name, log) : undefined,
      latency ? this.#latencySeconds(namespace, latency, log) : undefined,
    ]);
    if (obs.problem?.invalidPolicy) return this.#invalid(obs.problem.message, prev, cond, events, finish);
    if (obs.insecureTLS || getCondition(prev, 'InsecureTLS')) {
      cond(
        obs.insecureTLS
          ? {
              type: 'InsecureTLS',
              status: 'True',
              reason: 'InsecureSkipVerify',
              message: "prometheus.insecureSkipVerify is set: Prometheus' certificate is not verified",
            }
          : {
              type: 'InsecureTLS',
              status: 'False',
              reason: 'CertificateVerified',
              message: 'TLS is verified',
            },
      );
    }

    // The engine, with the state this process holds or, after a restart or failover, the persisted one.
    let state = mem.engineState ?? restoreState(prev?.engineState, now, spec.pollingIntervalSeconds);
    state = await this.#loadHistory(namespace, spec, state, current, mem, now, log, events);
    const { decision, state: nextState } = this.#decide({
      spec,
      state,
      observations: obs.observations,
      currentReplicas: current,
      ...(readyReplicas === undefined ? {} : { readyReplicas }),
      ...(latencySeconds === undefined ? {} : { latencySeconds }),
      now,
    });
    const m = this.#d.metrics;
    m.tickDuration.observe(Math.max(0, this.#now() - dueAt) / 1000);
    m.decisions.inc({
      namespace,
      policy: name,
      direction: decision.direction,
      limited_by: decision.limitedBy[0] ?? 'None',
    });
    this.#observeDecision(namespace, name, spec, decision, obs, nextState);

    const desired = decision.desiredReplicas;
    let outcome: TickOutcome = 'decided';
    let scaled: TickResult['scaled'];
    let keepState = true;
    if (desired !== current && spec.mode === 'Active') {
      if (!this.#d.mayAct(uid)) return { outcome: 'fenced', decision, statusWritten: false, events: [] };
      try {
        await this.#d.transport({
          method: 'PATCH',
          path: DiscoveryCache.scalePath(resource, namespace, target.name),
          body: { spec: { replicas: desired } },
          timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
        });
        scaled = { from: current, to: desired, at: this.#now() };
        m.scalingActions.inc({ namespace, policy: name, direction: decision.direction });
        const message = `scaled ${display} ${current}→${desired}: ${decision.reason}`;
        events.push({ type: 'Normal', reason: 'Scaled', message });
        next.lastScaleTime = nowIso;
        next.recentDecisions = pushDecision(next.recentDecisions, {
          time: nowIso,
          from: current,
          to: desired,
          reason: decision.reason,
          limitedBy: decision.limitedBy.join(','),
        });
        log.info(
          { from: current, to: desired, reason: decision.reason, limitedBy: decision.limitedBy },
          'scaled',
        );
      } catch (err) {
        // The engine assumed the action happened; it did not, so its new state is dropped.
        keepState = false;
        outcome = 'scale-failed';
        if (outcomeUnknown(err)) {
          this.#unconfirmed.set(uid, {
            from: current,
            to: desired,
            time: nowIso,
            at: now,
            reason: decision.reason,
            limitedBy: decision.limitedBy.join(','),
            direction: decision.direction,
            state: nextState,
          });
        }
        const message = `patching the scale of ${display} to ${desired} failed: ${errText(err)}`;
        cond({ type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message });
        log.warn({ err: errText(err), desired }, 'scale patch failed');
      }
    } else if (desired !== current && spec.mode === 'DryRun') {
      const head = next.recentDecisions?.[0];
      if (!head || head.from !== current || head.to !== desired) {
        next.recentDecisions = pushDecision(next.recentDecisions, {
          time: nowIso,
          from: current,
          to: desired,
          reason: decision.reason,
          limitedBy: decision.limitedBy.join(','),
        });
        events.push({
          type: 'Normal',
          reason: 'DryRunDecision',
          message: `would scale ${display} ${current}→${desired}: ${decision.reason}`,
        });
      }
    } else if (desired === current && decision.direction === 'None') {
      log.debug({ replicas: current, reason: decision.reason }, 'no change');
    }

    // Status and the transitions worth an Event.
    const after = scaled ? desired : current;
    m.currentReplicas.set({ namespace, policy: name }, after);
    next.currentReplicas = after;
    next.desiredReplicas = desired;
    next.currentMetrics = decision.metrics.map((r): CurrentMetric => {
      const cm: CurrentMetric = { name: r.name };
      const v = formatNumber(r.value);
      const t = formatNumber(r.target);
      if (v !== undefined) cm.value = v;
      if (t !== undefined) cm.target = t;
      if (r.proposedReplicas !== undefined) cm.proposedReplicas = r.proposedReplicas;
      if (r.error) cm.error = `${r.error.kind}: ${r.error.message}`;
      return cm;
    });
    this.#metricTransitions(prev, decision, events);

    const failing = decision.metrics.filter((r) => r.error);
    if (failing.length === decision.metrics.length && failing.length > 0) {
      cond({
        type: 'Ready',
        status: 'False',
        reason: 'MetricsUnavailable',
        message: `every metric failed: ${failing.map((r) => `${r.name} (${r.error?.kind})`).join(', ')}`,
      });
    } else if (failing.length > 0) {
      cond({
        type: 'Ready',
        status: 'True',
        reason: 'SomeMetricsFailing',
        message: `${failing.length} of ${decision.metrics.length} metrics failing: ${failing
          .map((r) => `${r.name} (${r.error?.kind})`)
          .join(', ')}; no scale-down while any fails`,
      });
    } else {
      cond({
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: 'metrics are read and decisions taken',
      });
    }

    const limit = decision.limitedBy[0] ?? 'None';
    if (LIMITING.has(limit)) {
      const message = `${limit}: proposed ${decision.proposedReplicas}, allowed ${desired} (current ${current})`;
      if (transitioned('ScalingLimited', 'True', limit)) {
        events.push({ type: 'Normal', reason: 'ScaleLimited', message: `${limit}: ${decision.reason}` });
      }
      cond({ type: 'ScalingLimited', status: 'True', reason: limit, message });
    } else {
      cond({
        type: 'ScalingLimited',
        status: 'False',
        reason: 'DesiredWithinRange',
        message: 'the desired count is within the bounds and rate limits',
      });
    }
    cond(
      decision.fallbackActive
        ? {
            type: 'FallbackActive',
            status: 'True',
            reason: 'MetricsFailing',
            message:
              spec.fallback?.replicas !== undefined
                ? `every metric failed ${spec.fallback.failureThreshold} ticks in a row; holding fallback replicas ${spec.fallback.replicas}`
                : 'every metric failed repeatedly; holding the current count',
          }
        : {
            type: 'FallbackActive',
            status: 'False',
            reason: 'MetricsAvailable',
            message: 'fallback does not apply',
          },
    );
    // The Level 5 mechanisms own their conditions and status parts; present only while enabled.
    const historyError = mem.historyError;
    for (const c of decision.conditions ?? []) {
      // A forecaster that stands aside because its history could not be loaded says so.
      cond(
        c.type === 'ForecastReady' && c.status === 'False' && historyError
          ? {
              ...c,
              message: `${c.message}; its history could not be loaded from Prometheus (${historyError.message}), retrying`,
            }
          : c,
      );
    }
    for (const type of ['AnomalyDetected', 'ScalingIneffective', 'ForecastReady']) {
      if (!decision.conditions?.some((c) => c.type === type) && getCondition(next, type)) {
        next.conditions = next.conditions?.filter((c) => c.type !== type);
      }
    }
    if (decision.status?.forecast) next.forecast = decision.status.forecast;
    else delete next.forecast;
    if (decision.status?.tuned) next.tuned = decision.status.tuned;
    else delete next.tuned;
    for (const e of decision.events) events.push({ type: e.type, reason: e.reason, message: e.message });

    if (keepState) {
      mem.engineState = nextState;
      next.engineState = compactState(nextState);
    }
    return finish(outcome, { decision, ...(scaled ? { scaled } : {}) });
  }

  /** The unconfirmed patch of this policy if the target now has its count and no one recorded it; cleared either way. */
  #confirmUnconfirmed(
    uid: string,
    current: number,
    prev: ScalingPolicyStatus | undefined,
    now: number,
  ): UnconfirmedScale | undefined {
    const u = this.#unconfirmed.get(uid);
    if (!u) return undefined;
    this.#unconfirmed.delete(uid);
    if (current !== u.to || u.from === u.to || now - u.at > UNCONFIRMED_MAX_AGE_MS) return undefined;
    const last = prev?.lastScaleTime ? Date.parse(prev.lastScaleTime) : Number.NEGATIVE_INFINITY;
    // Someone (another leader) recorded a scaling action since: the count is theirs.
    if (last >= u.at) return undefined;
    return u;
  }

  #memoryOf(uid: string, policy: ScalingPolicy): Memory {
    let mem = this.#memory.get(uid);
    if (!mem) {
      mem = { status: policy.status, basedOnRv: policy.metadata.resourceVersion };
      this.#memory.set(uid, mem);
      const carried = this.#carried.get(uid);
      this.#carried.delete(uid);
      // Another leader's write in between makes ours stale: then the status as stored is the truth.
      if (carried && !statusChanged(carried.base, policy.status ?? {}, policy.spec)) {
        mem.unwritten = carried.unwritten;
      }
    }
    return mem;
  }

  /** The target object's ready replicas (the scale subresource has none); undefined when unknown. */
  async #readyReplicas(
    resource: ScalableResource,
    namespace: string,
    name: string,
    log: Logger,
  ): Promise<number | undefined> {
    try {
      const obj = await this.#d.transport({
        method: 'GET',
        path: DiscoveryCache.scalePath(resource, namespace, name).replace(/\/scale$/, ''),
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      });
      return readyReplicasOf(resource.apiVersion, resource.kind, obj);
    } catch (err) {
      log.debug({ err: errText(err) }, 'reading the target for its ready replicas failed');
      return undefined;
    }
  }

  async #latencySeconds(
    namespace: string,
    spec: NonNullable<ReturnType<typeof latencySpec>>,
    log: Logger,
  ): Promise<number | undefined> {
    const res = await this.#d.collector.observe({ namespace, spec });
    const o = res.observations[0];
    if (o?.ok) return o.value;
    log.debug(
      { err: o ? `${o.error.kind}: ${o.error.message}` : 'no observation' },
      'SLO latency query failed',
    );
    return undefined;
  }

  /**
   * Before a predictive policy's first decision in this process (and again when predictive is
   * switched on, or a metric's query, the address, step, season or history length changes),
   * train each metric's forecaster from Prometheus' history, so it need not wait a season of
   * live ticks. A failure is logged, recorded (Event, ForecastReady message) and retried with
   * backoff; meanwhile the forecaster learns from live ticks and stands aside until it has a season.
   */
  async #loadHistory(
    namespace: string,
    spec: ScalingPolicy['spec'],
    state: EngineState | undefined,
    current: number,
    mem: Memory,
    now: number,
    log: Logger,
    events: EventSpec[],
  ): Promise<EngineState | undefined> {
    const win = historyWindow(spec, now);
    const source = this.#d.collector;
    if (!win || !forecastConfig(spec)) {
      delete mem.history;
      delete mem.historyError;
      return state;
    }
    if (!source.queryRange) return state;
    if (mem.historyError && now < mem.historyError.retryAt) return state;
    if (!mem.history) mem.history = new Map();
    const loaded = mem.history;
    for (const name of [...loaded.keys()]) {
      if (!spec.metrics.some((m) => m.name === name)) loaded.delete(name);
    }
    let next = state;
    for (const m of spec.metrics) {
      const key = historyKey(spec, m.name);
      if (key === undefined || loaded.get(m.name) === key) continue;
      const started = this.#now();
      const res = await source.queryRange(
        { namespace, spec },
        m.query,
        win.startMs,
        win.endMs,
        win.stepSeconds,
      );
      if (!res.ok) {
        const failures = (mem.historyError?.failures ?? 0) + 1;
        const message = `${m.name}: ${res.error.kind}: ${res.error.message}`;
        mem.historyError = { message, failures, retryAt: now + historyRetryDelayMs(failures) };
        log.warn({ metric: m.name, err: message, failures }, 'loading the forecast history failed');
        events.push({
          type: 'Warning',
          reason: 'ForecastHistoryUnavailable',
          message: `forecast history of ${m.name} could not be loaded: ${res.error.kind}: ${res.error.message}; the forecaster learns from live ticks meanwhile`,
        });
        return next;
      }
      next ??= initialState(current, now);
      let l5 = next.level5 as Level5State | undefined;
      // A different query (or address) measured something else: its old model is no guide.
      // A model without a season yet learned only ticks that Prometheus' history holds too
      // (and history older than its first tick could not be added to it): start it afresh.
      const old = l5?.forecast?.[m.name];
      if (l5 && old && (loaded.has(m.name) || old.daily.length === 0)) {
        const { [m.name]: _dropped, ...rest } = l5.forecast;
        l5 = { ...l5, forecast: rest };
      }
      next = { ...next, level5: level5TrainForecast(spec, l5, m.name, res.points) };
      loaded.set(m.name, key);
      const first = res.points[0]?.[0];
      const span = first === undefined ? 0 : Math.round((win.endMs - first) / 1000);
      log.info(
        { metric: m.name, points: res.points.length, spanSeconds: span, ms: this.#now() - started },
        'forecast history loaded',
      );
      events.push({
        type: 'Normal',
        reason: 'ForecastHistoryLoaded',
        message: `forecast history of ${m.name} loaded: ${res.points.length} points over ${fmtDuration(span)} (asked for ${spec.predictive?.history})`,
      });
    }
    delete mem.historyError;
    return next;
  }

  #invalid(
    message: string,
    prev: ScalingPolicyStatus | undefined,
    cond: (c: ConditionInput) => void,
    events: EventSpec[],
    finish: (o: TickOutcome) => Promise<TickResult>,
  ): Promise<TickResult> {
    const p = getCondition(prev, 'Ready');
    if (p?.status !== 'False' || p.reason !== 'InvalidPolicy' || p.message !== message) {
      events.push({ type: 'Warning', reason: 'InvalidPolicy', message });
    }
    cond({ type: 'Ready', status: 'False', reason: 'InvalidPolicy', message });
    return finish('invalid-policy');
  }

  #metricTransitions(prev: ScalingPolicyStatus | undefined, decision: Decision, events: EventSpec[]): void {
    for (const r of decision.metrics) {
      const before = prev?.currentMetrics?.find((c) => c.name === r.name);
      const prevKind = before?.error?.split(':')[0];
      if (r.error) {
        if (prevKind !== r.error.kind) {
          events.push({
            type: 'Warning',
            reason: 'MetricError',
            message: `metric ${r.name} failed: ${r.error.kind}: ${r.error.message}`,
          });
        }
      } else if (prevKind !== undefined) {
        events.push({
          type: 'Normal',
          reason: 'MetricRecovered',
          message: `metric ${r.name} recovered (${formatNumber(r.value)}; failed with ${prevKind} before)`,
        });
      }
    }
  }

  #observeDecision(
    namespace: string,
    policy: string,
    spec: ScalingPolicy['spec'],
    decision: Decision,
    obs: PolicyObservations,
    state: EngineState,
  ): void {
    const m = this.#d.metrics;
    const l = { namespace, policy };
    m.desiredReplicas.set(l, decision.desiredReplicas);
    m.minReplicas.set(l, spec.minReplicas);
    m.maxReplicas.set(l, spec.maxReplicas);
    m.fallbackActive.set(l, decision.fallbackActive ? 1 : 0);
    for (const r of decision.metrics) {
      const ml = { ...l, metric: r.name };
      if (Number.isFinite(r.target)) m.metricTarget.set(ml, r.target);
      if (r.value !== undefined) m.metricValue.set(ml, r.value);
    }
    for (const o of obs.observations) {
      if (!o.ok) m.metricErrors.inc({ ...l, metric: o.name, kind: o.error.kind });
    }
    const tuned = state.tunedScaleDownStabilizationSeconds;
    if (typeof tuned === 'number') m.tunedScaleDownStabilization.set(l, tuned);
    let forecastReplicas: number | undefined;
    for (const f of decision.forecasts ?? []) {
      const fl = { ...l, metric: f.metric };
      m.forecastValue.set({ ...fl, bound: 'point' }, f.value);
      m.forecastValue.set({ ...fl, bound: 'lower' }, f.lower);
      m.forecastValue.set({ ...fl, bound: 'upper' }, f.upper);
      if (f.ready) forecastReplicas = Math.max(forecastReplicas ?? 0, f.replicas);
    }
    if (forecastReplicas !== undefined) m.forecastReplicas.set(l, forecastReplicas);
    observeEvaluation(m, l, decision.evaluation);
    // The engine's counts are totals since its state began; the counter gets the increase.
    const key = `${namespace}/${policy}`;
    // On the policy's first tick in this process its counts (restored from status) are the
    // baseline; after that a kind not seen before counts from 0.
    const known = this.#anomaliesSeen.get(key);
    const seen = known ?? {};
    for (const [metric, kinds] of Object.entries(decision.anomalyCounts ?? {})) {
      for (const [kind, n] of Object.entries(kinds ?? {})) {
        const k = `${metric}\u0000${kind}`;
        const before = seen[k] ?? (known ? 0 : undefined);
        if (before !== undefined && n > before) m.anomalies.inc({ ...l, metric, kind }, n - before);
        seen[k] = n;
      }
    }
    this.#anomaliesSeen.set(key, seen);
  }

  #observeConditions(namespace: string, policy: string, conditions: Condition[]): void {
    for (const c of conditions) {
      this.#d.metrics.condition.set({ namespace, policy, condition: c.type }, c.status === 'True' ? 1 : 0);
    }
  }

  /** PUT of the status subresource with the resourceVersion it was computed from; on 409, re-read and reapply. */
  async #writeStatus(
    policy: ScalingPolicy,
    next: ScalingPolicyStatus,
    mem: Memory,
    log: Logger,
    now: number,
  ): Promise<boolean> {
    const { namespace = '', name = '', uid = '' } = policy.metadata;
    const path = `/apis/${POLICY_API_VERSION}/namespaces/${encode(namespace)}/${POLICY_PLURAL}/${encode(name)}`;
    // The informer may not have seen our last write yet; then our own newer version is the base.
    let rv =
      mem.rv !== undefined && policy.metadata.resourceVersion === mem.basedOnRv
        ? mem.rv
        : policy.metadata.resourceVersion;
    let base = policy.metadata.resourceVersion;
    const retries = this.#d.statusRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      if (!this.#d.mayAct(uid)) return false;
      try {
        const res = (await this.#d.transport({
          method: 'PUT',
          path: `${path}/status`,
          body: {
            apiVersion: POLICY_API_VERSION,
            kind: 'ScalingPolicy',
            metadata: { name, namespace, uid, resourceVersion: rv },
            spec: policy.spec,
            status: next,
          },
          timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
        })) as ScalingPolicy;
        mem.status = next;
        mem.writtenAt = now;
        mem.rv = res?.metadata?.resourceVersion;
        mem.basedOnRv = base;
        this.#d.metrics.statusWrites.inc({ outcome: 'written' });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false; // deleted meanwhile
        if (!isConflict(err) || attempt >= retries) {
          this.#d.metrics.statusWrites.inc({ outcome: 'failed' });
          log.warn({ err: errText(err) }, 'status write failed');
          return false;
        }
        this.#d.metrics.statusWrites.inc({ outcome: 'conflict' });
        let fresh: ScalingPolicy;
        try {
          fresh = (await this.#d.transport({ method: 'GET', path })) as ScalingPolicy;
        } catch (readErr) {
          log.warn({ err: errText(readErr) }, 'status re-read after a conflict failed');
          return false;
        }
        if (fresh.metadata.uid !== uid) return false; // deleted and recreated: a new policy
        rv = fresh.metadata.resourceVersion;
        base = rv;
      }
    }
  }
}

interface UnconfirmedScale {
  from: number;
  to: number;
  time: string;
  at: number;
  reason: string;
  limitedBy: string;
  direction: Decision['direction'];
  state: EngineState;
}

/** Beyond this, a changed count is not attributed to an old failed patch. */
const UNCONFIRMED_MAX_AGE_MS = 5 * 60_000;

/** Transport failures, timeouts and 5xx: the request may or may not have been applied. */
function outcomeUnknown(err: unknown): boolean {
  return !(err instanceof KubeApiError) || err.status === 0 || err.status >= 500;
}

function errText(err: unknown): string {
  if (err instanceof KubeApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
