// The engine state as stored in status.engineState, across releases: which versions exist,
// how an older one is migrated forward, how a newer one (written by the next release during
// a rolling upgrade) is read without being destroyed, and what is left out because a restart
// rebuilds it. Pure: no I/O, no clock. docs/upgrading.md ("Engine state") explains the rules.
//
// Versions:
//   1  the first release's format, still written. Since v0.1.0 the forecaster's tables
//      (level5.forecast) are stored empty: the operator trains them from Prometheus' history
//      when a policy starts in a process (src/reconciler/forecast-history.ts), so they cost etcd and
//      every informer cache kilobytes per policy for nothing. An empty table is one v0.1.0
//      reads (it trains from history too), as are the Level 5 fields added since (it ignores
//      them): a version bump would make v0.1.0 drop the whole state and restart every window
//      on a downgrade, or when one of its replicas leads during a rolling upgrade.
//      A table v0.1.0 stored is dropped on reading. belowActivationSince (written only with
//      behavior.scaleToZeroDelaySeconds) is such an optional field too: a release without it
//      ignores it and only restarts the delay.
//   2+ a later release's format: read for the fields this one knows, never written back lower.
//
// `times` holds the RFC 3339 form of the epoch ms times (lastScaleTime, belowActivationSince, and each entry's `t` of
// the three lists, in their order) for people reading `kubectl describe`: derived on every
// write, dropped on reading, and not a change worth a write on its own. A field v0.1.0 ignores,
// so it needs no version.
import { cloneData } from '../core/clone.ts';
import { ENGINE_STATE_VERSION } from '../policy/engine.ts';
import type { EngineState } from '../policy/types.ts';

/** Top-level fields this release knows. Others come from a newer release and are written back unchanged. */
const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'version',
  'writtenBy',
  'recommendations',
  'scaleUpEvents',
  'scaleDownEvents',
  'lastScaleTime',
  'consecutiveFailures',
  'fallbackActive',
  'tunedScaleDownStabilizationSeconds',
  'belowActivationSince',
  'level5',
  'times',
]);

/** Fields of level5 (src/level5/stages.ts Level5State) this release knows. */
const KNOWN_LEVEL5_KEYS: ReadonlySet<string> = new Set([
  'v',
  'anomaly',
  'forecast',
  'ineffective',
  'flap',
  'slo',
  'startup',
  'shadow',
]);

/** What reading a stored state gave. */
export type StoredRead =
  /** Nothing stored: a policy's first tick. */
  | { kind: 'absent' }
  /** Read; `from` is the stored version (older ones were migrated to this release's). */
  | { kind: 'read'; state: EngineState; from: number }
  /** Stored but not readable (corrupt, or a newer release changed a field this one needs). */
  | { kind: 'unreadable'; version?: number; problem: string };

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The stored version, when the object has a valid one. */
export function storedVersion(x: unknown): number | undefined {
  if (!isObj(x)) return undefined;
  const v = x.version;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

function timedList(x: unknown, field: 'replicas' | 'change'): boolean {
  return (
    Array.isArray(x) && x.every((e) => isObj(e) && typeof e.t === 'number' && typeof e[field] === 'number')
  );
}

/** Why the fields every version shares are not usable, or undefined when they are. */
function coreProblem(x: Obj): string | undefined {
  if (!timedList(x.recommendations, 'replicas')) return 'recommendations is not a list of {t, replicas}';
  if (!timedList(x.scaleUpEvents, 'change')) return 'scaleUpEvents is not a list of {t, change}';
  if (!timedList(x.scaleDownEvents, 'change')) return 'scaleDownEvents is not a list of {t, change}';
  if (typeof x.consecutiveFailures !== 'number') return 'consecutiveFailures is not a number';
  if (x.lastScaleTime !== undefined && typeof x.lastScaleTime !== 'number')
    return 'lastScaleTime is not a number';
  if (x.level5 !== undefined && !isObj(x.level5)) return 'level5 is not an object';
  return undefined;
}

/** True when x has the shape of an engine state of any version this release can read. */
export function isEngineState(x: unknown): x is EngineState {
  return isObj(x) && storedVersion(x) !== undefined && coreProblem(x) === undefined;
}

/**
 * Reads a stored state into this release's form: the forecaster's tables dropped (v0.1.0
 * stored them), everything else kept; a newer version is read for the fields this release
 * knows (its other fields stay in the object and are written back by persistState).
 */
export function readStoredState(stored: unknown): StoredRead {
  if (stored === undefined || stored === null) return { kind: 'absent' };
  if (!isObj(stored)) return { kind: 'unreadable', problem: 'it is not an object' };
  const version = storedVersion(stored);
  if (version === undefined)
    return {
      kind: 'unreadable',
      problem: `its version ${JSON.stringify(stored.version)} is not a positive integer`,
    };
  const problem = coreProblem(stored);
  if (problem) return { kind: 'unreadable', version, problem };
  const state = cloneData(stored) as EngineState;
  state.version = ENGINE_STATE_VERSION;
  delete state.times;
  // The forecaster's tables are never taken from storage: v0.1.0's state carries them, and the operator trains them from history anyway (a model from before a restart
  // would also miss the minutes the operator was down).
  const l5 = state.level5;
  if (isObj(l5)) state.level5 = { ...l5, anomaly: isObj(l5.anomaly) ? l5.anomaly : {}, forecast: {} };
  return { kind: 'read', state, from: version };
}

/** The state without what a restart rebuilds, and with runs of equal recommendations compacted. */
export function compactState(state: EngineState): EngineState {
  const { times: _derived, ...rest } = state;
  const out: EngineState = { ...rest, recommendations: compactRecommendations(state.recommendations ?? []) };
  if (isObj(state.level5)) {
    const { forecast: _rebuilt, ...level5 } = state.level5;
    out.level5 = { ...roundFractions(compactShadowTails(level5)), forecast: {} };
  }
  return out;
}

/**
 * Recommendations are appended in time order; in each run of equal ones only the newest can
 * ever decide a stabilization window (max/min over the window), so the others are not stored.
 */
function compactRecommendations<R extends { replicas: number }>(recs: readonly R[]): R[] {
  return recs.filter((r, i) => recs[i + 1]?.replicas !== r.replicas);
}

/**
 * The shadow evaluation's virtual paths keep a stabilization history of their own
 * (level5.shadow.virt[path].tail), compacted by the same rule: with a few variants followed,
 * theirs took more bytes than the rest of the state.
 */
function compactShadowTails(level5: Record<string, unknown>): Record<string, unknown> {
  const shadow = level5.shadow;
  if (!isObj(shadow) || !isObj(shadow.virt)) return level5;
  const virt: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(shadow.virt)) {
    const recs = isObj(v) && isObj(v.tail) ? v.tail.recommendations : undefined;
    virt[path] =
      Array.isArray(recs) && isObj(v) && isObj(v.tail)
        ? {
            ...v,
            tail: { ...v.tail, recommendations: compactRecommendations(recs as Array<{ replicas: number }>) },
          }
        : v;
  }
  return { ...level5, shadow: { ...shadow, virt } };
}

/** Significant digits kept of a fraction in the stored Level 5 state. */
export const STORED_DIGITS = 6;

/**
 * The Level 5 state with fractions cut to STORED_DIGITS significant digits: its numbers are
 * statistics of noisy metrics (windows of values, load bins, utilisations), where digits past
 * the sixth are noise, and printing them took a third of the stored bytes. Integers (counts,
 * epoch ms) are exact and kept as they are; a large number with a fraction (an epoch ms a
 * fractional start-up time was added to) loses only the fraction, never its own digits.
 */
export function roundFraction(v: number): number {
  if (Number.isInteger(v) || !Number.isFinite(v)) return v;
  return Math.abs(v) >= 10 ** STORED_DIGITS ? Math.round(v) : Number(v.toPrecision(STORED_DIGITS));
}

function roundFractions<T>(v: T): T {
  if (typeof v === 'number') return roundFraction(v) as T;
  if (Array.isArray(v)) return v.map(roundFractions) as T;
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) out[k] = roundFractions(x);
  return out as T;
}

/**
 * What to store for `state`, given what is stored now. Normally this release's version. When
 * the stored state is newer (a replica of the next release wrote it during a rolling upgrade),
 * it is not written back at a lower version: the newer version is kept, with the fields this
 * release does not know carried over unchanged and `writtenBy` naming this release, so the
 * newer one knows those fields may be stale. A newer state this release cannot read at all is
 * left exactly as stored.
 */
export function persistState(state: EngineState, stored?: unknown): EngineState {
  const c = compactState(state);
  delete c.writtenBy;
  c.times = readableTimes(c);
  const sv = storedVersion(stored);
  if (sv === undefined || sv <= ENGINE_STATE_VERSION) return { ...c, version: ENGINE_STATE_VERSION };
  if (!isEngineState(stored)) return cloneData(stored) as EngineState;
  const out: Obj = {};
  for (const [k, v] of Object.entries(stored)) if (!KNOWN_KEYS.has(k)) out[k] = cloneData(v);
  Object.assign(out, c, { version: sv, writtenBy: ENGINE_STATE_VERSION });
  const sl = stored.level5;
  if (isObj(sl) && isObj(c.level5)) {
    const level5: Obj = {};
    for (const [k, v] of Object.entries(sl)) if (!KNOWN_LEVEL5_KEYS.has(k)) level5[k] = cloneData(v);
    out.level5 = { ...level5, ...c.level5 };
  }
  return out as EngineState;
}

/** The RFC 3339 form of the state's epoch ms times, the empty lists left out (see `times` above). */
export function readableTimes(state: EngineState): Record<string, string | string[]> {
  const iso = (ms: number) => new Date(ms).toISOString();
  const out: Record<string, string | string[]> = {};
  if (typeof state.lastScaleTime === 'number') out.lastScaleTime = iso(state.lastScaleTime);
  if (typeof state.belowActivationSince === 'number')
    out.belowActivationSince = iso(state.belowActivationSince);
  for (const k of ['recommendations', 'scaleUpEvents', 'scaleDownEvents'] as const) {
    const list = state[k] ?? [];
    if (list.length > 0) out[k] = list.map((e) => iso(e.t));
  }
  return out;
}
