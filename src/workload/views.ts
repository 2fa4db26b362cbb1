/**
 * Conversions from Kubernetes objects to what the simulator needs. Pure.
 */

import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { PROFILE_LABEL } from './profile.ts';
import type { DeploymentView, PodView } from './simulator.ts';

/** A Deployment the simulator drives, or undefined when it carries no profile label. */
export function deploymentView(d: V1Deployment): DeploymentView | undefined {
  const md = d.metadata;
  const profile = md?.labels?.[PROFILE_LABEL];
  if (!md?.name || !md.namespace || profile === undefined) return undefined;
  return {
    namespace: md.namespace,
    name: md.name,
    profile,
    annotations: { ...(md.annotations ?? {}) },
    selector: d.spec?.selector
      ? {
          matchLabels: d.spec.selector.matchLabels,
          matchExpressions: d.spec.selector.matchExpressions?.map((e) => ({
            key: e.key,
            operator: e.operator,
            values: e.values,
          })),
        }
      : undefined,
  };
}

/**
 * A pod receives traffic when its Ready condition is True and it is not
 * terminating: endpoints drop a pod as soon as its deletion starts.
 */
export function podView(p: V1Pod): PodView | undefined {
  const md = p.metadata;
  if (!md?.name || !md.namespace) return undefined;
  const ready =
    !md.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return { namespace: md.namespace, name: md.name, labels: { ...(md.labels ?? {}) }, ready };
}
