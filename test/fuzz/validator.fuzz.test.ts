// Bad input (issue 7, item 2): ScalingPolicy objects fuzzed through the CRD validator.
// Each test is named after the fault it injects. Every property checks that validate()
// never throws, that a rejection lists issues with a non-empty message at a path the
// schema has (or at the unknown field itself), and that the input is left untouched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { parse } from 'yaml';
import { PolicyValidator, type ValidationResult } from '../../src/crd/validate.ts';
import {
  FUZZ_SEED,
  garbageKey,
  garbageValue,
  HOSTILE_KEYS,
  type Raw,
  ROOT,
  schemaAt,
  splitPath,
  validPolicy,
} from './arbitraries.ts';

// TIDEMARK_FUZZ_RUNS raises the count for a longer hunt (make test-fuzz); the default keeps `make test` fast.
const RUNS = Number(process.env.TIDEMARK_FUZZ_RUNS ?? 250);
fc.configureGlobal({ seed: FUZZ_SEED });
const validator = new PolicyValidator();

type Seg = string | number;

function pathOf(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) out = typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${s}` : s;
  return out;
}

/** Every field of a policy, objects and arrays included (the root excluded), as segment lists. */
function fieldsOf(value: unknown, prefix: Seg[] = []): Seg[][] {
  const out: Seg[][] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i], ...fieldsOf(v, [...prefix, i]));
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...fieldsOf(v, [...prefix, k]));
  }
  return out;
}

/** The container holding the last segment, creating empty objects on the way when asked. */
function parentOf(root: Raw, segs: readonly Seg[], create = false): Record<Seg, unknown> {
  let node = root as Record<Seg, unknown>;
  for (const s of segs.slice(0, -1)) {
    if (node[s] === undefined && create) node[s] = {};
    node = node[s] as Record<Seg, unknown>;
  }
  return node;
}

function set(root: Raw, segs: readonly Seg[], value: unknown): void {
  const parent = parentOf(root, segs, true);
  // defineProperty, so a '__proto__' key becomes an own field as JSON.parse and YAML make it.
  Object.defineProperty(parent, segs[segs.length - 1] as Seg, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function get(root: Raw, segs: readonly Seg[]): unknown {
  return parentOf(root, segs)[segs[segs.length - 1] as Seg];
}

/** An unknown-field issue names the field: its parent is a schema object, and the key is not one of its properties. */
function isUnknownFieldPath(path: string): boolean {
  const candidates = [-1];
  for (let i = path.indexOf('.'); i >= 0; i = path.indexOf('.', i + 1)) candidates.push(i);
  return candidates.some((i) => {
    const parent = i < 0 ? ROOT : schemaAt(path.slice(0, i));
    const key = path.slice(i + 1);
    return parent?.properties !== undefined && !Object.hasOwn(parent.properties, key);
  });
}

/** Runs the validator and checks what every result must satisfy, whatever the input. */
function validate(input: unknown): ValidationResult {
  const before = structuredClone(input);
  let result: ValidationResult;
  try {
    result = validator.validate(input);
  } catch (err) {
    assert.fail(`validate threw: ${(err as Error).stack}`);
  }
  // Compared as clones: structuredClone gives null-prototype objects Object.prototype.
  assert.ok(isDeepStrictEqual(structuredClone(input), before), 'validate modified its input');
  if (result.ok) {
    assert.equal(typeof result.policy.spec, 'object');
    return result;
  }
  assert.ok(result.issues.length > 0, 'a rejection without issues');
  for (const issue of result.issues) {
    assert.equal(typeof issue.message, 'string');
    assert.ok(issue.message.trim().length > 0, `empty message at ${issue.path}`);
    assert.equal(typeof issue.path, 'string');
    if (issue.path === '') continue; // the object itself
    if (issue.message.startsWith('unknown field')) {
      assert.ok(isUnknownFieldPath(issue.path), `unknown field ${issue.path} is a schema field`);
      assert.equal(issue.message, `unknown field "${issue.path}"`);
    } else {
      assert.ok(
        schemaAt(issue.path) !== undefined,
        `issue at ${issue.path}, not a schema field: ${issue.message}`,
      );
    }
  }
  assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false, 'Object.prototype was polluted');
  return result;
}

function issuesAt(r: ValidationResult, path: string): string[] {
  return r.ok ? [] : r.issues.filter((i) => i.path === path).map((i) => i.message);
}

const show = (r: ValidationResult) => JSON.stringify(r.ok ? 'accepted' : r.issues);

/** A valid policy and one of its fields, picked at random. */
const policyAndField = validPolicy.chain((p) => {
  const fields = fieldsOf(p);
  return fc.record({ policy: fc.constant(p), field: fc.constantFrom(...fields) });
});

describe('validator fuzzing: arbitrary and mutated input never crashes it', () => {
  it('arbitrary value (fc.anything) as the whole object, as spec, and as an extra spec field', () => {
    const anything = fc.anything({
      key: garbageKey,
      maxDepth: 4,
      withNullPrototype: true,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withSparseArray: true,
      withBoxedValues: true,
      withTypedArray: true,
    });
    fc.assert(
      fc.property(anything, garbageKey, validPolicy, (junk, key, policy) => {
        validate(junk);
        validate({ ...policy, spec: junk });
        const extra = structuredClone(policy);
        set(extra, ['spec', key], junk);
        const r = validate(extra);
        if (!Object.hasOwn(schemaAt('spec')?.properties ?? {}, key)) {
          assert.deepEqual(issuesAt(r, `spec.${key}`), [`unknown field "spec.${key}"`], show(r));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary JSON (fc.jsonValue) as spec and as each top-level spec field', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), validPolicy, (json, policy) => {
        validate({ apiVersion: 'tidemark.dev/v1alpha1', kind: 'ScalingPolicy', spec: json });
        for (const key of Object.keys(schemaAt('spec')?.properties ?? {})) {
          const p = structuredClone(policy);
          set(p, ['spec', key], json);
          validate(p);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a dropped field: rejected only for a required one, named by its path', () => {
    fc.assert(
      fc.property(policyAndField, ({ policy, field }) => {
        const p = structuredClone(policy);
        const parent = parentOf(p, field);
        const key = field[field.length - 1] as Seg;
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        const r = validate(p);
        const parentSchema = schemaAt(pathOf(field.slice(0, -1)));
        if (typeof key === 'string' && parentSchema?.required?.includes(key)) {
          assert.ok(issuesAt(r, pathOf(field)).includes('Required value'), show(r));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a field set to a wrong type, NaN/Infinity, 1e308, a huge string or nested garbage', () => {
    fc.assert(
      fc.property(policyAndField, garbageValue, ({ policy, field }, junk) => {
        const p = structuredClone(policy);
        set(p, field, junk);
        validate(p);
      }),
      { numRuns: RUNS },
    );
  });

  it('an array where an object is expected, and an object where an array is expected', () => {
    fc.assert(
      fc.property(policyAndField, ({ policy, field }) => {
        const p = structuredClone(policy);
        const old = get(p, field);
        const swapped = Array.isArray(old) ? { ...old } : [old];
        set(p, field, swapped);
        const r = validate(p);
        const node = schemaAt(pathOf(field));
        if (node?.type === 'object' || node?.type === 'array') {
          assert.ok(issuesAt(r, pathOf(field)).length > 0, `${pathOf(field)}: ${show(r)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('prototype-pollution keys (__proto__, constructor, ...) in any object are unknown fields', () => {
    fc.assert(
      fc.property(policyAndField, fc.constantFrom(...HOSTILE_KEYS), ({ policy, field }, key) => {
        const p = structuredClone(policy);
        const target = get(p, field);
        fc.pre(target !== null && typeof target === 'object' && !Array.isArray(target));
        const node = schemaAt(pathOf(field));
        // metadata and engineState are not the validator's to check (the API server / the operator own them).
        fc.pre(node?.properties !== undefined && node['x-kubernetes-preserve-unknown-fields'] !== true);
        set(p, [...field, key], { polluted: true, spec: { maxReplicas: 'x' } });
        const r = validate(p);
        const path = pathOf([...field, key]);
        assert.deepEqual(issuesAt(r, path), [`unknown field "${path}"`], show(r));
      }),
      { numRuns: RUNS },
    );
  });

  it('NaN and ±Infinity in any numeric field (YAML .nan/.inf) are rejected at that field', () => {
    const numericField = validPolicy.chain((p) => {
      const fields = fieldsOf(p).filter((f) => typeof get(p, f) === 'number');
      return fc.record({ policy: fc.constant(p), field: fc.constantFrom(...fields) });
    });
    fc.assert(
      fc.property(
        numericField,
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        ({ policy, field }, bad) => {
          const p = structuredClone(policy);
          set(p, field, bad);
          const r = validate(p);
          assert.ok(issuesAt(r, pathOf(field)).length > 0, `${pathOf(field)} = ${bad}: ${show(r)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a huge string (up to 1 MB) in any string field is rejected quickly', () => {
    const stringField = validPolicy.chain((p) => {
      const fields = fieldsOf(p).filter((f) => typeof get(p, f) === 'string');
      return fc.record({ policy: fc.constant(p), field: fc.constantFrom(...fields) });
    });
    fc.assert(
      fc.property(stringField, fc.constantFrom('a', '9', '-', ' ', 'é'), (({ policy, field }, ch) => {
        const p = structuredClone(policy);
        const path = pathOf(field);
        const node = schemaAt(path);
        set(p, field, ch.repeat(1 << 20));
        const t0 = performance.now();
        const r = validate(p);
        assert.ok(performance.now() - t0 < 1000, `validating a 1 MB ${path} took too long`);
        if (typeof node?.maxLength === 'number')
          assert.ok(issuesAt(r, path).length > 0, `${path}: ${show(r)}`);
      }) as (v: { policy: Raw; field: Seg[] }, ch: string) => void),
      { numRuns: 40 },
    );
  });
});

describe('validator fuzzing: valid specs and single out-of-bounds fields', () => {
  it('a generated valid spec is accepted, defaulted, and accepted again unchanged', () => {
    fc.assert(
      fc.property(validPolicy, (policy) => {
        const r = validate(policy);
        assert.ok(r.ok, `valid policy rejected: ${show(r)}\n${JSON.stringify(policy)}`);
        const spec = r.policy.spec;
        assert.ok(Number.isInteger(spec.minReplicas) && spec.minReplicas <= spec.maxReplicas);
        assert.ok(
          Array.isArray(spec.behavior.scaleUp.policies) && Array.isArray(spec.behavior.scaleDown.policies),
        );
        const again = validate(r.policy);
        assert.ok(again.ok && isDeepStrictEqual(again.policy, r.policy), 'defaulting is not idempotent');
      }),
      { numRuns: RUNS },
    );
  });

  interface Fault {
    fault: string;
    /** Applies the fault; returns the path it must be reported at, or undefined when it does not apply. */
    apply: (p: Raw, n: number) => { path: string; also?: string[] } | undefined;
  }
  const spec = (p: Raw) => p.spec as Raw;
  const metrics = (p: Raw) => spec(p).metrics as Raw[];
  const nth = (p: Raw, n: number) => n % metrics(p).length;
  /** Sets the field at `path` ([] is a random metric); the issue is expected there, or at `path` + `within`. */
  const setField = (path: string, value: unknown, within = '', also?: string[]): Fault['apply'] => {
    return (p, n) => {
      const segs: Seg[] = splitPath(path).map((s) => (s === '[]' ? nth(p, n) : s));
      set(p, segs, value);
      return { path: pathOf(segs) + within, ...(also ? { also } : {}) };
    };
  };
  // A value out of a bound leaves the CEL rules checked, as in the API server: the rules
  // that read it report their consequence too (e.g. fallback.replicas beyond maxReplicas 0).
  const BOUNDS = ['spec.minReplicas', 'spec.fallback.replicas'];
  const faults: Fault[] = [
    { fault: 'minReplicas -1', apply: setField('spec.minReplicas', -1) },
    { fault: 'minReplicas 100001', apply: setField('spec.minReplicas', 100001, '', BOUNDS) },
    { fault: 'minReplicas 1.5', apply: setField('spec.minReplicas', 1.5) },
    { fault: 'maxReplicas 0', apply: setField('spec.maxReplicas', 0, '', BOUNDS) },
    { fault: 'maxReplicas 100001', apply: setField('spec.maxReplicas', 100001) },
    { fault: 'maxReplicas "10"', apply: setField('spec.maxReplicas', '10') },
    {
      fault: 'minReplicas above maxReplicas',
      apply: (p) => {
        const max = spec(p).maxReplicas as number;
        if (max >= 100000) return undefined;
        spec(p).minReplicas = max + 1;
        return { path: 'spec.minReplicas', also: ['spec.fallback.replicas'] };
      },
    },
    { fault: 'pollingIntervalSeconds 0', apply: setField('spec.pollingIntervalSeconds', 0) },
    { fault: 'pollingIntervalSeconds 3601', apply: setField('spec.pollingIntervalSeconds', 3601) },
    { fault: 'mode Sometimes', apply: setField('spec.mode', 'Sometimes') },
    { fault: 'targetRef.apiVersion Apps/V1', apply: setField('spec.targetRef.apiVersion', 'Apps/V1') },
    { fault: 'targetRef.kind lower-case', apply: setField('spec.targetRef.kind', 'deployment') },
    { fault: 'targetRef.name empty', apply: setField('spec.targetRef.name', '') },
    { fault: 'targetRef.name 254 chars', apply: setField('spec.targetRef.name', 'a'.repeat(254)) },
    { fault: 'prometheus.address ftp://', apply: setField('spec.prometheus.address', 'ftp://prom:9090') },
    { fault: 'prometheus.address with a space', apply: setField('spec.prometheus.address', 'http://a b') },
    { fault: 'prometheus.timeoutSeconds 0.05', apply: setField('spec.prometheus.timeoutSeconds', 0.05) },
    { fault: 'prometheus.timeoutSeconds 61', apply: setField('spec.prometheus.timeoutSeconds', 61) },
    {
      fault: 'prometheus.insecureSkipVerify "yes"',
      apply: setField('spec.prometheus.insecureSkipVerify', 'yes'),
    },
    {
      fault: 'prometheus.authSecretRef.name Upper',
      apply: setField('spec.prometheus.authSecretRef.name', 'Tok'),
    },
    {
      fault: 'metrics empty',
      apply: setField('spec.metrics', [], '', ['spec.autotune.slo.metric']),
    },
    {
      fault: 'metrics 17 items',
      apply: (p) => {
        const first = metrics(p)[0] as Raw;
        spec(p).metrics = Array.from({ length: 17 }, (_, i) => ({ ...first, name: `m${i}` }));
        return { path: 'spec.metrics' };
      },
    },
    {
      fault: 'metrics duplicate name',
      apply: (p, n) => {
        const list = metrics(p);
        const i = nth(p, n);
        if (list.length < 16) {
          list.push({ ...(list[i] as Raw) });
          return { path: 'spec.metrics' };
        }
        // Renaming may take away the metric autotune.slo names, which is then reported too.
        (list[(i + 1) % list.length] as Raw).name = (list[i] as Raw).name;
        return { path: 'spec.metrics', also: ['spec.autotune.slo.metric'] };
      },
    },
    {
      fault: 'metric name with a space',
      apply: setField('spec.metrics[].name', 'req rate', '', ['spec.autotune.slo.metric']),
    },
    { fault: 'metric query empty', apply: setField('spec.metrics[].query', '') },
    { fault: 'metric query 4097 chars', apply: setField('spec.metrics[].query', 'q'.repeat(4097)) },
    { fault: 'metric target.type Percent', apply: setField('spec.metrics[].target.type', 'Percent') },
    { fault: 'metric target.value "0"', apply: setField('spec.metrics[].target.value', '0') },
    { fault: 'metric target.value 0', apply: setField('spec.metrics[].target.value', 0) },
    { fault: 'metric target.value "-5"', apply: setField('spec.metrics[].target.value', '-5') },
    { fault: 'metric target.value "50m"', apply: setField('spec.metrics[].target.value', '50m') },
    { fault: 'metric target.value 0.5 (a number)', apply: setField('spec.metrics[].target.value', 0.5) },
    { fault: 'metric target.value 33 chars', apply: setField('spec.metrics[].target.value', '1'.repeat(33)) },
    { fault: 'metric activationThreshold -1', apply: setField('spec.metrics[].activationThreshold', -1) },
    {
      fault: 'metric activationThreshold "1e3"',
      apply: setField('spec.metrics[].activationThreshold', '1e3'),
    },
    { fault: 'behavior.tolerance -0.1', apply: setField('spec.behavior.tolerance', -0.1) },
    { fault: 'behavior.tolerance 1.1', apply: setField('spec.behavior.tolerance', 1.1) },
    ...(['scaleUp', 'scaleDown'] as const).flatMap((d): Fault[] => [
      {
        fault: `${d}.stabilizationWindowSeconds 3601`,
        apply: setField(`spec.behavior.${d}.stabilizationWindowSeconds`, 3601),
      },
      { fault: `${d}.cooldownSeconds -1`, apply: setField(`spec.behavior.${d}.cooldownSeconds`, -1) },
      { fault: `${d}.selectPolicy Avg`, apply: setField(`spec.behavior.${d}.selectPolicy`, 'Avg') },
      {
        fault: `${d}.policies 11 items`,
        apply: setField(
          `spec.behavior.${d}.policies`,
          Array.from({ length: 11 }, () => ({ type: 'Pods', value: 1, periodSeconds: 15 })),
        ),
      },
      {
        fault: `${d}.policies[0].value 0`,
        apply: setField(
          `spec.behavior.${d}.policies`,
          [{ type: 'Pods', value: 0, periodSeconds: 15 }],
          '[0].value',
        ),
      },
      {
        fault: `${d}.policies[0].periodSeconds 1801`,
        apply: setField(
          `spec.behavior.${d}.policies`,
          [{ type: 'Percent', value: 10, periodSeconds: 1801 }],
          '[0].periodSeconds',
        ),
      },
      {
        fault: `${d}.policies[0].type Replicas`,
        apply: setField(
          `spec.behavior.${d}.policies`,
          [{ type: 'Replicas', value: 1, periodSeconds: 15 }],
          '[0].type',
        ),
      },
    ]),
    { fault: 'fallback.failureThreshold 0', apply: setField('spec.fallback.failureThreshold', 0) },
    { fault: 'fallback.failureThreshold 101', apply: setField('spec.fallback.failureThreshold', 101) },
    {
      fault: 'fallback.replicas above maxReplicas',
      apply: (p) => setField('spec.fallback.replicas', (spec(p).maxReplicas as number) + 1)(p, 0),
    },
    {
      fault: 'fallback.replicas below minReplicas',
      apply: (p) => {
        const min = (spec(p).minReplicas as number | undefined) ?? 1;
        return min === 0 ? undefined : setField('spec.fallback.replicas', min - 1)(p, 0);
      },
    },
    { fault: 'predictive.seasonPeriod 24x', apply: setField('spec.predictive.seasonPeriod', '24x') },
    { fault: 'predictive.history 7 days', apply: setField('spec.predictive.history', '7 days') },
    {
      fault: 'predictive.podStartupSeconds 3601',
      apply: setField('spec.predictive.podStartupSeconds', 3601),
    },
    { fault: 'predictive.maxErrorPercent 0.5', apply: setField('spec.predictive.maxErrorPercent', 0.5) },
    { fault: 'predictive.mode Auto', apply: setField('spec.predictive.mode', 'Auto') },
    { fault: 'anomaly.confirmationTicks 0', apply: setField('spec.anomaly.confirmationTicks', 0) },
    { fault: 'anomaly.deviationThreshold 101', apply: setField('spec.anomaly.deviationThreshold', 101) },
    {
      fault: 'anomaly.maxIneffectiveScaleUps -1',
      apply: setField('spec.anomaly.maxIneffectiveScaleUps', -1),
    },
    { fault: 'autotune.windowSeconds 59', apply: setField('spec.autotune.windowSeconds', 59) },
    { fault: 'autotune.reversalThreshold 0', apply: setField('spec.autotune.reversalThreshold', 0) },
    {
      fault: 'autotune.slo.minTarget above maxTarget',
      apply: (p, n) => {
        const name = (metrics(p)[nth(p, n)] as Raw).name;
        (metrics(p)[nth(p, n)] as Raw).target = { type: 'AverageValue', value: '5' };
        set(p, ['spec', 'autotune', 'slo'], {
          metric: name,
          latencyQuery: 'q',
          objectiveSeconds: 1,
          minTarget: 10,
          maxTarget: 2,
        });
        return { path: 'spec.autotune.slo' };
      },
    },
    {
      fault: 'autotune.slo.metric naming no metric',
      apply: (p) => {
        set(p, ['spec', 'autotune', 'slo'], {
          metric: 'No Such Metric',
          latencyQuery: 'q',
          objectiveSeconds: 1,
          minTarget: 1,
          maxTarget: 2,
        });
        return { path: 'spec.autotune.slo.metric' };
      },
    },
    {
      fault: 'autotune.slo.metric naming a Value metric',
      apply: (p, n) => {
        const m = metrics(p)[nth(p, n)] as Raw;
        m.target = { type: 'Value', value: '5' };
        set(p, ['spec', 'autotune', 'slo'], {
          metric: m.name,
          latencyQuery: 'q',
          objectiveSeconds: 1,
          minTarget: 1,
          maxTarget: 2,
        });
        return { path: 'spec.autotune.slo.metric' };
      },
    },
    { fault: 'unknown field spec.replicas', apply: setField('spec.replicas', 3) },
    { fault: 'unknown field in a metric', apply: setField('spec.metrics[].targetValue', '5') },
    { fault: 'unknown field in behavior.scaleUp', apply: setField('spec.behavior.scaleUp.rate', 2) },
  ];

  it('one field out of bounds (each CRD bound and CEL rule) is rejected at that field', () => {
    fc.assert(
      fc.property(validPolicy, fc.constantFrom(...faults), fc.nat(), (policy, fault, n) => {
        const p = structuredClone(policy);
        const expected = fault.apply(p, n);
        fc.pre(expected !== undefined);
        if (expected === undefined) return;
        const r = validate(p);
        assert.ok(!r.ok, `${fault.fault}: accepted`);
        const allowed = new Set([expected.path, ...(expected.also ?? [])]);
        assert.ok(
          issuesAt(r, expected.path).length > 0,
          `${fault.fault}: no issue at ${expected.path}: ${show(r)}`,
        );
        for (const i of r.issues)
          assert.ok(allowed.has(i.path), `${fault.fault}: stray issue ${JSON.stringify(i)}`);
      }),
      { numRuns: Math.max(600, RUNS) },
    );
  });
});

describe('validator fuzzing: regressions the fuzzers found', () => {
  const yamlPolicy = (extra: string) =>
    parse(`spec:
  targetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  maxReplicas: 10
  prometheus: { address: "http://prometheus:9090" }
  metrics:
    - name: rps
      query: q
      target: { type: AverageValue, value: 50 }
${extra}`) as Raw;

  it('regression: a field whose value is {toString: {}} is rejected, not a TypeError', () => {
    const p = yamlPolicy('');
    (p.spec as Raw).mode = { toString: {} };
    const r = validate(p);
    assert.ok(issuesAt(r, 'spec.mode').length > 0, show(r));
  });

  it('regression: __proto__, constructor and toString keys are unknown fields, not silently accepted', () => {
    for (const key of ['__proto__', 'constructor', 'toString']) {
      const p = yamlPolicy(`  ${key}: { maxReplicas: 1 }`);
      const r = validate(p);
      assert.deepEqual(r.ok ? [] : r.issues, [
        { path: `spec.${key}`, message: `unknown field "spec.${key}"` },
      ]);
    }
  });

  it('regression: .inf and .nan from YAML are rejected at the field, not taken as an infinite target', () => {
    const p = yamlPolicy('      activationThreshold: .inf');
    const metric = (p.spec as { metrics: Raw[] }).metrics[0] as Raw;
    metric.target = { type: 'AverageValue', value: Number.POSITIVE_INFINITY };
    const r = validate(p);
    assert.ok(issuesAt(r, 'spec.metrics[0].target.value').length > 0, show(r));
    assert.ok(issuesAt(r, 'spec.metrics[0].activationThreshold').length > 0, show(r));
    const nan = validate(yamlPolicy('  behavior: { tolerance: .nan }'));
    assert.ok(issuesAt(nan, 'spec.behavior.tolerance').length > 0, show(nan));
  });
});
