import { PolicyValidator } from '../../src/crd/validate.ts';
import type { PolicySpec } from '../../src/policy/types.ts';

/** A validated spec with the CRD's defaults applied; `spec` overrides the basics. */
let validator: PolicyValidator | undefined;

export function policySpec(spec: Record<string, unknown> = {}): PolicySpec {
  validator ??= new PolicyValidator();
  const result = validator.validate({
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'ScalingPolicy',
    metadata: { name: 'sim', namespace: 'test' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 50,
      pollingIntervalSeconds: 15,
      prometheus: { address: 'http://prometheus:9090' },
      metrics: [
        { name: 'requests', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '14' } },
      ],
      ...spec,
    },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.policy.spec as PolicySpec;
}

export function trace(...requests: number[]) {
  return { requests: Float64Array.from(requests), firstMinute: 0 };
}
