/**
 * The simulator's core: given snapshots of the cluster (labelled Deployments and
 * their pods) at successive times, it accounts the requests each pod served and
 * their latency. Deterministic: time comes in as an argument, trace files through
 * an injected loader, and nothing is logged here (changes come back as events).
 */

import {
  DEFAULT_BUCKETS,
  emptyHistogram,
  type HistogramAccount,
  type LatencyModel,
  meanLatency,
  recordRequests,
  splitRate,
} from './model.ts';
import {
  CAPACITY_ANNOTATION,
  describeProfile,
  evaluateProfile,
  LOAD_ANNOTATION,
  LOAD_START_ANNOTATION,
  type Profile,
  parsePositiveAnnotation,
  parseProfileSpec,
  parseStartAnnotation,
  type Result,
  SERVICE_TIME_ANNOTATION,
} from './profile.ts';

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** What the simulator needs of a Deployment carrying the profile label. */
export interface DeploymentView {
  namespace: string;
  name: string;
  /** Value of the tidemark.dev/load-profile label. */
  profile: string;
  annotations: Record<string, string>;
  selector: LabelSelector | undefined;
}

export interface PodView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** Ready condition True and not terminating: the pod receives traffic. */
  ready: boolean;
}

export interface World {
  deployments: readonly DeploymentView[];
  pods: readonly PodView[];
}

/**
 * Kubernetes label-selector semantics (apps/v1): all matchLabels and all
 * matchExpressions must hold. A missing or empty selector matches nothing,
 * since apps/v1 rejects those and matching every pod would be worse.
 */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  const ml = Object.entries(sel.matchLabels ?? {});
  const me = sel.matchExpressions ?? [];
  if (ml.length === 0 && me.length === 0) return false;
  for (const [k, v] of ml) if (labels[k] !== v) return false;
  for (const req of me) {
    const has = Object.hasOwn(labels, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(labels[req.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[req.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export interface PodAccount {
  requests: number;
  latency: HistogramAccount;
}

export interface DeploymentState {
  namespace: string;
  name: string;
  /** Profile label and annotations as last seen: a change restarts the clock. */
  key: string;
  /** Epoch ms at which the profile's clock started. */
  startedAt: number;
  lastTick: number;
  profile: Profile | undefined;
  error: string | undefined;
  model: LatencyModel;
  offeredRps: number;
  readyPods: number;
  dropped: number;
  /** Every existing pod of the Deployment, ready or not, by name. */
  pods: Map<string, PodAccount>;
}

export type SimEvent =
  | { type: 'configured'; namespace: string; name: string; description: string; restarted: boolean }
  | { type: 'invalid'; namespace: string; name: string; error: string }
  | { type: 'removed'; namespace: string; name: string };

export interface SimulatorOptions {
  buckets?: readonly number[];
  maxLatencySeconds?: number;
  defaultCapacityRps?: number;
  /** Reads a trace file's requests per minute (I/O lives with the caller). */
  loadTrace?: (file: string) => Result<number[]>;
}

export const DEFAULT_CAPACITY_RPS = 100;
export const DEFAULT_MAX_LATENCY_SECONDS = 10;

const CONFIG_ANNOTATIONS = [
  LOAD_ANNOTATION,
  CAPACITY_ANNOTATION,
  SERVICE_TIME_ANNOTATION,
  LOAD_START_ANNOTATION,
] as const;

const keyOf = (d: DeploymentView) => `${d.namespace}/${d.name}`;

export class Simulator {
  readonly buckets: readonly number[];
  readonly deployments = new Map<string, DeploymentState>();
  private readonly maxLatency: number;
  private readonly defaultCapacity: number;
  private readonly loadTrace: (file: string) => Result<number[]>;

  constructor(opts: SimulatorOptions = {}) {
    this.buckets = opts.buckets ?? DEFAULT_BUCKETS;
    this.maxLatency = opts.maxLatencySeconds ?? DEFAULT_MAX_LATENCY_SECONDS;
    this.defaultCapacity = opts.defaultCapacityRps ?? DEFAULT_CAPACITY_RPS;
    this.loadTrace = opts.loadTrace ?? (() => ({ ok: false, error: 'trace files are not available' }));
  }

  /**
   * Advances every Deployment to `now` (epoch ms) against the cluster as it is
   * now: each ready pod serves its share of the offered rate for the time since
   * the previous tick. Returns what changed, for the log.
   */
  tick(world: World, now: number): SimEvent[] {
    const events: SimEvent[] = [];
    const seen = new Set<string>();
    const podsByNs = new Map<string, PodView[]>();
    for (const p of world.pods) {
      const list = podsByNs.get(p.namespace);
      if (list) list.push(p);
      else podsByNs.set(p.namespace, [p]);
    }

    for (const d of world.deployments) {
      const id = keyOf(d);
      if (seen.has(id)) continue;
      seen.add(id);
      // Only the simulator's own annotations count: a rollout's revision bump or
      // kubectl's last-applied annotation must not restart the profile's clock.
      const configKey = JSON.stringify([
        d.profile,
        ...CONFIG_ANNOTATIONS.map((k) => d.annotations[k] ?? null),
      ]);
      let st = this.deployments.get(id);
      if (!st || st.key !== configKey) {
        const restarted = st !== undefined;
        st = this.configure(d, configKey, now, st);
        this.deployments.set(id, st);
        events.push(
          st.error !== undefined
            ? { type: 'invalid', namespace: d.namespace, name: d.name, error: st.error }
            : {
                type: 'configured',
                namespace: d.namespace,
                name: d.name,
                description: describeProfile(st.profile!),
                restarted,
              },
        );
      }
      this.advance(st, d, podsByNs.get(d.namespace) ?? [], now);
    }

    for (const [id, st] of this.deployments) {
      if (!seen.has(id)) {
        this.deployments.delete(id);
        events.push({ type: 'removed', namespace: st.namespace, name: st.name });
      }
    }
    return events;
  }

  private configure(d: DeploymentView, key: string, now: number, prev: DeploymentState | undefined) {
    const a = d.annotations;
    const capacity = parsePositiveAnnotation(
      CAPACITY_ANNOTATION,
      a[CAPACITY_ANNOTATION],
      this.defaultCapacity,
    );
    const capacityRps = capacity.ok ? capacity.value : this.defaultCapacity;
    const service = parsePositiveAnnotation(
      SERVICE_TIME_ANNOTATION,
      a[SERVICE_TIME_ANNOTATION],
      1000 / capacityRps,
    );
    const start = parseStartAnnotation(a[LOAD_START_ANNOTATION]);
    const spec = parseProfileSpec(d.profile, a[LOAD_ANNOTATION]);
    let profile: Profile | undefined;
    let error: string | undefined;
    if (!spec.ok) error = spec.error;
    else if (!capacity.ok) error = capacity.error;
    else if (!service.ok) error = service.error;
    else if (!start.ok) error = start.error;
    else if (spec.value.kind === 'trace') {
      const trace = this.loadTrace(spec.value.file);
      if (trace.ok) profile = { ...spec.value, perMinute: trace.value };
      else error = `trace ${spec.value.file}: ${trace.error}`;
    } else profile = spec.value;

    return {
      namespace: d.namespace,
      name: d.name,
      key,
      startedAt: (start.ok ? start.value : undefined) ?? now,
      // A new configuration serves from now on: the interval since the previous
      // tick belongs to neither profile, and counters carry on across the change.
      lastTick: now,
      profile,
      error,
      model: {
        capacityRps,
        serviceTimeSeconds: (service.ok ? service.value : 1000 / capacityRps) / 1000,
        maxLatencySeconds: this.maxLatency,
      },
      offeredRps: 0,
      readyPods: 0,
      dropped: prev?.dropped ?? 0,
      pods: prev?.pods ?? new Map(),
    } satisfies DeploymentState;
  }

  private advance(st: DeploymentState, d: DeploymentView, nsPods: readonly PodView[], now: number): void {
    const mine = nsPods.filter((p) => selectorMatches(d.selector, p.labels));
    const present = new Set(mine.map((p) => p.name));
    // Pods that are gone drop out of the exposition, so their series go stale.
    for (const name of st.pods.keys()) if (!present.has(name)) st.pods.delete(name);
    for (const p of mine) {
      if (!st.pods.has(p.name)) st.pods.set(p.name, { requests: 0, latency: emptyHistogram(this.buckets) });
    }
    const ready = mine.filter((p) => p.ready);
    const dt = (now - st.lastTick) / 1000;
    const t = (now - st.startedAt) / 1000;
    st.offeredRps = st.profile ? evaluateProfile(st.profile, t) : 0;
    st.readyPods = ready.length;
    if (dt <= 0) return;
    st.lastTick = now;
    // The rate at the middle of the interval integrates ramps and sines (nearly)
    // exactly over a tick; a step lands within one tick of its time.
    const rate = st.profile ? evaluateProfile(st.profile, t - dt / 2) : 0;
    const { perPod, dropped } = splitRate(rate, ready.length);
    st.dropped += dropped * dt;
    if (ready.length === 0) return;
    const mean = meanLatency(perPod, st.model);
    const n = perPod * dt;
    for (const p of ready) {
      const acc = st.pods.get(p.name)!;
      acc.requests += n;
      recordRequests(acc.latency, this.buckets, n, mean, st.model.maxLatencySeconds);
    }
  }
}
