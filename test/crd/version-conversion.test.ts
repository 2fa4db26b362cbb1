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
  capacityKey,
  convertPolicy,
  HIDDEN_BOUNDS,
  V1ALPHA1,
  V1BETA1,
} from '../../src/crd/version-conversion.ts';
import { type Raw, schemaAt, validBetaPolicy, validPolicy } from '../fuzz/arbitraries.ts';

const tolerance = fc.double({ min: 0, max: 1, noNaN: true, noDefaultInfinity: true });

// TIDEMARK_FUZZ_RUNS=5000 (make test-fuzz) found a lossy round trip that 300 did not (issue 18).
const SEED = Number(process.env.TIDEMARK_FUZZ_SEED ?? 20261302);
const RUNS = Number(process.env.TIDEMARK_FUZZ_RUNS ?? 300);
const alphaSchema = new PolicyValidator(rootSchema(undefined, 'v1alpha1'));
const betaSchema = new PolicyValidator(rootSchema(undefined, 'v1beta1'));

/** Text under our key that is not ours: hand-written, or an older operator's (no `seen`). */
const FOREIGN_TEXT = ['{}', '{"fields":{}}', '{"fields":{"spec.behavior.scaleUp.tolerance":0.5}}', 'null'];
/** Text under our key that reads as ours: a beta object may carry it, and it must come back. */
const OURS_TEXT = [
  '{"fields":{"spec.behavior.scaleUp.tolerance":0.5},"seen":{}}',
  '{"fields":{"spec.metrics[a].target.capacity":"9"},"seen":{}}',
];

/** Annotations a user may have: none, others, or a value under our key written by someone else. */
function annotationsOf(texts: string[]) {
  return fc.option(
    fc.dictionary(
      fc.oneof(
        fc.constantFrom('team', 'example.com/owner', BETA_FIELDS_ANNOTATION),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...texts)),
      { minKeys: 1, maxKeys: 3, noNullPrototype: true },
    ),
    { nil: undefined },
  );
}

function withAnnotations(policy: Raw, extra: Record<string, string> | undefined): Raw {
  if (extra === undefined) return policy;
  return { ...policy, metadata: { ...(policy.metadata as Raw), annotations: extra } };
}

/** A schema-valid v1beta1 object, with the annotations a user may have. */
const betaPolicy: fc.Arbitrary<Raw> = fc
  .record({ policy: validBetaPolicy, annotations: annotationsOf([...FOREIGN_TEXT, ...OURS_TEXT]) })
  .map(({ policy, annotations }) => withAnnotations(policy, annotations));

/**
 * A schema-valid v1alpha1 object as a v1alpha1 client writes it back unchanged: written by
 * hand (any annotation not ours), or read from a v1beta1 object (carrying the annotation).
 */
const alphaPolicy: fc.Arbitrary<Raw> = fc.oneof(
  fc
    .record({ policy: validPolicy, annotations: annotationsOf(FOREIGN_TEXT) })
    .map(({ policy, annotations }) => withAnnotations(policy, annotations)),
  betaPolicy.map((b) => convertPolicy(b, V1ALPHA1)),
);

function assertValid(validator: PolicyValidator, obj: Raw): void {
  const r = validator.validate(obj);
  assert.ok(r.ok, `not valid: ${JSON.stringify(!r.ok && r.issues)}\n${JSON.stringify(obj)}`);
}

type Spec = {
  behavior?: { tolerance?: number; scaleUp?: Raw; scaleDown?: Raw };
  metrics: { name: string; target: Raw }[];
};
const specOf = (o: Raw) => o.spec as Spec;
const UP = 'spec.behavior.scaleUp.tolerance';
const DOWN = 'spec.behavior.scaleDown.tolerance';
const TOLERANCE = 'spec.behavior.tolerance';

/** The v1beta1-only fields of `obj`, by their annotation keys. */
function hiddenOf(obj: Raw): Record<string, unknown> {
  const spec = specOf(obj);
  const out: Record<string, unknown> = {};
  if (spec.behavior?.scaleUp && Object.hasOwn(spec.behavior.scaleUp, 'tolerance'))
    out[UP] = spec.behavior.scaleUp.tolerance;
  if (spec.behavior?.scaleDown && Object.hasOwn(spec.behavior.scaleDown, 'tolerance'))
    out[DOWN] = spec.behavior.scaleDown.tolerance;
  for (const m of spec.metrics)
    if (Object.hasOwn(m.target, 'capacity')) out[capacityKey(m.name)] = m.target.capacity;
  return out;
}

/** The annotation text betaToAlpha would write for these fields (canonical: tolerances, capacities by key, seen). */
function oursText(fields: Record<string, unknown>, seen: Record<string, unknown>): string {
  const ordered: Record<string, unknown> = {};
  for (const key of [
    UP,
    DOWN,
    ...Object.keys(fields)
      .filter((k) => k.startsWith('spec.metrics'))
      .sort(),
  ]) {
    if (Object.hasOwn(fields, key)) ordered[key] = fields[key];
  }
  const tolerances = Object.hasOwn(ordered, UP) || Object.hasOwn(ordered, DOWN);
  return JSON.stringify({ fields: ordered, seen: tolerances ? seen : {} });
}

const badTolerance = fc.constantFrom(-0.5, 1.5, 5, '0.1', null, true, {});
const badCapacity = fc.constantFrom(0, -3, 1.5, 'abc', '1e3', null, `${'9'.repeat(40)}`, '0');
const goodCapacity = fc.constantFrom('1', '80', 80, '0.5', 1_000_000_000, '1000000000.5');

/**
 * A valid v1alpha1 object whose annotation reads as ours but says anything: hidden values in
 * and out of v1beta1's bounds, capacities for metrics that are gone or below the value, a
 * `seen` tolerance that matches the object or not.
 */
const craftedAlpha = fc
  .record({
    policy: validPolicy,
    up: fc.option(fc.oneof(tolerance, badTolerance), { nil: undefined }),
    down: fc.option(fc.oneof(tolerance, badTolerance), { nil: undefined }),
    capacities: fc.array(
      fc.tuple(fc.oneof(fc.nat(15), fc.constant(-1)), fc.oneof(goodCapacity, badCapacity)),
      { maxLength: 4 },
    ),
    seen: fc.oneof(fc.constant('object' as const), fc.constant('none' as const), tolerance),
  })
  .map(({ policy, up, down, capacities, seen }) => {
    const spec = specOf(policy);
    const fields: Record<string, unknown> = {};
    if (up !== undefined) fields[UP] = up;
    if (down !== undefined) fields[DOWN] = down;
    for (const [i, value] of capacities) {
      fields[capacityKey(i >= 0 && i < spec.metrics.length ? spec.metrics[i]!.name : 'ghost')] = value;
    }
    const own = spec.behavior?.tolerance;
    const seenField =
      seen === 'none'
        ? {}
        : seen === 'object'
          ? own === undefined
            ? {}
            : { [TOLERANCE]: own }
          : { [TOLERANCE]: seen };
    return withAnnotations(policy, { [BETA_FIELDS_ANNOTATION]: oursText(fields, seenField) });
  })
  .filter((a) => Object.keys(JSON.parse(annotationOf(a)!).fields).length > 0);

function annotationOf(obj: Raw): string | undefined {
  return (obj.metadata as { annotations?: Record<string, string> }).annotations?.[BETA_FIELDS_ANNOTATION];
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
        seen: { 'spec.behavior.tolerance': 0.1 },
      },
    );
    const plain = convertPolicy({ ...beta, spec: { behavior: { tolerance: 0.2 } } }, V1ALPHA1);
    assert.deepEqual(plain.metadata, { name: 'web' });
  });

  it('a valid v1alpha1 object converts to a valid v1beta1 object whatever the annotation says; each hidden value is restored as carried or dropped with a reason', () => {
    fc.assert(
      fc.property(craftedAlpha, (alpha) => {
        assertValid(alphaSchema, alpha);
        const carried = JSON.parse(annotationOf(alpha)!).fields as Record<string, unknown>;
        const dropped: string[] = [];
        const beta = convertPolicy(alpha, V1BETA1, dropped);
        assertValid(betaSchema, beta);
        assert.equal(annotationOf(beta), undefined, 'our annotation is consumed');
        const restored = hiddenOf(beta);
        for (const key of Object.keys(restored))
          assert.deepEqual(restored[key], carried[key], `${key} as carried`);
        for (const key of Object.keys(carried)) {
          const reasons = dropped.filter((d) => d.startsWith(key) || d.includes(` and ${key} dropped`));
          assert.equal(
            Object.hasOwn(restored, key) ? 0 : 1,
            reasons.length,
            `${key}: restored, or dropped with one reason: ${JSON.stringify(dropped)}`,
          );
        }
        assert.equal(dropped.length, dropped.filter((d) => / dropped: \S/.test(d)).length);
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
  });

  it('a behavior.tolerance changed through v1alpha1 wins over the per-direction tolerances, and nothing else changes', () => {
    const withTolerances = validBetaPolicy.filter((b) => UP in hiddenOf(b) || DOWN in hiddenOf(b));
    fc.assert(
      fc.property(withTolerances, tolerance, (beta, raised) => {
        fc.pre(raised !== specOf(beta).behavior?.tolerance);
        const alpha = convertPolicy(beta, V1ALPHA1);
        specOf(alpha).behavior!.tolerance = raised;
        const dropped: string[] = [];
        const back = convertPolicy(alpha, V1BETA1, dropped);
        const expected = structuredClone(beta);
        const behavior = specOf(expected).behavior!;
        behavior.tolerance = raised;
        delete behavior.scaleUp?.tolerance;
        delete behavior.scaleDown?.tolerance;
        assert.deepEqual(back, expected);
        assert.equal(dropped.length, 1);
        assert.match(
          dropped[0]!,
          /spec\.behavior\.tolerance was changed through v1alpha1 .* now applies to both directions/,
        );
      }),
      { seed: SEED + 3, numRuns: RUNS },
    );
  });

  it('an old client raising behavior.tolerance to 0.3 is not overridden by a hidden 0.02 (issue 18)', () => {
    const beta = {
      apiVersion: V1BETA1,
      kind: 'ScalingPolicy',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { behavior: { tolerance: 0.1, scaleUp: { tolerance: 0.02 }, scaleDown: { tolerance: 0.02 } } },
    };
    const alpha = convertPolicy(beta, V1ALPHA1);
    specOf(alpha).behavior!.tolerance = 0.3;
    const dropped: string[] = [];
    assert.deepEqual(convertPolicy(alpha, V1BETA1, dropped).spec, {
      behavior: { tolerance: 0.3, scaleUp: {}, scaleDown: {} },
    });
    assert.deepEqual(dropped, [
      'spec.behavior.scaleUp.tolerance and spec.behavior.scaleDown.tolerance dropped: spec.behavior.tolerance was changed through v1alpha1 (0.1 → 0.3), and now applies to both directions',
    ]);
  });

  it("drops hidden values outside v1beta1's bounds, saying which and why (issue 18)", () => {
    const alpha = {
      apiVersion: V1ALPHA1,
      kind: 'ScalingPolicy',
      metadata: {
        name: 'web',
        annotations: {
          [BETA_FIELDS_ANNOTATION]: oursText(
            { [UP]: 5, [DOWN]: 0.05, [capacityKey('rps')]: '1e3', [capacityKey('gone')]: '80' },
            { [TOLERANCE]: 0.1 },
          ),
        },
      },
      spec: {
        behavior: { tolerance: 0.1, scaleUp: {}, scaleDown: {} },
        metrics: [{ name: 'rps', query: 'q', target: { type: 'AverageValue', value: '50' } }],
      },
    };
    const dropped: string[] = [];
    const beta = convertPolicy(alpha, V1BETA1, dropped);
    assert.deepEqual(specOf(beta).behavior, { tolerance: 0.1, scaleUp: {}, scaleDown: { tolerance: 0.05 } });
    assert.deepEqual(specOf(beta).metrics[0]!.target, { type: 'AverageValue', value: '50' });
    assert.deepEqual(dropped, [
      'spec.behavior.scaleUp.tolerance dropped: 5 is not a number from 0 to 1',
      'spec.metrics[gone].target.capacity dropped: there is no metric named gone',
      'spec.metrics[rps].target.capacity dropped: "1e3" is not a positive decimal such as "80" or "0.8"',
    ]);
  });

  it('drops a capacity a v1alpha1 write made invalid, and keeps one it left valid', () => {
    const beta = {
      apiVersion: V1BETA1,
      kind: 'ScalingPolicy',
      metadata: { name: 'web' },
      spec: {
        metrics: [
          { name: 'a', query: 'q', target: { type: 'AverageValue', value: '50', capacity: '80' } },
          { name: 'b', query: 'q', target: { type: 'AverageValue', value: 5, capacity: 8 } },
          { name: 'c', query: 'q', target: { type: 'AverageValue', value: '1', capacity: '2' } },
        ],
      },
    };
    const alpha = convertPolicy(beta, V1ALPHA1);
    const [a, b, c] = specOf(alpha).metrics;
    a!.target.value = '60';
    b!.target.value = 9;
    c!.target.type = 'Value';
    const dropped: string[] = [];
    const back = convertPolicy(alpha, V1BETA1, dropped);
    assert.deepEqual(
      specOf(back).metrics.map((m) => m.target.capacity),
      ['80', undefined, undefined],
    );
    assert.deepEqual(dropped, [
      'spec.metrics[b].target.capacity dropped: 8 is below target.value 9',
      'spec.metrics[c].target.capacity dropped: the metric\'s target type is "Value", and a capacity applies to AverageValue only',
    ]);
  });

  it('a v1alpha1 object with an annotation not ours and no scaleUp comes back exactly (issue 18, fuzz run 342)', () => {
    const alpha = {
      apiVersion: V1ALPHA1,
      kind: 'ScalingPolicy',
      metadata: {
        name: 'fuzz',
        annotations: { [BETA_FIELDS_ANNOTATION]: '{"fields":{"spec.behavior.scaleUp.tolerance":0.5}}' },
      },
      spec: {
        maxReplicas: 1,
        metrics: [{ name: 'a', query: ' ', target: { type: 'AverageValue', value: 1 } }],
      },
    };
    const beta = convertPolicy(alpha, V1BETA1);
    assert.deepEqual(beta.spec, alpha.spec);
    assert.deepEqual(convertPolicy(beta, V1ALPHA1), alpha);
  });

  it('drops a per-direction tolerance whose block a v1alpha1 write removed, instead of making the block up', () => {
    const beta = {
      apiVersion: V1BETA1,
      kind: 'ScalingPolicy',
      metadata: { name: 'web' },
      spec: { behavior: { scaleUp: { tolerance: 0.5 } } },
    };
    const alpha = convertPolicy(beta, V1ALPHA1);
    delete specOf(alpha).behavior!.scaleUp;
    const dropped: string[] = [];
    assert.deepEqual(convertPolicy(alpha, V1BETA1, dropped).spec, { behavior: {} });
    assert.deepEqual(dropped, [
      'spec.behavior.scaleUp.tolerance dropped: spec.behavior.scaleUp was removed through v1alpha1',
    ]);
  });

  it("checks hidden values against v1beta1's own bounds (HIDDEN_BOUNDS is the CRD's)", () => {
    const beta = rootSchema(undefined, 'v1beta1');
    const at = (path: string) => schemaAt(path, beta) ?? assert.fail(`no ${path} in v1beta1`);
    for (const dir of ['scaleUp', 'scaleDown']) {
      const node = at(`spec.behavior.${dir}.tolerance`);
      assert.deepEqual({ minimum: node.minimum, maximum: node.maximum }, { ...HIDDEN_BOUNDS.tolerance });
    }
    const capacity = at('spec.metrics[].target.capacity');
    assert.deepEqual(
      { minimum: capacity.minimum, maxLength: capacity.maxLength, pattern: capacity.pattern },
      { ...HIDDEN_BOUNDS.capacity },
    );
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
