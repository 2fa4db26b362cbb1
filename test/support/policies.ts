// The ScalingPolicy manifest that unit, e2e and fault tests start from: a
// Deployment of the policy's own name as the target, at least one replica,
// then the test's own spec on top.
export function policyManifest(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Record<string, unknown> & { spec: Record<string, unknown> } {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'ScalingPolicy',
    metadata: { name, namespace },
    spec: { targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: 1, ...spec },
  };
}
