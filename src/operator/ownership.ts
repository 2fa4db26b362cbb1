// One owner per target (docs/architecture.md): the oldest ScalingPolicy that names
// a target owns it, and no ScalingPolicy acts on a target an HPA scales (KEDA's
// ScaledObjects work through an HPA of their own, so they are found the same
// way). Pure: the operator hands in what its informers hold.

import type { ScalingPolicy } from '../crd/types.generated.ts';

/** A scaleTargetRef / targetRef. */
export interface TargetRef {
  apiVersion: string;
  kind: string;
  name: string;
}

export interface PolicyClaim {
  namespace: string;
  name: string;
  uid: string;
  creationTimestamp?: string;
  target: TargetRef;
}

/** What the rule reads of a policy: all of it is in a stub (policy-store.ts) too. */
export function claimOf(p: ScalingPolicy): PolicyClaim {
  return {
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name ?? '',
    uid: p.metadata.uid ?? '',
    ...(p.metadata.creationTimestamp ? { creationTimestamp: String(p.metadata.creationTimestamp) } : {}),
    target: p.spec.targetRef,
  };
}

/** The part of an autoscaling/v2 HorizontalPodAutoscaler that names its target. */
export interface HpaLike {
  metadata: { namespace?: string; name?: string; labels?: Record<string, string> };
  spec?: { scaleTargetRef?: TargetRef };
}

/** Namespace, API group (not version: apps/v1 and apps/v1beta2 name the same object), kind and name. */
export function targetKey(namespace: string, t: TargetRef): string {
  const group = t.apiVersion.includes('/') ? t.apiVersion.split('/')[0] : '';
  return `${namespace}/${group}/${t.kind}/${t.name}`;
}

function describeHpa(h: HpaLike): string {
  const so = h.metadata.labels?.['scaledobject.keda.sh/name'];
  const name = `HorizontalPodAutoscaler ${h.metadata.namespace}/${h.metadata.name}`;
  return so ? `${name} (of KEDA ScaledObject ${so})` : name;
}

/** Older first: creationTimestamp, then name (as the tie-break), then uid. */
function older(a: PolicyClaim, b: PolicyClaim): number {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : 0;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : 0;
  if (ta !== tb) return ta - tb;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0;
}

/**
 * Who else scales this policy's target, when it is not this policy's to scale:
 * an HPA on it (always first), else an older policy on it; undefined when this
 * policy is the owner.
 */
export function otherOwner(
  me: PolicyClaim,
  policies: Iterable<PolicyClaim>,
  hpas: Iterable<HpaLike>,
): string | undefined {
  const key = targetKey(me.namespace, me.target);
  for (const h of hpas) {
    const ref = h.spec?.scaleTargetRef;
    if (ref && targetKey(h.metadata.namespace ?? '', ref) === key) return describeHpa(h);
  }
  let owner: PolicyClaim = me;
  for (const p of policies) {
    if (p.uid === me.uid || targetKey(p.namespace, p.target) !== key) continue;
    if (older(p, owner) < 0) owner = p;
  }
  return owner === me ? undefined : `ScalingPolicy ${owner.namespace}/${owner.name}`;
}
