// CPU and memory metrics (an HPA's Resource/ContainerResource metric, a KEDA cpu/memory
// trigger) come from the metrics API, not Prometheus. The closest Prometheus reading is cAdvisor's
// usage over kube-state-metrics' requests: suggested here, always as a TODO for a person to check.
import { ConvertError, type Note, type PolicyMetric, podPattern } from './common.ts';
import { isPositiveDecimal, quantityToDecimal } from './quantity.ts';

export interface ResourceMetric {
  resource: string;
  container?: string;
  target: { type: string; averageUtilization?: unknown; averageValue?: unknown };
  /** The workload, to select its pods. */
  kind: string;
  name: string;
  namespace?: string;
  /** What the source called it, for the note. */
  described: string;
}

const USAGE: Record<string, (sel: string) => string> = {
  cpu: (sel) => `sum(rate(container_cpu_usage_seconds_total{${sel}}[2m]))`,
  memory: (sel) => `sum(container_memory_working_set_bytes{${sel}})`,
};

/**
 * Utilization X % becomes a `Value` target of X on 100 × usage / requests (the HPA's ratio times
 * its ready pods is exactly Tidemark's Value arithmetic); AverageValue becomes the total usage
 * against the same per-replica value in cores or bytes. `query`, when given, replaces the suggestion.
 */
export function resourceMetric(
  r: ResourceMetric,
  name: string,
  query: string | undefined,
  notes: Note[],
  path: (string | number)[],
): PolicyMetric {
  const usage = USAGE[r.resource];
  if (!usage) {
    throw new ConvertError(
      `${r.described}: resource "${r.resource}" has no Prometheus equivalent (only cpu and memory)`,
    );
  }
  const base = [
    ...(r.namespace ? [`namespace=${JSON.stringify(r.namespace)}`] : []),
    `pod=~${JSON.stringify(podPattern(r.kind, r.name))}`,
    ...(r.container ? [`container=${JSON.stringify(r.container)}`] : []),
  ];
  const usageSel = [...base, ...(r.container ? [] : ['container!=""', 'container!="POD"'])].join(',');
  const requests = `sum(kube_pod_container_resource_requests{${[...base, `resource="${r.resource}"`].join(',')}})`;
  let metric: PolicyMetric;
  if (r.target.type === 'Utilization') {
    const pct = quantityToDecimal(r.target.averageUtilization);
    if (pct === undefined || !isPositiveDecimal(pct)) {
      throw new ConvertError(`${r.described}: averageUtilization must be a positive number`);
    }
    metric = {
      name,
      query: query ?? `100 * ${usage(usageSel)} / ${requests}`,
      target: { type: 'Value', value: pct },
    };
  } else if (r.target.type === 'AverageValue') {
    const v = quantityToDecimal(r.target.averageValue);
    if (v === undefined || !isPositiveDecimal(v)) {
      throw new ConvertError(`${r.described}: averageValue must be a positive quantity`);
    }
    metric = { name, query: query ?? usage(usageSel), target: { type: 'AverageValue', value: v } };
  } else {
    throw new ConvertError(
      `${r.described}: target type "${r.target.type}" is not Utilization or AverageValue`,
    );
  }
  if (query !== undefined) {
    notes.push({
      level: 'note',
      path,
      text: `${r.described} uses the --query given for "${name}"; it must return ${r.target.type === 'Utilization' ? 'the utilisation in percent of the requests, over all the pods' : `the total ${r.resource} usage of all the pods`}.`,
    });
  } else {
    notes.push({
      level: 'todo',
      path,
      text:
        `${r.described} is read from the metrics API, which Prometheus does not have. This query is a suggestion: ` +
        `${r.target.type === 'Utilization' ? 'usage over requests in percent, ' : 'total usage, '}from cAdvisor and kube-state-metrics, ` +
        `for pods named like "${podPattern(r.kind, r.name)}"${r.namespace ? '' : ' (add a namespace matcher)'}. ` +
        `Check that both are scraped and the pattern matches only this workload's pods, or pass --query ${name}=PROMQL.`,
    });
  }
  return metric;
}
