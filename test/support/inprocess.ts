// A PolicyReconciler in the test process against the real sandbox (its API
// server, its Prometheus), for the fault tests that must act between two of the
// reconciler's requests: the transport calls a hook before each write, where the
// test makes a real write of its own (kubectl scale, a status patch). Nothing is
// faked: the hook only decides when the other writer's request happens.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { AddressPolicy, Collector } from '../../src/collector/index.ts';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { httpTransport, type KubeRequest, type KubeTransport } from '../../src/kube/api-client.ts';
import { DiscoveryCache } from '../../src/kube/discovery.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';
import { PolicyReconciler } from '../../src/reconciler/reconciler.ts';
import { getPolicy } from '../e2e/support.ts';
import { sandboxEnv } from './sandbox.ts';

export interface InProcess {
  reconciler: PolicyReconciler;
  /** Runs once before the next write whose path matches, then is cleared. */
  beforeWrite(path: RegExp, fn: (req: KubeRequest) => Promise<void>): void;
  /** The writes the reconciler sent, in order: "METHOD path". */
  writes: string[];
  /** One tick on the policy as the API server has it now. */
  tick(namespace: string, name: string): ReturnType<PolicyReconciler['reconcile']>;
}

export function inProcessReconciler(identity: string): InProcess {
  const kc = new KubeConfig();
  kc.loadFromFile(sandboxEnv().kubeconfig);
  const real = httpTransport(kc);
  const hooks: Array<{ path: RegExp; fn: (req: KubeRequest) => Promise<void> }> = [];
  const writes: string[] = [];
  const transport: KubeTransport = async (req) => {
    if (req.method !== 'GET') {
      writes.push(`${req.method} ${req.path}`);
      const i = hooks.findIndex((h) => h.path.test(req.path));
      if (i >= 0) await hooks.splice(i, 1)[0]!.fn(req);
    }
    return real(req);
  };
  const addressPolicy = new AddressPolicy([sandboxEnv().prometheusUrl]);
  const log = pino({ level: 'silent' });
  const reconciler = new PolicyReconciler({
    transport,
    discovery: new DiscoveryCache(transport),
    collector: new Collector({ addressPolicy }),
    addressPolicy,
    events: new EventRecorder(transport, { instance: identity, log }),
    metrics: createOperatorMetrics(),
    log,
    mayAct: () => true,
  });
  return {
    reconciler,
    writes,
    beforeWrite: (path, fn) => hooks.push({ path, fn }),
    async tick(namespace, name) {
      const p = (await getPolicy(namespace, name)) as ScalingPolicy;
      return reconciler.reconcile(p);
    },
  };
}
