// What `kubectl explain scalingpolicy.spec.behavior` and a rejected apply show (issue 18,
// polish): every behavior field has a description in both served versions, and an invalid
// target value is explained in words, not only by a regular expression.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rootSchema, type SchemaNode } from '../../src/crd/schema.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';
import { schemaAt } from '../fuzz/arbitraries.ts';

/** Paths under `path` (itself included) whose node has no description, as kubectl explain walks them. */
function undescribed(node: SchemaNode, path: string): string[] {
  const out = typeof node.description === 'string' && node.description.trim() !== '' ? [] : [path];
  for (const [key, child] of Object.entries(node.properties ?? {}))
    out.push(...undescribed(child, `${path}.${key}`));
  if (node.items) out.push(...undescribed(node.items, `${path}[]`));
  return out;
}

for (const version of ['v1alpha1', 'v1beta1']) {
  describe(`ScalingPolicy ${version} for a person`, () => {
    const root = rootSchema(undefined, version);

    it('describes every field of spec.behavior', () => {
      const behavior = schemaAt('spec.behavior', root) ?? assert.fail('no spec.behavior');
      assert.deepEqual(undescribed(behavior, 'spec.behavior'), []);
    });

    it('explains an invalid target value in words', () => {
      const validator = new PolicyValidator(root);
      for (const value of ['abc', '1e3', '-1', '0', '0.0', '']) {
        const r = validator.validate({
          apiVersion: `tidemark.dev/${version}`,
          kind: 'ScalingPolicy',
          metadata: { name: 'p' },
          spec: {
            targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
            maxReplicas: 3,
            prometheus: { address: 'http://prometheus:9090' },
            metrics: [{ name: 'rps', query: 'q', target: { type: 'AverageValue', value } }],
          },
        });
        assert.ok(!r.ok, `${JSON.stringify(value)} must be rejected`);
        assert.ok(
          r.issues.some(
            (i) =>
              i.path === 'spec.metrics[0].target.value' &&
              i.message === 'Invalid value: target.value must be a positive decimal such as "50" or "0.5"',
          ),
          `${JSON.stringify(value)}: ${JSON.stringify(r.issues)}`,
        );
      }
    });
  });
}
