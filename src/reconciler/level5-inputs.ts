// What the operator feeds the Level 5 mechanisms beyond this tick's metric values: the
// target's ready replicas, the forecaster's history from Prometheus, and the SLO latency.
// The pure parts live here (tested on their own); reconciler.ts does the I/O.
import type { CollectorSpec } from '../collector/index.ts';
import { parseDurationSeconds } from '../level5/forecast/duration.ts';
import { forecastConfig } from '../level5/stages.ts';
import { level5Enabled } from '../policy/engine.ts';
import type { PolicySpec } from '../policy/types.ts';

/** Kinds whose controllers leave `status.readyReplicas` out when it is 0 (omitempty). */
const OMITS_ZERO_READY = new Set(['apps/v1 Deployment', 'apps/v1 StatefulSet', 'apps/v1 ReplicaSet']);

/**
 * Whether the tick should read the target object for its ready replicas. The scale
 * subresource has no ready count, so it costs one more GET per tick: spent only where the
 * count is used, by the Level 5 mechanisms and by Value targets (which multiply by the
 * ready pods, as the HPA does for Object and External metrics).
 */
export function wantsReadyReplicas(spec: PolicySpec): boolean {
  return level5Enabled(spec) || spec.metrics.some((m) => m.target.type === 'Value');
}

/**
 * The ready replicas in a target object, when it reports them. Deployments, StatefulSets
 * and ReplicaSets omit the field at 0, so for them a status without it means 0 (once their
 * controller has written a status at all); for any other kind a missing field is unknown.
 */
export function readyReplicasOf(apiVersion: string, kind: string, obj: unknown): number | undefined {
  const status = (obj as { status?: Record<string, unknown> } | undefined)?.status;
  if (!status || typeof status !== 'object') return undefined;
  const ready = status.readyReplicas;
  if (typeof ready === 'number' && Number.isInteger(ready) && ready >= 0) return ready;
  if (ready === undefined && OMITS_ZERO_READY.has(`${apiVersion} ${kind}`)) {
    if (typeof status.observedGeneration === 'number' || typeof status.replicas === 'number') return 0;
  }
  return undefined;
}

/**
 * What a metric's loaded history depends on: a change of any of these (predictive switched
 * on, the query, the Prometheus address, the forecaster's step, season or history length)
 * means the history must be loaded again.
 */
export function historyKey(spec: PolicySpec, metric: string): string | undefined {
  const cfg = forecastConfig(spec);
  const m = spec.metrics.find((x) => x.name === metric);
  if (!cfg || !m || !spec.predictive) return undefined;
  return JSON.stringify([
    spec.prometheus.address,
    m.query,
    cfg.stepSeconds,
    cfg.seasonSeconds,
    cfg.weekly,
    spec.predictive.history,
  ]);
}

export interface HistoryWindow {
  startMs: number;
  endMs: number;
  stepSeconds: number;
}

/**
 * The range query for a metric's history: `spec.predictive.history` back from now, on the
 * forecaster's own step and aligned to it, so each point lands in the bucket the forecaster
 * would have put a live sample of that time in. The last point is the current step's start.
 */
export function historyWindow(spec: PolicySpec, now: number): HistoryWindow | undefined {
  const cfg = forecastConfig(spec);
  if (!cfg || !spec.predictive) return undefined;
  const stepMs = cfg.stepSeconds * 1000;
  const endMs = Math.floor(now / stepMs) * stepMs;
  const span = parseDurationSeconds(spec.predictive.history) * 1000;
  const startMs = Math.max(0, Math.ceil((endMs - span) / stepMs) * stepMs);
  return { startMs, endMs, stepSeconds: cfg.stepSeconds };
}

/** A history load that failed is tried again after this long (doubling up to the maximum). */
export function historyRetryDelayMs(failures: number): number {
  return Math.min(30 * 60_000, 60_000 * 2 ** Math.max(0, failures - 1));
}

/** The SLO latency query as a one-metric spec for the collector (same dedupe, auth and TLS as the policy's). */
export function latencySpec(spec: PolicySpec): CollectorSpec | undefined {
  const slo = spec.autotune?.enabled ? spec.autotune.slo : undefined;
  if (!slo) return undefined;
  return {
    prometheus: spec.prometheus,
    pollingIntervalSeconds: spec.pollingIntervalSeconds,
    metrics: [{ name: `${slo.metric}:latency`, query: slo.latencyQuery }],
  };
}
