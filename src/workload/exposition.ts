/**
 * Exposes the simulator's accounts through a prom-client registry. The series are
 * rendered from the simulator's state at scrape time, so a pod or Deployment that
 * is gone from the state is gone from the exposition (its series go stale).
 */

import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import type { HistogramAccount } from './model.ts';
import type { DeploymentState, Simulator } from './simulator.ts';

type Labels = Record<string, string>;
type Value = { value: number; labels: Labels; metricName?: string };

/**
 * A metric whose samples are computed on each scrape. prom-client's Counter and
 * Histogram keep their own running values and offer no way to set a counter or
 * to add a weighted observation to a histogram, so the simulator keeps the
 * accounts (see model.ts) and this adapter only renders them. The registry needs
 * nothing but `name`, `help`, `type` and `get()` from a metric.
 */
class SnapshotMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  private readonly values: () => Value[];

  constructor(name: string, help: string, type: SnapshotMetric['type'], values: () => Value[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.values = values;
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }

  reset() {}
}

/** Formats a bucket bound the way Prometheus client libraries do (`le="0.005"`, `le="+Inf"`). */
export function formatLe(bound: number): string {
  return bound === Number.POSITIVE_INFINITY ? '+Inf' : String(bound);
}

function podLabels(d: DeploymentState, pod: string): Labels {
  return { namespace: d.namespace, deployment: d.name, pod };
}

function requestSeries(sim: Simulator): Value[] {
  const out: Value[] = [];
  for (const d of sim.deployments.values()) {
    for (const [pod, acc] of d.pods) out.push({ value: acc.requests, labels: podLabels(d, pod) });
  }
  return out;
}

function pushHistogram(
  out: Value[],
  name: string,
  bounds: readonly number[],
  h: HistogramAccount,
  labels: Labels,
): void {
  for (let i = 0; i < bounds.length; i++) {
    out.push({
      metricName: `${name}_bucket`,
      value: h.cumulative[i]!,
      labels: { ...labels, le: formatLe(bounds[i]!) },
    });
  }
  out.push({ metricName: `${name}_bucket`, value: h.count, labels: { ...labels, le: '+Inf' } });
  out.push({ metricName: `${name}_sum`, value: h.sum, labels });
  out.push({ metricName: `${name}_count`, value: h.count, labels });
}

function latencySeries(sim: Simulator): Value[] {
  const out: Value[] = [];
  for (const d of sim.deployments.values()) {
    for (const [pod, acc] of d.pods) {
      pushHistogram(out, 'http_request_duration_seconds', sim.buckets, acc.latency, podLabels(d, pod));
    }
  }
  return out;
}

function perDeployment(
  sim: Simulator,
  name: string,
  help: string,
  type: 'counter' | 'gauge',
  sample: (d: DeploymentState) => number,
): SnapshotMetric {
  return new SnapshotMetric(name, help, type, () =>
    [...sim.deployments.values()].map((d) => ({
      value: sample(d),
      labels: { namespace: d.namespace, deployment: d.name },
    })),
  );
}

function snapshotMetrics(sim: Simulator): SnapshotMetric[] {
  return [
    new SnapshotMetric(
      'http_requests_total',
      'Requests served by each ready pod of a simulated Deployment.',
      'counter',
      () => requestSeries(sim),
    ),
    new SnapshotMetric(
      'http_request_duration_seconds',
      'Latency of requests served by each pod, from an M/M/1-like queueing model of the pod.',
      'histogram',
      () => latencySeries(sim),
    ),
    perDeployment(
      sim,
      'tidemark_workload_offered_rps',
      'Request rate the load profile offers the Deployment now.',
      'gauge',
      (d) => d.offeredRps,
    ),
    perDeployment(
      sim,
      'tidemark_workload_ready_pods',
      'Ready pods of the Deployment sharing the offered load.',
      'gauge',
      (d) => d.readyPods,
    ),
    perDeployment(
      sim,
      'tidemark_workload_dropped_requests_total',
      'Requests offered while the Deployment had no ready pod.',
      'counter',
      (d) => d.dropped,
    ),
    perDeployment(
      sim,
      'tidemark_workload_capacity_rps',
      'Requests per second one pod serves at full utilisation (tidemark.dev/capacity-rps).',
      'gauge',
      (d) => d.model.capacityRps,
    ),
    perDeployment(
      sim,
      'tidemark_workload_profile_valid',
      '1 when the load profile and its annotations parse, 0 when they do not (no load is offered).',
      'gauge',
      (d) => (d.error === undefined ? 1 : 0),
    ),
  ];
}

export function buildRegistry(sim: Simulator, opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  // The registry's typings list only prom-client's own classes; it calls no more
  // than get() (see SnapshotMetric).
  for (const m of snapshotMetrics(sim)) registry.registerMetric(m as unknown as Metric);
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tidemark_workload_' });
  return registry;
}
