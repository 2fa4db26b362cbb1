import type { PolicySpec } from '../../src/policy/types.ts';
import { validatedPolicySpec } from '../../src/simulate/policy.ts';

/** A validated spec with the CRD's defaults applied; `spec` overrides the basics. */
export function policySpec(spec: Record<string, unknown> = {}): PolicySpec {
  return validatedPolicySpec({
    maxReplicas: 50,
    pollingIntervalSeconds: 15,
    metrics: [{ name: 'requests', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '14' } }],
    ...spec,
  });
}

export function trace(...requests: number[]) {
  return { requests: Float64Array.from(requests), firstMinute: 0 };
}
