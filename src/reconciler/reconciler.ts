import type { Logger } from 'pino';
import type { AddressCheck, PolicyObservations } from '../collector/index.ts';
import type { ScalingPolicy, ScalingPolicyStatus } from '../crd/types.generated.ts';
import { V1BETA1 } from '../crd/version-conversion.ts';
import { encode, isConflict, isNotFound, KubeApiError, type KubeTransport } from '../kube/api-client.ts';
import { DiscoveryCache, type ScalableResource, TargetResolveError } from '../kube/discovery.ts';
import type { EventSpec, InvolvedObject } from '../kube/events.ts';
import type { OperatorMetrics } from '../metrics/registry.ts';
import { decide as engineDecide } from '../policy/engine.ts';
import type { Decision, EngineInput, EngineOutput, EngineState } from '../policy/types.ts';
import { type HistoryMemory, loadHistory } from './forecast-history.ts';
import { latencySpec, readyReplicasOf, wantsReadyReplicas } from './level5-inputs.ts';
import type { ObservationSource } from './observation-source.ts';
import { restorePersisted, statusChanged } from './status.ts';
import type { Scale, TargetCache } from './targets.ts';
import { type AnomalyBaseline, TickMetrics } from './tick-metrics.ts';
import {
  type ActOutcome,
  buildReport,
  type LateScale,
  type Observed,
  statusPatch,
  type TickStop,
} from './tick-report.ts';

// The storage version: the operator never asks the API server to convert what it reads or writes.
export const POLICY_API_VERSION = V1BETA1;
export const POLICY_PLURAL = 'scalingpolicies';

export interface EventSink {
  record(obj: InvolvedObject, e: EventSpec): Promise<void>;
}

export interface ReconcilerDeps {
  transport: KubeTransport;
  discovery: DiscoveryCache;
  /**
   * The targets as watches hold them (src/operator/target-watch.ts): a tick reads
   * its target there, and from the API server only where the cache cannot say.
   */
  targets?: TargetCache;
  collector: ObservationSource;
  addressPolicy: { check(address: string): AddressCheck };
  events: EventSink;
  metrics: OperatorMetrics;
  log: Logger;
  /**
   * Fencing, checked right before every side effect (scale write, status write,
   * Event): false once this process lost the Lease or the policy was deleted, so
   * a tick that was in flight at that moment changes nothing more.
   */
  mayAct: (uid: string) => boolean;
  /**
   * Another owner of the policy's target (an older ScalingPolicy, an HPA), named
   * for the AmbiguousTarget condition; undefined when this policy owns it.
   */
  otherOwner?: (policy: ScalingPolicy) => string | undefined;
  /**
   * False when a newer spec of the policy arrived while this tick ran: the tick
   * then writes nothing to the target, and the scheduler runs it again at once.
   */
  isCurrent?: (policy: ScalingPolicy) => boolean;
  decide?: (input: EngineInput) => EngineOutput;
  now?: () => number;
  /** Re-reads and decisions again after a scale write met a 409 (the count moved since the read). */
  scaleConflictRetries?: number;
  /** Timeout of each API server request made by a tick. */
  requestTimeoutMs?: number;
  /** Longest time the volatile engine state (Level 5 histories) goes unwritten while status is otherwise idle. */
  volatileMaxAgeMs?: number;
}

export type TickOutcome =
  | 'paused'
  | 'invalid-policy'
  | 'ambiguous-target'
  | 'target-not-found'
  | 'target-error'
  | 'decided'
  | 'scale-failed'
  | 'superseded'
  | 'fenced';

export interface TickResult {
  outcome: TickOutcome;
  decision?: Decision;
  scaled?: { from: number; to: number; at: number };
  statusWritten: boolean;
  events: EventSpec[];
  /** Scale writes that met a 409 and were decided again on the new count. */
  scaleConflicts?: number;
}

/** Per policy, while this process is the leader: what it last wrote and the full engine state. */
interface Memory extends HistoryMemory, AnomalyBaseline {
  engineState?: EngineState;
  /** The status as last written (or read at start): the base of every comparison and patch. */
  status?: ScalingPolicyStatus;
  writtenAt?: number;
  /**
   * A status this process computed but failed to write (API server away, a
   * timeout): the next tick builds on it, so that what it recorded (a scaling
   * decision, lastScaleTime) is not lost.
   */
  unwritten?: ScalingPolicyStatus;
}

/**
 * Engine state that changes every tick without changing the next decision much:
 * the Level 5 histories (forecast model, anomaly windows, flap counts). Losing a
 * few minutes of it on a restart only makes those mechanisms more cautious.
 */
const VOLATILE_STATE_KEYS: ReadonlySet<string> = new Set(['level5']);

/** One tick's fixed facts. */
interface Tick {
  policy: ScalingPolicy;
  uid: string;
  namespace: string;
  name: string;
  log: Logger;
  mem: Memory;
  now: number;
  nowIso: string;
  dueAt: number;
}

/** What the observe step saw, when it saw enough to decide. */
interface Observation extends Observed {
  resource: ScalableResource;
  scale: Scale;
  obs: PolicyObservations;
  readyReplicas?: number;
  latencySeconds?: number;
  /** The engine state the decision starts from. */
  state?: EngineState;
  observeEvents: EventSpec[];
}

/** The target as a tick read it: from the watch (with the object) or from GET …/scale. */
interface TargetRead {
  resource: ScalableResource;
  scale: Scale;
  object?: unknown;
}

type ObserveResult = { stop: TickStop; observed?: Observed } | { seen: Observation };

/** The tick's outcome after a stop: each stop reason has its own. */
const STOP_OUTCOME: Record<TickStop['reason'], TickOutcome> = {
  InvalidPolicy: 'invalid-policy',
  AmbiguousTarget: 'ambiguous-target',
  TargetNotFound: 'target-not-found',
  FailedGetScale: 'target-error',
};

/**
 * What the act step did: what the report tells (a write whose outcome is unknown is a failure
 * there, and is kept in #unconfirmed), a 409 to decide again on, or a write not made because
 * the tick may no longer act.
 */
type Acted = ActOutcome | { kind: 'conflict' } | { kind: 'fenced' } | { kind: 'superseded' };

/**
 * One tick of one policy in four steps: observe (allow-list, owner, target, scale,
 * metrics) → decide (the pure engine) → act (the scale write, with the
 * resourceVersion it read) → report (status and Events, built by tick-report.ts).
 * Everything it remembers between ticks is either in the policy's status (so a
 * restarted operator or a new leader continues) or is a cache that the status can
 * rebuild.
 */
export class PolicyReconciler {
  readonly #d: ReconcilerDeps;
  readonly #decide: (input: EngineInput) => EngineOutput;
  readonly #now: () => number;
  readonly #memory = new Map<string, Memory>();
  readonly #metrics: TickMetrics;
  /**
   * Scale writes whose outcome is unknown (timed out, connection lost, 5xx): the
   * API server may still apply them, e.g. once etcd answers again. Kept across
   * reset() (the leadership is usually lost in the same outage), so that the
   * next tick that finds the target at the written count records the action
   * once instead of losing it.
   */
  readonly #unconfirmed = new Map<string, UnconfirmedScale>();
  /** Unwritten statuses kept across reset(), with the status they were built on. */
  readonly #carried = new Map<string, { base?: ScalingPolicyStatus; unwritten: ScalingPolicyStatus }>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#decide = deps.decide ?? ((input) => engineDecide(input));
    this.#now = deps.now ?? Date.now;
    this.#metrics = new TickMetrics(deps.metrics);
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
    const t = this.#begin(policy, dueAt);
    if (policy.spec.mode === 'Paused') return this.#report(t, {}, 'paused');
    let result = await this.#observe(t);
    const retries = this.#d.scaleConflictRetries ?? 3;
    for (let conflicts = 0; ; conflicts++) {
      if ('stop' in result) return this.#report(t, result, STOP_OUTCOME[result.stop.reason]);
      const seen = result.seen;
      const { decision, state } = this.#decideStep(t, seen);
      const acted = await this.#act(t, seen, decision, state);
      if (acted.kind === 'fenced' || acted.kind === 'superseded') {
        return { outcome: acted.kind, decision, statusWritten: false, events: [] };
      }
      if (acted.kind === 'conflict' && conflicts < retries) {
        // The count moved between our read and our write: read it again and decide on it.
        t.log.info({ attempt: conflicts + 1 }, 'the target scale changed since it was read: deciding again');
        result = await this.#observeScale(t, seen);
        continue;
      }
      return this.#finish(t, seen, decision, state, acted, conflicts);
    }
  }

  #begin(policy: ScalingPolicy, dueAt: number): Tick {
    const { namespace = '', name = '', uid = '' } = policy.metadata;
    const now = this.#now();
    return {
      policy,
      uid,
      namespace,
      name,
      log: this.#d.log.child({ namespace, policy: name }),
      mem: this.#memoryOf(uid, policy),
      now,
      nowIso: new Date(now).toISOString(),
      dueAt,
    };
  }

  // -------------------------------------------------------------------------
  // observe

  async #observe(t: Tick): Promise<ObserveResult> {
    const spec = t.policy.spec;
    // The allow-list comes first: a policy naming another address sends no request at all.
    const addr = this.#d.addressPolicy.check(spec.prometheus.address);
    if (!addr.ok) return invalid(addr.message);
    // A write whose outcome is unknown is judged by the count it finds: that must be the
    // API server's, not a watch that may not have delivered the write yet.
    const read = await this.#readScale(t, this.#unconfirmed.has(t.uid));
    if ('stop' in read) return read;
    const observed = this.#observedScale(t, read.scale);
    const seen = await this.#observeMetrics(t, read, observed);
    if ('problem' in seen) return { ...invalid(seen.problem), observed };
    // Checked last, so that a policy that is invalid or names no target says that first.
    const other = this.#d.otherOwner?.(t.policy);
    if (other !== undefined) return { ...ambiguous(t, other), observed };
    return { seen };
  }

  /**
   * After a 409 on the scale write: the scale again, the metrics as they were.
   * From the API server: the watch may not have delivered the change yet.
   */
  async #observeScale(t: Tick, before: Observation): Promise<ObserveResult> {
    const read = await this.#readScale(t, true);
    if ('stop' in read) return read;
    return { seen: { ...before, scale: read.scale, current: read.scale.spec?.replicas ?? 0 } };
  }

  /** The target's scale: from the watch's cache unless `direct` or the cache cannot say, else a GET. */
  async #readScale(
    t: Tick,
    direct: boolean,
  ): Promise<TargetRead | Extract<ObserveResult, { stop: TickStop }>> {
    const target = t.policy.spec.targetRef;
    try {
      const resource = await this.#d.discovery.resolve(target.apiVersion, target.kind);
      const cached = direct ? undefined : this.#d.targets?.lookup(resource, t.namespace, target.name);
      if (cached?.found) return { resource, scale: cached.scale, object: cached.object };
      if (cached) throw new KubeApiError(404, 'NotFound', 'not in the synced watch cache');
      const scale = (await this.#d.transport({
        method: 'GET',
        path: DiscoveryCache.scalePath(resource, t.namespace, target.name),
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      })) as Scale;
      return { resource, scale };
    } catch (err) {
      const what = `${target.kind} ${t.namespace}/${target.name}`;
      if (isNotFound(err) || (err instanceof TargetResolveError && err.kind.startsWith('Unknown'))) {
        const message =
          err instanceof TargetResolveError
            ? `target ${what} not found: ${err.message}`
            : `target ${what} not found`;
        t.log.warn({ target: what }, 'target not found');
        return { stop: { reason: 'TargetNotFound', message } };
      }
      if (err instanceof TargetResolveError) {
        return invalid(`targetRef ${target.apiVersion} ${target.kind}: ${err.message}`);
      }
      t.log.warn({ err: errText(err) }, 'reading the target scale failed');
      const message = `reading the scale of ${what} failed: ${errText(err)}`;
      return { stop: { reason: 'FailedGetScale', message } };
    }
  }

  /** The count read, and an earlier failed write that the target shows applied after all. */
  #observedScale(t: Tick, scale: Scale): Observed {
    const target = t.policy.spec.targetRef;
    const current = scale.spec?.replicas ?? 0;
    const display = `${target.kind} ${t.namespace}/${target.name}`;
    const u = this.#confirmUnconfirmed(t.uid, current, t.mem.status, t.now);
    if (!u) return { current, display, insecureTLS: false };
    t.mem.engineState = u.state;
    this.#metrics.lateScale(t.namespace, u.direction);
    t.log.info({ from: u.from, to: u.to }, 'an earlier scale write took effect after it failed');
    const late: LateScale = {
      from: u.from,
      to: u.to,
      time: u.time,
      reason: u.reason,
      limitedBy: u.limitedBy,
    };
    return { current, display, insecureTLS: false, late };
  }

  /**
   * The persisted engine state, after a restart or failover. A state that cannot be read is
   * said so (log and Event) rather than silently reset; a migrated or newer one is logged.
   */
  #restore(t: Tick, events: EventSpec[]): EngineState | undefined {
    const r = restorePersisted(t.mem.status?.engineState, t.now, t.policy.spec.pollingIntervalSeconds);
    if (r.note?.level === 'warn') {
      t.log.warn({ reason: r.note.reason }, r.note.message);
      events.push({ type: 'Warning', reason: r.note.reason, message: r.note.message });
    } else if (r.note) {
      t.log.info({ reason: r.note.reason }, r.note.message);
    }
    return r.state;
  }

  /** Metrics, plus the extras some Level 5 mechanisms use, and the forecaster's history. */
  async #observeMetrics(
    t: Tick,
    { resource, scale, object }: TargetRead,
    observed: Observed,
  ): Promise<Observation | { problem: string }> {
    const spec = t.policy.spec;
    // The collector never rejects for Prometheus or a metric; the ready count and the SLO
    // latency are extras whose failure only leaves them out.
    const latency = latencySpec(spec);
    const [obs, readyReplicas, latencySeconds] = await Promise.all([
      this.#d.collector.observe({ namespace: t.namespace, spec }),
      wantsReadyReplicas(spec)
        ? object === undefined
          ? this.#readyReplicas(t, resource)
          : readyReplicasOf(resource.apiVersion, resource.kind, object)
        : undefined,
      latency ? this.#latencySeconds(t, latency) : undefined,
    ]);
    if (obs.problem?.invalidPolicy) return { problem: obs.problem.message };
    const observeEvents: EventSpec[] = [];
    // The engine, with the state this process holds or, after a restart or failover, the persisted one.
    const restored = t.mem.engineState ?? this.#restore(t, observeEvents);
    const state = await loadHistory(
      {
        namespace: t.namespace,
        spec,
        current: observed.current,
        mem: t.mem,
        now: t.now,
        log: t.log,
        events: observeEvents,
        source: this.#d.collector,
        clock: this.#now,
      },
      restored,
    );
    return {
      ...observed,
      insecureTLS: Boolean(obs.insecureTLS),
      resource,
      scale,
      obs,
      ...(readyReplicas === undefined ? {} : { readyReplicas }),
      ...(latencySeconds === undefined ? {} : { latencySeconds }),
      ...(state ? { state } : {}),
      observeEvents,
    };
  }

  /** The target object's ready replicas (the scale subresource has none); undefined when unknown. */
  async #readyReplicas(t: Tick, resource: ScalableResource): Promise<number | undefined> {
    const name = t.policy.spec.targetRef.name;
    try {
      const obj = await this.#d.transport({
        method: 'GET',
        path: DiscoveryCache.scalePath(resource, t.namespace, name).replace(/\/scale$/, ''),
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      });
      return readyReplicasOf(resource.apiVersion, resource.kind, obj);
    } catch (err) {
      t.log.debug({ err: errText(err) }, 'reading the target for its ready replicas failed');
      return undefined;
    }
  }

  async #latencySeconds(
    t: Tick,
    spec: NonNullable<ReturnType<typeof latencySpec>>,
  ): Promise<number | undefined> {
    const res = await this.#d.collector.observe({ namespace: t.namespace, spec });
    const o = res.observations[0];
    if (o?.ok) return o.value;
    t.log.debug(
      { err: o ? `${o.error.kind}: ${o.error.message}` : 'no observation' },
      'SLO latency query failed',
    );
    return undefined;
  }

  // -------------------------------------------------------------------------
  // decide

  #decideStep(t: Tick, seen: Observation): EngineOutput {
    return this.#decide({
      spec: t.policy.spec,
      state: seen.state,
      observations: seen.obs.observations,
      currentReplicas: seen.current,
      ...(seen.readyReplicas === undefined ? {} : { readyReplicas: seen.readyReplicas }),
      ...(seen.latencySeconds === undefined ? {} : { latencySeconds: seen.latencySeconds }),
      now: t.now,
    });
  }

  // -------------------------------------------------------------------------
  // act

  /**
   * Applies the decision: in Active mode a PUT of the Scale object as it was read,
   * with the new count, so the write carries the resourceVersion the decision was
   * made on (as the HPA controller's Update does): a count that anyone changed
   * since is never overwritten unseen; the API server answers 409 instead.
   */
  async #act(t: Tick, seen: Observation, decision: Decision, state: EngineState): Promise<Acted> {
    const desired = decision.desiredReplicas;
    const spec = t.policy.spec;
    if (desired === seen.current) return { kind: 'none' };
    if (spec.mode === 'DryRun') return { kind: 'dry-run' };
    if (!this.#d.mayAct(t.uid)) return { kind: 'fenced' };
    if (this.#d.isCurrent && !this.#d.isCurrent(t.policy)) return { kind: 'superseded' };
    const target = spec.targetRef;
    try {
      await this.#d.transport({
        method: 'PUT',
        path: DiscoveryCache.scalePath(seen.resource, t.namespace, target.name),
        body: {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          ...seen.scale,
          metadata: { ...seen.scale.metadata, name: target.name, namespace: t.namespace },
          spec: { ...seen.scale.spec, replicas: desired },
        },
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      });
      return { kind: 'scaled', from: seen.current, to: desired };
    } catch (err) {
      if (isConflict(err)) return { kind: 'conflict' };
      const message = `writing the scale of ${seen.display} to ${desired} failed: ${errText(err)}`;
      t.log.warn({ err: errText(err), desired }, 'scale write failed');
      if (!outcomeUnknown(err)) return { kind: 'failed', message };
      this.#unconfirmed.set(t.uid, {
        from: seen.current,
        to: desired,
        time: t.nowIso,
        at: t.now,
        reason: decision.reason,
        limitedBy: decision.limitedBy.join(','),
        direction: decision.direction,
        state,
      });
      return { kind: 'failed', message };
    }
  }

  // -------------------------------------------------------------------------
  // report

  #finish(
    t: Tick,
    seen: Observation,
    decision: Decision,
    state: EngineState,
    acted: ActOutcome | { kind: 'conflict' },
    conflicts: number,
  ): Promise<TickResult> {
    const outcome: ActOutcome =
      acted.kind === 'conflict'
        ? {
            kind: 'failed',
            message: `writing the scale of ${seen.display} met ${conflicts + 1} conflicts in a row: its count keeps changing`,
          }
        : acted;
    const failed = outcome.kind === 'failed';
    // The engine assumed the action happened; when it did not, its new state is dropped.
    if (!failed) t.mem.engineState = state;
    this.#recordDecision(t, seen, decision, state, outcome);
    const historyError = t.mem.historyError?.message;
    const decided = {
      decision,
      outcome,
      ...(failed ? {} : { engineState: state }),
      ...(historyError ? { historyError } : {}),
      observeEvents: seen.observeEvents,
    };
    const scaled =
      outcome.kind === 'scaled' ? { from: outcome.from, to: outcome.to, at: this.#now() } : undefined;
    return this.#report(t, { observed: seen, decided }, failed ? 'scale-failed' : 'decided', {
      decision,
      ...(scaled ? { scaled } : {}),
      ...(conflicts > 0 ? { scaleConflicts: conflicts } : {}),
    });
  }

  /** Builds the status and Events (tick-report.ts), writes what changed, sends the Events. */
  async #report(
    t: Tick,
    facts: Pick<Parameters<typeof buildReport>[0], 'stop' | 'observed' | 'decided'>,
    outcome: TickOutcome,
    extra: Partial<TickResult> = {},
  ): Promise<TickResult> {
    const { mem, policy, uid } = t;
    const { status: next, events } = buildReport({
      policy,
      prev: mem.status,
      base: mem.unwritten ?? mem.status,
      nowIso: t.nowIso,
      ...facts,
    });
    if (!this.#d.mayAct(uid)) return { outcome: 'fenced', statusWritten: false, events: [], ...extra };
    let statusWritten = false;
    // The Level 5 history moves every tick; it rides along with other changes, and on its
    // own at most every volatileMaxAgeMs, so an idle policy stays (almost) silent.
    const volatileDue = t.now - (mem.writtenAt ?? -Infinity) >= (this.#d.volatileMaxAgeMs ?? 300_000);
    if (statusChanged(mem.status, next, policy.spec, volatileDue ? undefined : VOLATILE_STATE_KEYS)) {
      statusWritten = await this.#writeStatus(t, next);
      if (statusWritten) delete mem.unwritten;
      else mem.unwritten = next;
    } else {
      delete mem.unwritten;
    }
    const involved: InvolvedObject = {
      apiVersion: POLICY_API_VERSION,
      kind: 'ScalingPolicy',
      name: t.name,
      namespace: t.namespace,
      uid,
    };
    for (const e of events) {
      if (!this.#d.mayAct(uid)) break;
      await this.#d.events.record(involved, e);
    }
    this.#metrics.conditions({ namespace: t.namespace, policy: t.name }, next.conditions ?? []);
    return { outcome, statusWritten, events, ...extra };
  }

  /**
   * A merge patch of the status subresource with the fields this tick changed (no
   * resourceVersion: there is nothing to re-send on a conflict, and a field that
   * another writer set and this tick did not change is left as they wrote it).
   * The uid makes a patch of a policy deleted and recreated meanwhile fail.
   */
  async #writeStatus(t: Tick, next: ScalingPolicyStatus): Promise<boolean> {
    const { namespace, name, uid, mem } = t;
    const path = `/apis/${POLICY_API_VERSION}/namespaces/${encode(namespace)}/${POLICY_PLURAL}/${encode(name)}/status`;
    if (!this.#d.mayAct(uid)) return false;
    try {
      await this.#d.transport({
        method: 'PATCH',
        path,
        body: { metadata: { uid }, status: statusPatch(mem.status, next) },
        timeoutMs: this.#d.requestTimeoutMs ?? 10_000,
      });
      mem.status = next;
      mem.writtenAt = t.now;
      this.#metrics.statusWrite('written');
      return true;
    } catch (err) {
      if (isNotFound(err)) return false; // deleted meanwhile
      this.#metrics.statusWrite('failed');
      t.log.warn({ err: errText(err) }, 'status write failed');
      return false;
    }
  }

  /** The unconfirmed write of this policy if the target now has its count and no one recorded it; cleared either way. */
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
      mem = { status: policy.status };
      this.#memory.set(uid, mem);
      const carried = this.#carried.get(uid);
      this.#carried.delete(uid);
      // Another leader's record of a scaling action in between makes ours stale: then the status as
      // stored is the truth. Any other difference is not enough: the informer may still hand a copy
      // older than our own last write (seen under load), and dropping the carried status then lost a
      // scale action that had landed.
      if (carried && !scaledSince(carried.base, policy.status)) {
        mem.unwritten = carried.unwritten;
      }
    }
    return mem;
  }

  /** The decision's operator metrics (tick-metrics.ts) and log lines; the status and Events come from tick-report.ts. */
  #recordDecision(
    t: Tick,
    seen: Observation,
    decision: Decision,
    state: EngineState,
    outcome: ActOutcome,
  ): void {
    const scaled = outcome.kind === 'scaled';
    this.#metrics.decision(
      { namespace: t.namespace, policy: t.name },
      {
        spec: t.policy.spec,
        decision,
        state,
        observations: seen.obs.observations,
        replicas: scaled ? outcome.to : seen.current,
        scaled,
        tickSeconds: Math.max(0, this.#now() - t.dueAt) / 1000,
        baseline: t.mem,
      },
    );
    if (scaled) {
      t.log.info(
        { from: outcome.from, to: outcome.to, reason: decision.reason, limitedBy: decision.limitedBy },
        'scaled',
      );
    } else if (outcome.kind === 'none' && decision.direction === 'None') {
      t.log.debug({ replicas: seen.current, reason: decision.reason }, 'no change');
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

/** Beyond this, a changed count is not attributed to an old failed write. */
const UNCONFIRMED_MAX_AGE_MS = 5 * 60_000;

function ambiguous(t: Tick, other: string): { stop: TickStop } {
  const tr = t.policy.spec.targetRef;
  const message = `target ${tr.kind} ${t.namespace}/${tr.name} is also scaled by ${other}: this policy does not act while it is not the only owner (the oldest ScalingPolicy owns a target; none acts where an HPA does)`;
  t.log.debug({ owner: other }, 'target has another owner: not acting');
  return { stop: { reason: 'AmbiguousTarget', message } };
}

function invalid(message: string): { stop: TickStop } {
  return { stop: { reason: 'InvalidPolicy', message } };
}

/** Transport failures, timeouts and 5xx: the request may or may not have been applied. */
function outcomeUnknown(err: unknown): boolean {
  return !(err instanceof KubeApiError) || err.status === 0 || err.status >= 500;
}

function errText(err: unknown): string {
  if (err instanceof KubeApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The newest scaling action a status records (lastScaleTime or its newest decision), in ms. */
function lastActionMs(s: ScalingPolicyStatus | undefined): number {
  const times = [s?.lastScaleTime, s?.recentDecisions?.[0]?.time].filter((x): x is string => !!x);
  return Math.max(Number.NEGATIVE_INFINITY, ...times.map((x) => Date.parse(x)));
}

/** Whether `stored` records a scaling action newer than any in `base` (someone else acted). */
function scaledSince(
  base: ScalingPolicyStatus | undefined,
  stored: ScalingPolicyStatus | undefined,
): boolean {
  return lastActionMs(stored) > lastActionMs(base);
}
