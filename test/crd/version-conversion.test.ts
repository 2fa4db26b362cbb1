// ScalingPolicy conversion (issue 13, item 2): alpha → beta → alpha and beta → alpha → beta
// give back the original, fuzzed from schema-valid objects of each version, and every
// converted object is valid in the version it was converted to. fast-check prints the seed
// and the shrunk counterexample on failure; the seed is fixed so a failure reproduces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rootSchema } from '../../src/crd/schema.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';
import {
  BETA_FIELDS_ANNOTATION,
  ConversionError,
  convertPolicy,
  V1ALPHA1,
  V1BETA1,
} from '../../src/crd/version-conversion.ts';
import { type Raw, validBetaPolicy, validPolicy } from '../fuzz/arbitraries.ts';

const SEED = 20261302;
const RUNS = Number(process.env.TIDEMARK_FUZZ_RUNS ?? 300);
const alphaSchema = new PolicyValidator(rootSchema(undefined, 'v1alpha1'));
const betaSchema = new PolicyValidator(rootSchema(undefined, 'v1beta1'));

/** Annotations a user may have: none, others, or a value under our key that is not ours (hand-written). */
const annotations = fc.option(
  fc.dictionary(
    fc.oneof(
      fc.constantFrom('team', 'example.com/owner', BETA_FIELDS_ANNOTATION),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('{}', '{"fields":{}}', '{"fields":{"spec.behavior.scaleUp.tolerance":0.5}}', 'null'),
    ),
    { minKeys: 1, maxKeys: 3, noNullPrototype: true },
  ),
  { nil: undefined },
);

function withAnnotations(policy: Raw, extra: Record<string, string> | undefined): Raw {
  if (extra === undefined) return policy;
  return { ...policy, metadata: { ...(policy.metadata as Raw), annotations: extra } };
}

/** A schema-valid v1beta1 object, with the annotations a user may have. */
const betaPolicy: fc.Arbitrary<Raw> = fc
  .record({ policy: validBetaPolicy, annotations })
  .map(({ policy, annotations }) => withAnnotations(policy, annotations));

/** A schema-valid v1alpha1 object: written by hand, or written back by a v1alpha1 client (carrying the annotation). */
const alphaPolicy: fc.Arbitrary<Raw> = fc.oneof(
  fc
    .record({ policy: validPolicy, annotations })
    .map(({ policy, annotations }) => withAnnotations(policy, annotations)),
  betaPolicy.map((b) => convertPolicy(b, V1ALPHA1)),
);

function assertValid(validator: PolicyValidator, obj: Raw): void {
  const r = validator.validate(obj);
  assert.ok(r.ok, `not valid: ${JSON.stringify(!r.ok && r.issues)}\n${JSON.stringify(obj)}`);
}

describe('ScalingPolicy conversion', () => {
  it('alpha → beta → alpha gives the original, and each step is valid in its version', () => {
    fc.assert(
      fc.property(alphaPolicy, (alpha) => {
        assertValid(alphaSchema, alpha);
        const before = structuredClone(alpha);
        const beta = convertPolicy(alpha, V1BETA1);
        assert.deepEqual(alpha, before, 'the input is left alone');
        assert.equal(beta.apiVersion, V1BETA1);
        assertValid(betaSchema, beta);
        assert.deepEqual(convertPolicy(beta, V1ALPHA1), alpha);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('beta → alpha → beta gives the original, and each step is valid in its version', () => {
    fc.assert(
      fc.property(betaPolicy, (beta) => {
        assertValid(betaSchema, beta);
        const alpha = convertPolicy(beta, V1ALPHA1);
        assert.equal(alpha.apiVersion, V1ALPHA1);
        assertValid(alphaSchema, alpha);
        assert.deepEqual(convertPolicy(alpha, V1BETA1), beta);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });

  it('keeps per-direction tolerances in the annotation on the way down, and nothing when there are none', () => {
    const beta = {
      apiVersion: V1BETA1,
      kind: 'ScalingPolicy',
      metadata: { name: 'web' },
      spec: { behavior: { tolerance: 0.1, scaleUp: { tolerance: 0 }, scaleDown: { tolerance: 0.05 } } },
    };
    const alpha = convertPolicy(beta, V1ALPHA1);
    assert.deepEqual(alpha.spec, { behavior: { tolerance: 0.1, scaleUp: {}, scaleDown: {} } });
    assert.deepEqual(
      JSON.parse(
        (alpha.metadata as { annotations: Record<string, string> }).annotations[BETA_FIELDS_ANNOTATION]!,
      ),
      {
        fields: { 'spec.behavior.scaleUp.tolerance': 0, 'spec.behavior.scaleDown.tolerance': 0.05 },
      },
    );
    const plain = convertPolicy({ ...beta, spec: { behavior: { tolerance: 0.2 } } }, V1ALPHA1);
    assert.deepEqual(plain.metadata, { name: 'web' });
  });

  it('converts to the same version as a copy, and refuses unknown versions', () => {
    const obj = { apiVersion: V1BETA1, kind: 'ScalingPolicy', spec: {} };
    const same = convertPolicy(obj, V1BETA1);
    assert.deepEqual(same, obj);
    assert.notEqual(same, obj);
    assert.throws(() => convertPolicy({ ...obj, apiVersion: 'tidemark.dev/v2' }, V1BETA1), ConversionError);
    assert.throws(() => convertPolicy(obj, 'tidemark.dev/v2'), ConversionError);
    assert.throws(() => convertPolicy([], V1BETA1), ConversionError);
  });
});
