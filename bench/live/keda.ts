/**
 * The real KEDA in the sandbox, for the live benchmark (issue 22): whether it is there, and
 * the ScaledObject that puts a Deployment under it.
 *
 * Where it comes from: `TIDEMARK_KEDA=1 make env-up` (sandbox/keda.sh) runs KEDA's operator
 * and its metrics API server against the sandbox and registers the APIService
 * v1beta1.external.metrics.k8s.io; KEDA's CRDs are installed, so nothing else needs
 * applying. To use it, apply the manifest `scaledObjectFor()` returns (`kubectl apply -f -`
 * or a POST to `scaledObjectPath(namespace)`) next to the Deployment; KEDA's operator then
 * creates the HPA `kedaHpaName(name)`, which the sandbox's kube-controller-manager runs on the
 * external metric `KEDA_METRIC_NAME`, read through the aggregation layer from KEDA's metrics
 * API server. `externalMetricPath()` is the path the HPA controller reads.
 *
 * Clocks, for a run that compresses time: with `minReplicas` >= 1 the replica count follows
 * the HPA, so its pace is the controller-manager's HPA sync period
 * (TIDEMARK_HPA_SYNC_PERIOD) and the behavior's stabilization windows; on each HPA sync the
 * metrics API server asks the operator, which queries Prometheus then (KEDA's default) or,
 * with `useCachedMetrics`, answers the value of its last poll, so `pollingIntervalSeconds`
 * sets the metric's age only then (and, always, how often KEDA checks activation and
 * refreshes the ScaledObject's status). `cooldownSeconds` applies only to scaling to zero.
 */

import { KubeConfig } from '@kubernetes/client-node';
import { httpTransport, type KubeTransport } from '../../src/kube/api-client.ts';

/** The external metric KEDA names trigger 0 of a ScaledObject (`s<index>-<scaler>`). */
export const KEDA_METRIC_NAME = 's0-prometheus';
export const EXTERNAL_METRICS_APISERVICE = 'v1beta1.external.metrics.k8s.io';
const SCALED_OBJECT_CRD = 'scaledobjects.keda.sh';

/** The HPA KEDA's operator creates for a ScaledObject. */
export const kedaHpaName = (scaledObject: string) => `keda-hpa-${scaledObject}`;

export const scaledObjectPath = (namespace: string, name?: string) =>
  `/apis/keda.sh/v1alpha1/namespaces/${encodeURIComponent(namespace)}/scaledobjects${
    name === undefined ? '' : `/${encodeURIComponent(name)}`
  }`;

/** The external metric as the HPA controller reads it (KEDA selects the ScaledObject by label). */
export function externalMetricPath(
  namespace: string,
  scaledObject: string,
  metric = KEDA_METRIC_NAME,
): string {
  const selector = encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`);
  return `/apis/external.metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(namespace)}/${metric}?labelSelector=${selector}`;
}

interface Condition {
  type: string;
  status: string;
  message?: string;
}
const conditionTrue = (obj: unknown, type: string): boolean =>
  ((obj as { status?: { conditions?: Condition[] } }).status?.conditions ?? []).some(
    (c) => c.type === type && c.status === 'True',
  );

/**
 * Why KEDA cannot scale in this cluster, or undefined when it can: its ScaledObject CRD is
 * established and its metrics API server is registered and Available.
 */
export async function kedaUnavailableReason(api: KubeTransport): Promise<string | undefined> {
  try {
    const crd = await api({
      method: 'GET',
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${SCALED_OBJECT_CRD}`,
    });
    if (!conditionTrue(crd, 'Established')) return `CRD ${SCALED_OBJECT_CRD} is not established`;
    const svc = await api({
      method: 'GET',
      path: `/apis/apiregistration.k8s.io/v1/apiservices/${EXTERNAL_METRICS_APISERVICE}`,
    });
    if (!conditionTrue(svc, 'Available')) return `APIService ${EXTERNAL_METRICS_APISERVICE} is not Available`;
    return undefined;
  } catch (err) {
    return `KEDA is not installed (TIDEMARK_KEDA=1 make env-up): ${(err as Error).message}`;
  }
}

/** Whether the real KEDA serves the cluster of this kubeconfig file (or KubeConfig). */
export async function kedaAvailable(kubeconfig: string | KubeConfig): Promise<boolean> {
  return (await kedaUnavailableReason(httpTransport(loadKubeConfig(kubeconfig)))) === undefined;
}

function loadKubeConfig(kubeconfig: string | KubeConfig): KubeConfig {
  if (typeof kubeconfig !== 'string') return kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
}

/** autoscaling/v2 HPA behavior, as KEDA passes it to its HPA. */
export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: Array<{ type: 'Pods' | 'Percent'; value: number; periodSeconds: number }>;
  tolerance?: string;
}
export interface HpaBehavior {
  scaleUp?: HpaScalingRules;
  scaleDown?: HpaScalingRules;
}

export interface ScaledObjectOptions {
  namespace: string;
  /** The Deployment to scale (apps/v1). */
  deployment: string;
  /** The ScaledObject's name (default: the Deployment's); its HPA is `kedaHpaName(name)`. */
  name?: string;
  /** Prometheus' base URL, as KEDA's operator reaches it (a host process: 127.0.0.1 works). */
  serverAddress: string;
  /** A PromQL query returning one sample: the total the threshold divides. */
  query: string;
  /** Target value per replica (AverageValue): desired = ceil(query / threshold) as in the HPA. */
  threshold: number;
  pollingIntervalSeconds: number;
  cooldownSeconds: number;
  minReplicas: number;
  maxReplicas: number;
  behavior?: HpaBehavior;
  /** KEDA's default (true): an empty query result counts as 0; false makes it an error. */
  ignoreNullValues?: boolean;
  /** Answer the HPA with the value of the last poll instead of querying on each HPA sync. */
  useCachedMetrics?: boolean;
}

/** Throws on options KEDA or the HPA would refuse or misread. */
function checkOptions(o: ScaledObjectOptions): void {
  const bad: string[] = [];
  if (!(o.threshold > 0) || !Number.isFinite(o.threshold)) bad.push(`threshold ${o.threshold} must be > 0`);
  if (!Number.isInteger(o.minReplicas) || o.minReplicas < 0) bad.push(`minReplicas ${o.minReplicas}`);
  if (!Number.isInteger(o.maxReplicas) || o.maxReplicas < Math.max(1, o.minReplicas))
    bad.push(`maxReplicas ${o.maxReplicas} must be >= max(1, minReplicas)`);
  for (const [k, v] of [
    ['pollingIntervalSeconds', o.pollingIntervalSeconds],
    ['cooldownSeconds', o.cooldownSeconds],
  ] as const)
    if (!Number.isInteger(v) || v < 0) bad.push(`${k} ${v} must be a whole number of seconds`);
  if (!/^https?:\/\//.test(o.serverAddress)) bad.push(`serverAddress ${o.serverAddress} is not a URL`);
  if (bad.length > 0) throw new Error(`scaledObjectFor: ${bad.join('; ')}`);
}

/** The KEDA ScaledObject (keda.sh/v1alpha1) scaling `deployment` on one Prometheus trigger. */
export function scaledObjectFor(o: ScaledObjectOptions) {
  checkOptions(o);
  const metadata: Record<string, string> = {
    serverAddress: o.serverAddress,
    query: o.query,
    // KEDA parses trigger metadata from strings.
    threshold: String(o.threshold),
  };
  if (o.ignoreNullValues !== undefined) metadata.ignoreNullValues = String(o.ignoreNullValues);
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: o.name ?? o.deployment, namespace: o.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: o.deployment },
      pollingInterval: o.pollingIntervalSeconds,
      cooldownPeriod: o.cooldownSeconds,
      minReplicaCount: o.minReplicas,
      maxReplicaCount: o.maxReplicas,
      ...(o.behavior ? { advanced: { horizontalPodAutoscalerConfig: { behavior: o.behavior } } } : {}),
      triggers: [
        {
          type: 'prometheus',
          metricType: 'AverageValue',
          ...(o.useCachedMetrics ? { useCachedMetrics: true } : {}),
          metadata,
        },
      ],
    },
  };
}
