// A ScalingPolicy spec through the CRD's own validation and defaults, for the simulator's
// callers that build a policy in code (the benchmark, tests): the same checks as
// `tidemark validate`, with a default target and Prometheus address a simulation never calls.
import { PolicyValidator } from '../crd/validate.ts';
import type { PolicySpec } from '../policy/types.ts';
import { SimulationInputError } from './trace.ts';

let validator: PolicyValidator | undefined;

/** `spec` overrides the basics (target Deployment web, min 1, a placeholder Prometheus). */
export function validatedPolicySpec(spec: Record<string, unknown>, name = 'sim'): PolicySpec {
  validator ??= new PolicyValidator();
  const result = validator.validate({
    // The storage version: a subset of it is v1alpha1, and its own fields (scaleToZeroDelaySeconds) reach the engine.
    apiVersion: 'tidemark.dev/v1beta1',
    kind: 'ScalingPolicy',
    metadata: { name, namespace: 'sim' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      prometheus: { address: 'http://prometheus:9090' },
      ...spec,
    },
  });
  if (!result.ok) throw new SimulationInputError(`invalid policy: ${JSON.stringify(result.issues)}`);
  return result.policy.spec as PolicySpec;
}
