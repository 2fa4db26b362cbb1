// The autoscalers the live benchmark runs side by side, each as the object that makes it
// scale one Deployment: a ScalingPolicy (Tidemark) or a KEDA ScaledObject.
import { defaultBehavior } from './plan.ts';

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
