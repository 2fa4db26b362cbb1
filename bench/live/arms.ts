// The autoscalers the live benchmark runs side by side, each as the object that makes it
// scale one Deployment: a ScalingPolicy (Tidemark) or a KEDA ScaledObject.
import type {
  HpaDirectionBehavior,
  HpaBehavior as SimulatedBehavior,
} from '../../src/simulate/hpa-baseline.ts';
import { type HpaBehavior, type HpaScalingRules, scaledObjectFor } from './keda.ts';
import { CLOCKS, compressSeconds, defaultBehavior } from './plan.ts';

export interface ArmTarget {
  namespace: string;
  deployment: string;
  prometheusUrl: string;
  query: string;
  targetRps: number;
  minReplicas: number;
  maxReplicas: number;
  speedup: number;
}

export interface Arm {
  /** Short, for Deployment names and the table. */
  id: string;
  label: string;
  /** The simulator's strategy that predicts it, and at which polling interval (uncompressed). */
  simulated: { strategy: 'tidemark' | 'keda-default'; pollingSeconds: number };
  /** The objects that make it scale the target. */
  manifests(t: ArmTarget): unknown[];
}

/** A ScalingPolicy with the HPA's default behaviour, every clock compressed by the speedup. */
export function tidemarkPolicy(t: ArmTarget, pollingSeconds: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'ScalingPolicy',
    metadata: { name: t.deployment, namespace: t.namespace },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: t.deployment },
      minReplicas: t.minReplicas,
      maxReplicas: t.maxReplicas,
      pollingIntervalSeconds: pollingSeconds / t.speedup,
      prometheus: { address: t.prometheusUrl },
      metrics: [
        { name: 'rps', query: t.query, target: { type: 'AverageValue', value: String(t.targetRps) } },
      ],
      behavior: defaultBehavior(t.speedup),
      ...extra,
    },
  };
}

export function tidemarkArm(pollingSeconds: number, extra: Record<string, unknown> = {}, suffix = ''): Arm {
  return {
    id: `tm${pollingSeconds}${suffix}`,
    label: `Tidemark ${pollingSeconds} s${suffix ? ` (${Object.keys(extra).join(', ')})` : ''}`,
    simulated: { strategy: 'tidemark', pollingSeconds },
    manifests: (t) => [tidemarkPolicy(t, pollingSeconds, extra)],
  };
}

/** The kube-controller-manager's --horizontal-pod-autoscaler-tolerance default. */
const CONTROLLER_TOLERANCE = 0.1;

/**
 * The simulator's HPA behaviour as autoscaling/v2 carries it in a ScaledObject. The tolerance
 * goes per direction and only when it differs from the controller's flag, so a default
 * behaviour leaves the field out (KEDA's CRD need not know the newer field).
 */
export function hpaBehaviorFor(b: SimulatedBehavior): HpaBehavior {
  const direction = (d: HpaDirectionBehavior): HpaScalingRules => ({
    stabilizationWindowSeconds: d.stabilizationWindowSeconds,
    selectPolicy: d.selectPolicy,
    policies: d.policies.map((p) => ({ type: p.type, value: p.value, periodSeconds: p.periodSeconds })),
    ...(b.tolerance === CONTROLLER_TOLERANCE ? {} : { tolerance: String(b.tolerance) }),
  });
  return { scaleUp: direction(b.scaleUp), scaleDown: direction(b.scaleDown) };
}

/**
 * The real KEDA: a ScaledObject with one Prometheus trigger on the same query and threshold
 * (AverageValue per replica, as the ScalingPolicy's target), KEDA's defaults (pollingInterval
 * 30 s, cooldownPeriod 300 s, empty results read as 0) with every clock compressed, and the
 * HPA's default behaviour written out compressed, so it does not hang on the
 * controller-manager's flags alone. KEDA's HPA queries Prometheus on each HPA sync
 * (useCachedMetrics off), so the simulator's keda-default, synced every 15 s, predicts it.
 */
export function kedaArm(): Arm {
  return {
    id: 'keda',
    label: 'KEDA (its HPA)',
    simulated: { strategy: 'keda-default', pollingSeconds: CLOCKS.hpaSyncSeconds },
    manifests: (t) => [
      scaledObjectFor({
        namespace: t.namespace,
        deployment: t.deployment,
        serverAddress: t.prometheusUrl,
        query: t.query,
        threshold: t.targetRps,
        pollingIntervalSeconds: compressSeconds(CLOCKS.kedaPollingSeconds, t.speedup),
        cooldownSeconds: compressSeconds(300, t.speedup),
        minReplicas: t.minReplicas,
        maxReplicas: t.maxReplicas,
        behavior: hpaBehaviorFor(defaultBehavior(t.speedup)),
      }),
    ],
  };
}
