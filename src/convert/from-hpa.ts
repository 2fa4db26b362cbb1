// HorizontalPodAutoscaler (autoscaling/v2, v2beta2 and v1) → ScalingPolicy. Tidemark's
// defaults are the HPA's, so bounds and behavior carry over; the metrics become PromQL.
import {
  ConvertError,
  type ConvertOptions,
  convertBehavior,
  DEFAULT_PROMETHEUS,
  HPA_SYNC_SECONDS,
  int,
  lookupQuery,
  metricName,
  type Note,
  type Obj,
  obj,
  type PolicyMetric,
  type PolicyObject,
  podPattern,
  policyFor,
  type Source,
  selectorMatchers,
  sourceOf,
  str,
  unknownFields,
} from './common.ts';
import { isPositiveDecimal, quantityToDecimal } from './quantity.ts';
import { resourceMetric } from './resource.ts';

export const HPA_API_VERSIONS = ['autoscaling/v2', 'autoscaling/v2beta2', 'autoscaling/v1'];

/** Kinds whose apiVersion an HPA may leave out (CrossVersionObjectReference.apiVersion is optional). */
const WELL_KNOWN_TARGETS: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  ReplicationController: 'v1',
};

interface Ctx {
  source: Source;
  target: PolicyObject['spec']['targetRef'];
  options: ConvertOptions;
  names: Set<string>;
  notes: Note[];
}

export function convertHpa(o: Obj, options: ConvertOptions): { policy: PolicyObject; notes: Note[] } {
  const source = sourceOf(o);
  if (!HPA_API_VERSIONS.includes(source.apiVersion)) {
    throw new ConvertError(
      `apiVersion ${source.apiVersion} is not supported (autoscaling/v2, v2beta2 or v1); read it as autoscaling/v2: kubectl get hpa.v2.autoscaling ${source.name} -o yaml`,
    );
  }
  const spec = obj(o.spec);
  const v1 = source.apiVersion === 'autoscaling/v1';
  const notes: Note[] = [];
  unknownFields(
    spec,
    v1
      ? ['scaleTargetRef', 'minReplicas', 'maxReplicas', 'targetCPUUtilizationPercentage']
      : ['scaleTargetRef', 'minReplicas', 'maxReplicas', 'metrics', 'behavior'],
    'spec',
    notes,
  );
  const target = targetRef(obj(spec.scaleTargetRef));
  const minReplicas = int(spec.minReplicas, 'spec.minReplicas') ?? 1;
  const maxReplicas = int(spec.maxReplicas, 'spec.maxReplicas');
  if (maxReplicas === undefined) throw new ConvertError('spec.maxReplicas is required');
  if (minReplicas > maxReplicas)
    throw new ConvertError(`spec.minReplicas ${minReplicas} is above spec.maxReplicas ${maxReplicas}`);

  const ctx: Ctx = { source, target, options, names: new Set(), notes };
  const metrics = hpaMetrics(o, v1).map((m, i) => convertMetric(obj(m), i, ctx));
  const address = options.prometheus ?? DEFAULT_PROMETHEUS;
  if (options.prometheus === undefined) {
    notes.push({
      level: 'note',
      path: ['spec', 'prometheus'],
      text: `the address is the operator's default; pass --prometheus URL for the Prometheus that has these series (it must be on the operator's --allowed-prometheus list).`,
    });
  }
  const policy = policyFor(source, {
    targetRef: target,
    minReplicas,
    maxReplicas,
    pollingIntervalSeconds: HPA_SYNC_SECONDS,
    mode: 'Active',
    prometheus: { address },
    metrics,
    behavior: convertBehavior(v1 ? undefined : spec.behavior, notes),
  });
  return { policy, notes };
}

export function targetRef(ref: Obj): PolicyObject['spec']['targetRef'] {
  const kind = str(ref.kind);
  const name = str(ref.name);
  if (!kind || !name) throw new ConvertError('spec.scaleTargetRef needs kind and name');
  const apiVersion = str(ref.apiVersion) ?? WELL_KNOWN_TARGETS[kind];
  if (!apiVersion) throw new ConvertError(`spec.scaleTargetRef.apiVersion is needed for kind ${kind}`);
  return { apiVersion, kind, name };
}

/** The metrics as the API server defaults them: v1's targetCPUUtilizationPercentage, and 80 % CPU when none. */
function hpaMetrics(o: Obj, v1: boolean): unknown[] {
  const spec = obj(o.spec);
  if (v1) {
    const extra = obj(obj(o.metadata).annotations)['autoscaling.alpha.kubernetes.io/metrics'];
    if (extra !== undefined) {
      throw new ConvertError(
        'this autoscaling/v1 object carries more metrics in an annotation; read it as autoscaling/v2 (kubectl get hpa.v2.autoscaling NAME -o yaml, or tidemark convert --from-cluster)',
      );
    }
    const pct = int(spec.targetCPUUtilizationPercentage, 'spec.targetCPUUtilizationPercentage') ?? 80;
    return [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: pct } },
      },
    ];
  }
  if (Array.isArray(spec.metrics) && spec.metrics.length > 0) return spec.metrics;
  return [
    { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
  ];
}

function convertMetric(m: Obj, i: number, ctx: Ctx): PolicyMetric {
  const path = ['spec', 'metrics', i];
  const where = `spec.metrics[${i}]`;
  const { source, target, options } = ctx;
  switch (m.type) {
    case 'Resource':
    case 'ContainerResource': {
      const r = obj(m.type === 'Resource' ? m.resource : m.containerResource);
      const resource = String(r.name ?? '');
      const container = str(r.container);
      const name = metricName(container ? `${resource}-${container}` : resource, ctx.names);
      return resourceMetric(
        {
          resource,
          ...(container ? { container } : {}),
          target: obj(r.target) as { type: string },
          kind: target.kind,
          name: target.name,
          ...(source.namespace ? { namespace: source.namespace } : {}),
          described: `${where} (${m.type} ${resource}${container ? ` of container ${container}` : ''})`,
        },
        name,
        lookupQuery(options, source.name, [name, resource]),
        ctx.notes,
        path,
      );
    }
    case 'Pods':
    case 'Object':
    case 'External':
      return adapterMetric(m, obj(m[String(m.type).toLowerCase()]), where, path, ctx);
    default:
      throw new ConvertError(`${where}: metric type ${JSON.stringify(m.type)} is not known`);
  }
}

/** Pods/Object/External metrics come through a metrics adapter whose PromQL convert cannot know. */
function adapterMetric(m: Obj, src: Obj, where: string, path: (string | number)[], ctx: Ctx): PolicyMetric {
  const { source, target, options } = ctx;
  const metric = obj(src.metric);
  const raw = str(metric.name);
  if (!raw) throw new ConvertError(`${where}: ${m.type} metric has no metric.name`);
  const t = obj(src.target);
  const type = t.type === 'Value' ? 'Value' : t.type === 'AverageValue' ? 'AverageValue' : undefined;
  if (!type)
    throw new ConvertError(
      `${where}: ${m.type} metric target type ${JSON.stringify(t.type)} is not Value or AverageValue`,
    );
  const value = quantityToDecimal(type === 'Value' ? t.value : t.averageValue);
  if (value === undefined || !isPositiveDecimal(value)) {
    throw new ConvertError(
      `${where}: target ${type === 'Value' ? 'value' : 'averageValue'} must be a positive quantity`,
    );
  }
  const name = metricName(raw, ctx.names);
  const given = lookupQuery(options, source.name, [raw, name]);
  if (given !== undefined) return { name, query: given, target: { type, value } };

  const matchers = selectorMatchers(metric.selector);
  const ns = source.namespace ? [`namespace=${JSON.stringify(source.namespace)}`] : [];
  let query: string;
  if (m.type === 'Pods') {
    query = `sum(${raw}{${[...ns, `pod=~${JSON.stringify(podPattern(target.kind, target.name))}`, ...matchers].join(',')}})`;
  } else if (m.type === 'Object') {
    const d = obj(src.describedObject);
    const label = String(d.kind ?? 'object').toLowerCase();
    query = `${raw}{${[...ns, `${label}=${JSON.stringify(String(d.name ?? ''))}`, ...matchers].join(',')}}`;
  } else {
    query = `sum(${raw}{${matchers.join(',')}})`;
  }
  ctx.notes.push({
    level: 'todo',
    path,
    text:
      `${where} (${m.type} metric "${raw}") came from a metrics adapter; its PromQL is not in the HPA. This query is a guess ` +
      `from the metric's name and selector${m.type === 'Pods' ? ' (it must return the sum over the pods: the target is per pod)' : ''}. ` +
      `Replace it, or pass --query ${raw}=PROMQL.`,
  });
  return { name, query, target: { type, value } };
}
