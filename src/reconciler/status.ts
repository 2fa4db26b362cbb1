// Pure helpers for the ScalingPolicy status: conditions, the "did anything that
// matters change" comparison that keeps idle policies from writing every tick,
// and the persisted form of the engine state.
import type { ScalingPolicyStatus } from '../crd/types.generated.ts';
import { ENGINE_STATE_VERSION } from '../policy/engine.ts';
import type { EngineState, PolicySpec } from '../policy/types.ts';
import { compactState, isEngineState, readStoredState } from './engine-state.ts';

export { compactState, isEngineState, persistState } from './engine-state.ts';

export type Condition = NonNullable<ScalingPolicyStatus['conditions']>[number];
export type ConditionStatus = Condition['status'];
export type RecentDecision = NonNullable<ScalingPolicyStatus['recentDecisions']>[number];
export type CurrentMetric = NonNullable<ScalingPolicyStatus['currentMetrics']>[number];

export const RECENT_DECISIONS_MAX = 10;

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function getCondition(status: ScalingPolicyStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export function isConditionTrue(status: ScalingPolicyStatus | undefined, type: string): boolean {
  return getCondition(status, type)?.status === 'True';
}

/**
 * Sets one condition. lastTransitionTime changes only when the status flips
 * (True/False/Unknown), as Kubernetes conventions ask: a new reason or message
 * alone is not a transition.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  c: ConditionInput,
  nowIso: string,
  observedGeneration?: number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const old = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime:
      old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : nowIso,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Adds a decision to the ring, newest first. */
export function pushDecision(
  ring: RecentDecision[] | undefined,
  d: RecentDecision,
  max = RECENT_DECISIONS_MAX,
): RecentDecision[] {
  return [d, ...(ring ?? [])].slice(0, max);
}

// ---------------------------------------------------------------------------
// Engine state persistence

/**
 * What of the engine state can change a future decision, for the "should the
 * status be written" comparison. While a policy idles, the newest
 * recommendation repeats with a new timestamp every tick; that timestamp is left
 * out, so an idle policy writes nothing. What it loses on a restart is bounded:
 * restoreState() assumes the newest recommendation held until the restart.
 * Failures beyond the fallback threshold are all alike to the engine.
 */
export function stateProjection(
  state: EngineState | undefined,
  spec: Pick<PolicySpec, 'fallback'>,
  volatileKeys: ReadonlySet<string> = new Set(),
): unknown {
  if (!state) return undefined;
  const c = compactState(state);
  const recs = c.recommendations.map((r, i, all) => (i === all.length - 1 ? { replicas: r.replicas } : r));
  const threshold = spec.fallback?.failureThreshold ?? 3;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (volatileKeys.has(k)) continue;
    out[k] = v;
  }
  out.recommendations = recs;
  out.consecutiveFailures = Math.min(c.consecutiveFailures ?? 0, threshold);
  return out;
}

/** A restored state, and what to say about the stored one when it was not simply read. */
export interface Restored {
  state?: EngineState;
  /** Set when the stored state was migrated, is newer than this release, or could not be read. */
  note?: { level: 'info' | 'warn'; reason: string; message: string };
}

/**
 * Reads the engine state back from status (engine-state.ts migrates older versions and reads
 * newer ones for the fields it knows). The newest recommendation was persisted when its run
 * began; it is assumed to have held until the tick before this restart (the previous operator
 * kept seeing it and kept silent), which errs on the side of holding replicas.
 */
export function restorePersisted(persisted: unknown, now: number, pollingIntervalSeconds: number): Restored {
  const read = readStoredState(persisted);
  if (read.kind === 'absent') return {};
  if (read.kind === 'unreadable') {
    const v = read.version === undefined ? '' : ` (version ${read.version})`;
    return {
      note: {
        level: 'warn',
        reason: 'EngineStateUnreadable',
        message: `the stored engine state${v} cannot be read: ${read.problem}; decisions start afresh (stabilization windows and rate limits restart)${newerClause(read.version)}`,
      },
    };
  }
  const state = read.state;
  const last = state.recommendations[state.recommendations.length - 1];
  if (last) last.t = Math.max(last.t, now - pollingIntervalSeconds * 1000);
  if (read.from <= ENGINE_STATE_VERSION) return { state };
  return {
    state,
    note: {
      level: 'info',
      reason: 'EngineStateNewer',
      message: `the stored engine state is version ${read.from}, newer than this release's ${ENGINE_STATE_VERSION}: read for the fields this release knows; the others are kept as stored`,
    },
  };
}

function newerClause(version: number | undefined): string {
  return version !== undefined && version > ENGINE_STATE_VERSION
    ? `; it is newer than this release's version ${ENGINE_STATE_VERSION} and is left as stored`
    : '';
}

/** restorePersisted's state alone. */
export function restoreState(
  persisted: unknown,
  now: number,
  pollingIntervalSeconds: number,
): EngineState | undefined {
  return restorePersisted(persisted, now, pollingIntervalSeconds).state;
}

// ---------------------------------------------------------------------------
// Status comparison

/** Metric values that differ by less than this (relative) are not worth a write on their own. */
export const METRIC_VALUE_SLACK = 0.05;

function metricValuesClose(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const x = Number(a);
  const y = Number(b);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= METRIC_VALUE_SLACK * Math.max(Math.abs(x), Math.abs(y));
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}

/**
 * True when `next` differs from `prev` in anything a reader or a restarted
 * operator needs. Ignored: condition timestamps, small moves of metric values,
 * the forecast's moving timestamp and bounds, and the engine state's parts that
 * move every tick without changing a decision (see stateProjection).
 */
export function statusChanged(
  prev: ScalingPolicyStatus | undefined,
  next: ScalingPolicyStatus,
  spec: Pick<PolicySpec, 'fallback'>,
  volatileStateKeys?: ReadonlySet<string>,
): boolean {
  const p = prev ?? {};
  const scalar = [
    'observedGeneration',
    'targetDisplay',
    'currentReplicas',
    'desiredReplicas',
    'lastScaleTime',
  ] as const;
  for (const k of scalar) if (p[k] !== next[k]) return true;

  const pc = p.conditions ?? [];
  const nc = next.conditions ?? [];
  if (pc.length !== nc.length) return true;
  for (const c of nc) {
    const o = pc.find((x) => x.type === c.type);
    if (!o || o.status !== c.status || o.reason !== c.reason || o.message !== c.message) return true;
    if (o.observedGeneration !== c.observedGeneration) return true;
  }

  const pm = p.currentMetrics ?? [];
  const nm = next.currentMetrics ?? [];
  if (pm.length !== nm.length) return true;
  for (let i = 0; i < nm.length; i++) {
    const a = pm[i]!;
    const b = nm[i]!;
    if (a.name !== b.name || a.target !== b.target || a.proposedReplicas !== b.proposedReplicas) return true;
    if (a.error !== b.error || !metricValuesClose(a.value, b.value)) return true;
  }

  if (canonical(p.recentDecisions ?? []) !== canonical(next.recentDecisions ?? [])) return true;
  if (canonical(p.tuned) !== canonical(next.tuned)) return true;
  const stable = (f: ScalingPolicyStatus['forecast']) =>
    f ? { replicas: f.replicas, model: f.model, standingAside: f.standingAside } : undefined;
  if (canonical(stable(p.forecast)) !== canonical(stable(next.forecast))) return true;

  const ps = isEngineState(p.engineState) ? p.engineState : undefined;
  const ns = isEngineState(next.engineState) ? next.engineState : undefined;
  const before = stateProjection(ps, spec, volatileStateKeys) as Record<string, unknown> | undefined;
  const after = stateProjection(ns, spec, volatileStateKeys) as Record<string, unknown> | undefined;
  if (before && after) forgetExpired(before, after);
  return canonical(before) !== canonical(after);
}

/** The engine state's lists whose entries leave by time (window, period). */
const TIMED_LISTS = ['recommendations', 'scaleUpEvents', 'scaleDownEvents'] as const;

/**
 * Where `after`'s list is `before`'s without its oldest entries, they only left their window
 * or period: such entries change no decision (the engine drops them by time when it reads
 * them back), so their leaving is not worth a write on its own; it rides with the next real
 * change. Else a policy that scaled once was written again a period later for nothing.
 */
function forgetExpired(before: Record<string, unknown>, after: Record<string, unknown>): void {
  for (const k of TIMED_LISTS) {
    const a = before[k];
    const b = after[k];
    if (!Array.isArray(a) || !Array.isArray(b) || b.length >= a.length) continue;
    if (canonical(a.slice(a.length - b.length)) === canonical(b)) before[k] = b;
  }
}
