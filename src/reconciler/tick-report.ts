// The "report" step of a tick, as a pure function: from the policy, the status it
// builds on, what the tick observed, what the engine decided and what the action
// did, it builds the next status (conditions included) and the Events worth
// sending. No I/O and no clock, so every condition and Event is unit-tested
// without a cluster (test/reconciler/tick-report.test.ts).
import { statusNumber } from '../core/format.ts';
import type { ScalingPolicy, ScalingPolicyStatus } from '../crd/types.generated.ts';
import type { EventSpec } from '../kube/events.ts';
import type { Decision, EngineState, LimitReason } from '../policy/types.ts';
import {
  type ConditionInput,
  type CurrentMetric,
  getCondition,
  persistState,
  pushDecision,
  setCondition,
} from './status.ts';

/** Why a tick stopped before it decided; each maps to the condition reason of the same name. */
export interface TickStop {
  reason: 'InvalidPolicy' | 'AmbiguousTarget' | 'TargetNotFound' | 'FailedGetScale';
  message: string;
}

/** An earlier scale write whose request failed but which the target shows applied. */
export interface LateScale {
  from: number;
  to: number;
  time: string;
  reason: string;
  limitedBy: string;
}

/** What the act step did with the decision. */
export type ActOutcome =
  | { kind: 'none' }
  | { kind: 'scaled'; from: number; to: number }
  | { kind: 'dry-run' }
  | { kind: 'failed'; message: string };

export interface Observed {
  current: number;
  /** `Kind namespace/name`, for messages. */
  display: string;
  late?: LateScale;
  insecureTLS: boolean;
}

export interface Decided {
  decision: Decision;
  outcome: ActOutcome;
  /** The engine state to persist; absent: keep the one the status holds (the action failed). */
  engineState?: EngineState;
  /** Why the forecaster's history could not be loaded, if it could not. */
  historyError?: string;
  /** Events of the observe step (forecast history loaded or not), in order before the decision's. */
  observeEvents?: EventSpec[];
}

export interface ReportInput {
  policy: Pick<ScalingPolicy, 'metadata' | 'spec'>;
  /** The status as last written (or read): the base of every transition. */
  prev: ScalingPolicyStatus | undefined;
  /** What the next status starts from: an unwritten status of an earlier tick, else prev. */
  base: ScalingPolicyStatus | undefined;
  nowIso: string;
  /** The stop before the decision, if any; with `observed` set it came after the scale read. */
  stop?: TickStop;
  observed?: Observed;
  decided?: Decided;
}

export interface Report {
  status: ScalingPolicyStatus;
  events: EventSpec[];
}

/**
 * Limits that mean "the policy wanted more (or less) than it was allowed" (condition
 * ScalingLimited), each with what holds the rest back. The ScaleLimited Event says this,
 * not the decision's reason: a limited scale's Scaled Event already carries that.
 */
const LIMITING = new Map<LimitReason, string>([
  ['ScaleUpRateLimit', 'the rest follows as the scale-up rate policies allow'],
  ['ScaleDownRateLimit', 'the rest follows as the scale-down rate policies allow'],
  ['ScaleUpCooldown', 'the scale-up cooldown (behavior.scaleUp.cooldownSeconds) is running'],
  ['ScaleDownCooldown', 'the scale-down cooldown (behavior.scaleDown.cooldownSeconds) is running'],
  ['ScaleUpDisabled', 'scale-up is disabled (behavior.scaleUp.selectPolicy: Disabled)'],
  ['ScaleDownDisabled', 'scale-down is disabled (behavior.scaleDown.selectPolicy: Disabled)'],
  ['MaxReplicas', 'spec.maxReplicas bounds the count'],
  ['MinReplicas', 'spec.minReplicas bounds the count'],
]);

/** The Level 5 conditions: present only while their mechanism is enabled. */
const LEVEL5_CONDITIONS = ['AnomalyDetected', 'ScalingIneffective', 'ForecastReady'];

/** A status being built, with the Events it calls for. */
class Draft {
  readonly status: ScalingPolicyStatus;
  readonly events: EventSpec[] = [];
  readonly #in: ReportInput;

  constructor(input: ReportInput) {
    this.#in = input;
    const { generation } = input.policy.metadata;
    const target = input.policy.spec.targetRef;
    this.status = {
      ...structuredClone(input.base ?? {}),
      observedGeneration: generation,
      targetDisplay: `${target.kind}/${target.name}`,
    };
  }

  cond(c: ConditionInput): void {
    const { nowIso, policy } = this.#in;
    this.status.conditions = setCondition(this.status.conditions, c, nowIso, policy.metadata.generation);
  }

  /** True unless the last written status already had this condition status (and reason). */
  transitioned(type: string, status: string, reason?: string): boolean {
    const p = getCondition(this.#in.prev, type);
    return !p || p.status !== status || (reason !== undefined && p.reason !== reason);
  }

  event(type: EventSpec['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  get prev(): ScalingPolicyStatus | undefined {
    return this.#in.prev;
  }
}

export function buildReport(input: ReportInput): Report {
  const d = new Draft(input);
  const spec = input.policy.spec;
  if (spec.mode === 'Paused') {
    d.cond({
      type: 'Active',
      status: 'False',
      reason: 'Paused',
      message: 'mode is Paused: no metrics are read and the target is left as it is',
    });
    return { status: d.status, events: d.events };
  }
  d.cond({
    type: 'Active',
    status: 'True',
    reason: spec.mode,
    message:
      spec.mode === 'DryRun'
        ? 'mode is DryRun: decisions are recorded, the target is never changed'
        : 'mode is Active: decisions are applied to the target',
  });
  if (input.observed) reportTarget(d, input.observed);
  if (input.stop) reportStop(d, input.stop);
  else if (input.observed && input.decided) {
    reportTLS(d, input.observed.insecureTLS);
    reportDecision(d, input.policy.spec, input.observed, input.decided, input.nowIso);
  }
  return { status: d.status, events: d.events };
}

function reportStop(d: Draft, stop: TickStop): void {
  const { reason, message } = stop;
  if (reason === 'InvalidPolicy') {
    const p = getCondition(d.prev, 'Ready');
    if (p?.status !== 'False' || p.reason !== 'InvalidPolicy' || p.message !== message) {
      d.event('Warning', 'InvalidPolicy', message);
    }
    d.cond({ type: 'Ready', status: 'False', reason, message });
    return;
  }
  if (reason === 'FailedGetScale') {
    d.cond({ type: 'AbleToScale', status: 'False', reason, message });
    return;
  }
  // TargetNotFound and AmbiguousTarget: not able to scale, not ready, one Warning per transition.
  const isNew = d.transitioned('AbleToScale', 'False', reason);
  d.cond({ type: 'AbleToScale', status: 'False', reason, message });
  d.cond({ type: 'Ready', status: 'False', reason, message });
  if (isNew) d.event('Warning', reason, message);
}

/** The scale was read: a late-confirmed earlier action, TargetFound after a miss, AbleToScale. */
function reportTarget(d: Draft, o: Observed): void {
  const late = o.late;
  if (late) {
    d.event(
      'Normal',
      'Scaled',
      `scaled ${o.display} ${late.from}→${late.to}: ${late.reason} (applied after the request failed)`,
    );
    d.status.lastScaleTime = late.time;
    d.status.recentDecisions = pushDecision(d.status.recentDecisions, { ...late });
  }
  const prevAble = getCondition(d.prev, 'AbleToScale')?.reason;
  if (prevAble === 'TargetNotFound') {
    d.event('Normal', 'TargetFound', `target ${o.display} found (${o.current} replicas)`);
  }
  d.cond({
    type: 'AbleToScale',
    status: 'True',
    reason: 'SucceededGetScale',
    message: `the scale subresource of ${o.display} is readable`,
  });
}

function reportTLS(d: Draft, insecureTLS: boolean): void {
  if (!insecureTLS && !getCondition(d.prev, 'InsecureTLS')) return;
  d.cond(
    insecureTLS
      ? {
          type: 'InsecureTLS',
          status: 'True',
          reason: 'InsecureSkipVerify',
          message: "prometheus.insecureSkipVerify is set: Prometheus' certificate is not verified",
        }
      : { type: 'InsecureTLS', status: 'False', reason: 'CertificateVerified', message: 'TLS is verified' },
  );
}

function reportDecision(
  d: Draft,
  spec: ScalingPolicy['spec'],
  o: Observed,
  x: Decided,
  nowIso: string,
): void {
  const { decision, outcome } = x;
  for (const e of x.observeEvents ?? []) d.events.push(e);
  reportAction(d, o, decision, outcome, nowIso);
  const s = d.status;
  s.currentReplicas = outcome.kind === 'scaled' ? outcome.to : o.current;
  s.desiredReplicas = decision.desiredReplicas;
  s.currentMetrics = decision.metrics.map(currentMetric);
  metricTransitions(d, decision);
  readyCondition(d, decision);
  limitCondition(d, decision, o.current);
  fallbackCondition(d, spec, decision.fallbackActive);
  level5Parts(d, decision, x.historyError);
  if (x.engineState) s.engineState = persistState(x.engineState, d.prev?.engineState);
}

function reportAction(d: Draft, o: Observed, decision: Decision, outcome: ActOutcome, nowIso: string): void {
  const entry = {
    time: nowIso,
    from: o.current,
    to: decision.desiredReplicas,
    reason: decision.reason,
    limitedBy: decision.limitedBy.join(','),
  };
  if (outcome.kind === 'scaled') {
    d.event('Normal', 'Scaled', `scaled ${o.display} ${outcome.from}→${outcome.to}: ${decision.reason}`);
    d.status.lastScaleTime = nowIso;
    d.status.recentDecisions = pushDecision(d.status.recentDecisions, entry);
  } else if (outcome.kind === 'failed') {
    d.cond({ type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: outcome.message });
  } else if (outcome.kind === 'dry-run') {
    const head = d.status.recentDecisions?.[0];
    // One record per proposal, not one per tick while it stands.
    if (!head || head.from !== entry.from || head.to !== entry.to) {
      d.status.recentDecisions = pushDecision(d.status.recentDecisions, entry);
      d.event(
        'Normal',
        'DryRunDecision',
        `would scale ${o.display} ${entry.from}→${entry.to}: ${decision.reason}`,
      );
    }
  }
}

function currentMetric(r: Decision['metrics'][number]): CurrentMetric {
  const cm: CurrentMetric = { name: r.name };
  const v = statusNumber(r.value);
  const t = statusNumber(r.target);
  if (v !== undefined) cm.value = v;
  if (t !== undefined) cm.target = t;
  if (r.proposedReplicas !== undefined) cm.proposedReplicas = r.proposedReplicas;
  if (r.error) cm.error = `${r.error.kind}: ${r.error.message}`;
  return cm;
}

/** MetricError when a metric starts failing (or fails differently), MetricRecovered when it stops. */
function metricTransitions(d: Draft, decision: Decision): void {
  for (const r of decision.metrics) {
    const before = d.prev?.currentMetrics?.find((c) => c.name === r.name);
    const prevKind = before?.error?.split(':')[0];
    if (r.error) {
      if (prevKind !== r.error.kind) {
        d.event('Warning', 'MetricError', `metric ${r.name} failed: ${r.error.kind}: ${r.error.message}`);
      }
    } else if (prevKind !== undefined) {
      d.event(
        'Normal',
        'MetricRecovered',
        `metric ${r.name} recovered (${statusNumber(r.value)}; failed with ${prevKind} before)`,
      );
    }
  }
}

function readyCondition(d: Draft, decision: Decision): void {
  const failing = decision.metrics.filter((r) => r.error);
  const names = failing.map((r) => `${r.name} (${r.error?.kind})`).join(', ');
  if (failing.length > 0 && failing.length === decision.metrics.length) {
    d.cond({
      type: 'Ready',
      status: 'False',
      reason: 'MetricsUnavailable',
      message: `every metric failed: ${names}`,
    });
  } else if (failing.length > 0) {
    d.cond({
      type: 'Ready',
      status: 'True',
      reason: 'SomeMetricsFailing',
      message: `${failing.length} of ${decision.metrics.length} metrics failing: ${names}; no scale-down while any fails`,
    });
  } else {
    d.cond({
      type: 'Ready',
      status: 'True',
      reason: 'Reconciled',
      message: 'metrics are read and decisions taken',
    });
  }
}

function limitCondition(d: Draft, decision: Decision, current: number): void {
  const limit = decision.limitedBy[0] ?? 'None';
  const holdsBack = LIMITING.get(limit);
  if (holdsBack === undefined) {
    d.cond({
      type: 'ScalingLimited',
      status: 'False',
      reason: 'DesiredWithinRange',
      message: 'the desired count is within the bounds and rate limits',
    });
    return;
  }
  const message = `${limit}: proposed ${decision.proposedReplicas}, allowed ${decision.desiredReplicas} (current ${current})`;
  if (d.transitioned('ScalingLimited', 'True', limit)) {
    const numbers = `${decision.proposedReplicas} proposed, ${decision.desiredReplicas} allowed`;
    d.event('Normal', 'ScaleLimited', `${limit}: ${numbers}; ${holdsBack}`);
  }
  d.cond({ type: 'ScalingLimited', status: 'True', reason: limit, message });
}

function fallbackCondition(d: Draft, spec: ScalingPolicy['spec'], active: boolean): void {
  d.cond(
    active
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
}

/** The Level 5 mechanisms own their conditions, status parts and Events; present only while enabled. */
function level5Parts(d: Draft, decision: Decision, historyError: string | undefined): void {
  for (const c of decision.conditions ?? []) {
    // A forecaster that stands aside because its history could not be loaded says so.
    d.cond(
      c.type === 'ForecastReady' && c.status === 'False' && historyError
        ? {
            ...c,
            message: `${c.message}; its history could not be loaded from Prometheus (${historyError}), retrying`,
          }
        : c,
    );
  }
  const s = d.status;
  for (const type of LEVEL5_CONDITIONS) {
    if (!decision.conditions?.some((c) => c.type === type) && getCondition(s, type)) {
      s.conditions = s.conditions?.filter((c) => c.type !== type);
    }
  }
  if (decision.status?.forecast) s.forecast = decision.status.forecast;
  else delete s.forecast;
  if (decision.status?.tuned) s.tuned = decision.status.tuned;
  else delete s.tuned;
  for (const e of decision.events) d.event(e.type, e.reason, e.message);
}

/**
 * The status merge patch for what changed from `written` to `next`: each
 * top-level field that differs, `null` for one that went away. Fields another
 * writer set and this tick did not change are left alone.
 */
export function statusPatch(
  written: ScalingPolicyStatus | undefined,
  next: ScalingPolicyStatus,
): Record<string, unknown> {
  const before = (written ?? {}) as Record<string, unknown>;
  const after = next as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[k]) === JSON.stringify(after[k])) continue;
    // A merge patch merges objects: a field the engine state dropped (the forecaster's tables
    // of a version-1 state) must be sent as null, or the API server keeps it.
    patch[k] = k === 'engineState' ? mergePatch(before[k], after[k]) : (after[k] ?? null);
  }
  return patch;
}

function plainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The RFC 7386 merge patch that turns `before` into `after` (objects recurse, the rest is replaced). */
export function mergePatch(before: unknown, after: unknown): unknown {
  if (after === undefined) return null;
  if (!plainObject(before) || !plainObject(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) patch[k] = mergePatch(before[k], after[k]);
  }
  return patch;
}
