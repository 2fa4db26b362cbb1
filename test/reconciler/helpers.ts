import { pino } from 'pino';
import { AddressPolicy, type PolicyObservations, type PolicyRef } from '../../src/collector/index.ts';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';
import { DiscoveryCache } from '../../src/kube/discovery.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';
import type { ObservationError } from '../../src/policy/types.ts';
import { PolicyReconciler, type ReconcilerDeps } from '../../src/reconciler/reconciler.ts';
import { policyManifest } from '../support/policies.ts';
import { FakeKube } from './fake-kube.ts';

export const PROM = 'http://prometheus.test:9090';
export const T0 = 1_700_000_000_000;

const validator = new PolicyValidator();

/** A ScalingPolicy with the CRD's defaults applied, as the API server stores it. */
export function policy(
  spec: Record<string, unknown> = {},
  name = 'checkout',
  namespace = 'shop',
): ScalingPolicy {
  const r = validator.validate(
    policyManifest(namespace, name, {
      maxReplicas: 20,
      pollingIntervalSeconds: 5,
      prometheus: { address: PROM },
      metrics: [
        {
          name: 'rps',
          query: 'sum(rate(http_requests_total[1m]))',
          target: { type: 'AverageValue', value: '50' },
        },
      ],
      ...spec,
    }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const p = r.policy;
  p.metadata = { ...p.metadata, uid: `uid-${namespace}-${name}`, generation: 1, resourceVersion: '1' };
  return p;
}

/** A collector whose answers the test sets; counts how often it was asked. */
export class FakeCollector {
  values: Record<string, number | ObservationError> = {};
  calls = 0;
  async observe(ref: PolicyRef): Promise<PolicyObservations> {
    this.calls++;
    return {
      insecureTLS: false,
      observations: ref.spec.metrics.map((m) => {
        const v = this.values[m.name];
        if (v === undefined)
          return { name: m.name, ok: false, error: { kind: 'empty', message: 'no series' } };
        return typeof v === 'number'
          ? { name: m.name, ok: true, value: v }
          : { name: m.name, ok: false, error: v };
      }),
    };
  }
}

export interface Harness {
  kube: FakeKube;
  collector: FakeCollector;
  clock: { t: number };
  reconciler: PolicyReconciler;
  metrics: ReturnType<typeof createOperatorMetrics>;
  allowed: { act: boolean };
  /** Runs one tick on the policy as the informer would see it, then moves the clock by `advanceMs`. */
  tick(advanceMs?: number): ReturnType<PolicyReconciler['reconcile']>;
  /** A fresh reconciler (an operator restart or a new leader) on the same cluster. */
  restart(): void;
}

export function harness(
  p: ScalingPolicy,
  replicas: number | undefined,
  extra: Partial<ReconcilerDeps> = {},
): Harness {
  const kube = new FakeKube(p);
  const target = p.spec.targetRef;
  const plural = target.kind === 'Widget' ? 'widgets' : 'deployments';
  if (replicas !== undefined) kube.replicas.set(`${p.metadata.namespace}/${plural}/${target.name}`, replicas);
  const collector = new FakeCollector();
  const clock = { t: T0 };
  const now = () => clock.t;
  const metrics = createOperatorMetrics();
  const allowed = { act: true };
  const make = () =>
    new PolicyReconciler({
      transport: kube.transport,
      discovery: new DiscoveryCache(kube.transport, { now }),
      collector,
      addressPolicy: new AddressPolicy([PROM]),
      events: new EventRecorder(kube.transport, { instance: 'test', now }),
      metrics,
      log: pino({ level: 'silent' }),
      mayAct: () => allowed.act,
      now,
      ...extra,
    });
  const h: Harness = {
    kube,
    collector,
    clock,
    metrics,
    allowed,
    reconciler: make(),
    async tick(advanceMs = 5000) {
      const r = await h.reconciler.reconcile(kube.informerCopy(), clock.t);
      clock.t += advanceMs;
      return r;
    },
    restart() {
      h.reconciler = make();
    },
  };
  return h;
}

export function replicasOf(h: Harness): number | undefined {
  const t = h.kube.policy!.spec.targetRef;
  const plural = t.kind === 'Widget' ? 'widgets' : 'deployments';
  return h.kube.replicas.get(`${h.kube.policy!.metadata.namespace}/${plural}/${t.name}`);
}
