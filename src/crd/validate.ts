import { Environment } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { promqlIssues } from './promql.ts';
import { loadCrd, rootSchema, type SchemaNode, servedVersions, storageVersion } from './schema.ts';
import type { ScalingPolicy } from './types.generated.ts';
import { convertPolicy } from './version-conversion.ts';

/** One problem with a policy, named by its field path as the API server names it. */
export interface ValidationIssue {
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; policy: ScalingPolicy } | { ok: false; issues: ValidationIssue[] };

// ajv-formats ships CommonJS with the function on `default`.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

/**
 * Schema errors after which the API server checks no CEL rule (apiextensions' hasBlockingErr:
 * a wrong type, a missing or unsupported value, too long, too many): rules would read
 * values of the wrong shape.
 */
const BLOCKS_CEL = new Set(['type', 'anyOf', 'required', 'enum', 'maxLength', 'maxItems', 'maxProperties']);

/**
 * Validates ScalingPolicy objects the way the API server does: the CRD's OpenAPI
 * schema with its defaults, unknown fields (as kubectl's strict field validation
 * reports them), then the CRD's CEL rules (x-kubernetes-validations). There is no
 * library that evaluates a CRD's CEL rules outside the API server, so this walks
 * the schema by hand and hands each rule to a CEL interpreter.
 */
class SchemaValidator {
  readonly #schema: SchemaNode;
  readonly #check: ReturnType<Ajv['compile']>;
  readonly #cel = new Environment({ unlistedVariablesAreDyn: true });
  readonly #compiled = new Map<string, ReturnType<Environment['parse']>>();

  constructor(schema: SchemaNode) {
    this.#schema = schema;
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
    addFormats(ajv);
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    this.#check = ajv.compile(schema);
  }

  /** Validates a whole object (apiVersion, kind, metadata, spec). Defaults are applied to a copy. */
  validate(input: unknown): ValidationResult {
    const value = structuredClone(input);
    const issues: ValidationIssue[] = [];
    const errors = this.#check(value) ? [] : (this.#check.errors ?? []);
    issues.push(...errors.map(fromAjv));
    const unknown: ValidationIssue[] = [];
    walkFields(this.#schema, value, '', unknown);
    issues.push(...unknown);
    // As the API server: a value that only breaks a pattern or a bound still has its CEL rules
    // checked (their messages say in words what a pattern says in a regular expression).
    if (unknown.length === 0 && !errors.some((e) => BLOCKS_CEL.has(e.keyword))) {
      this.#celRules(this.#schema, value, '', issues);
    }
    if (issues.length > 0) return { ok: false, issues: dedupe(issues) };
    return { ok: true, policy: value as ScalingPolicy };
  }

  #celRules(schema: SchemaNode, value: unknown, path: string, issues: ValidationIssue[]): void {
    if (value === undefined || value === null) return;
    for (const v of schema['x-kubernetes-validations'] ?? []) {
      const where = v.fieldPath ? joinPath(path, v.fieldPath.replace(/^\./, '')) : path;
      let passed: unknown;
      try {
        passed = this.#rule(v.rule)({ self: toCel(schema, value) });
      } catch (err) {
        issues.push({
          path: where,
          message: `Invalid value: rule "${v.rule}" could not be evaluated: ${(err as Error).message}`,
        });
        continue;
      }
      if (passed !== true) {
        issues.push({ path: where, message: `Invalid value: ${v.message ?? `failed rule: ${v.rule}`}` });
      }
    }
    if (schema.properties && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, sub] of Object.entries(schema.properties)) {
        this.#celRules(sub, (value as Record<string, unknown>)[key], joinPath(path, key), issues);
      }
    }
    if (schema.items && Array.isArray(value)) {
      value.forEach((item, i) => {
        this.#celRules(schema.items!, item, `${path}[${i}]`, issues);
      });
    }
  }

  #rule(rule: string) {
    let fn = this.#compiled.get(rule);
    if (!fn) {
      fn = this.#cel.parse(rule);
      this.#compiled.set(rule, fn);
    }
    return fn;
  }
}

/**
 * Validates a ScalingPolicy in the version its apiVersion names (any served one; the
 * storage version when it names none), as the API server would, and hands back a
 * valid policy converted to the storage version, which the rest of Tidemark reads.
 * Given a schema, validates against that schema alone and converts nothing.
 */
export class PolicyValidator {
  readonly #fixed: SchemaValidator | undefined;
  readonly #byVersion = new Map<string, SchemaValidator>();

  constructor(schema?: SchemaNode) {
    if (schema) this.#fixed = new SchemaValidator(schema);
  }

  validate(input: unknown): ValidationResult {
    const result = this.#validateSchema(input);
    // PromQL the operator could not run is as invalid as a field the API server refuses.
    const promql = result.ok ? promqlIssues(result.policy) : [];
    return promql.length > 0 ? { ok: false, issues: promql } : result;
  }

  #validateSchema(input: unknown): ValidationResult {
    if (this.#fixed) return this.#fixed.validate(input);
    const crd = loadCrd();
    const storage = storageVersion(crd);
    const apiVersion = (input as { apiVersion?: unknown } | null)?.apiVersion;
    const named = servedVersions(crd).find((v) => apiVersion === `${crd.spec.group}/${v}`);
    const version = named ?? storage;
    let check = this.#byVersion.get(version);
    if (!check) {
      check = new SchemaValidator(rootSchema(crd, version));
      this.#byVersion.set(version, check);
    }
    const result = check.validate(input);
    if (!result.ok || version === storage) return result;
    const policy = convertPolicy(result.policy, `${crd.spec.group}/${storage}`) as unknown as ScalingPolicy;
    return { ok: true, policy };
  }
}

/** Formats issues one per line, as `kubectl apply` would print them. */
export function formatIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => `${i.path || '<root>'}: ${i.message}`).join('\n');
}

function joinPath(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(seg) ? `${out}[${seg}]` : joinPath(out, seg);
  }
  return out;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  // Objects by type, as the API server shows them: String() throws on `{toString: {}}`, which YAML can say.
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? '"array"' : '"object"';
  return String(v);
}

function fromAjv(e: ErrorObject): ValidationIssue {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: joinPath(path, String(p.missingProperty)), message: 'Required value' };
    case 'enum':
      return {
        path,
        message: `Unsupported value: ${show(e.data)}: supported values: ${(p.allowedValues as unknown[]).map(show).join(', ')}`,
      };
    case 'type':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body must be of type ${String(p.type)}`,
      };
    case 'anyOf':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body must be an integer or a string`,
      };
    case 'pattern':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body should match '${String(p.pattern)}'`,
      };
    case 'minimum':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body should be greater than or equal to ${String(p.limit)}`,
      };
    case 'maximum':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body should be less than or equal to ${String(p.limit)}`,
      };
    case 'minItems':
      return {
        path,
        message: `Invalid value: ${show((e.data as unknown[]).length)}: ${path} in body should have at least ${String(p.limit)} items`,
      };
    case 'maxItems':
      return {
        path,
        message: `Too many: ${show((e.data as unknown[]).length)}: must have at most ${String(p.limit)} items`,
      };
    case 'minLength':
      return {
        path,
        message: `Invalid value: ${show(e.data)}: ${path} in body should be at least ${String(p.limit)} chars long`,
      };
    case 'maxLength':
      return { path, message: `Too long: may not be more than ${String(p.limit)} bytes` };
    default:
      return { path, message: `Invalid value: ${show(e.data)}: ${e.message ?? e.keyword}` };
  }
}

/**
 * Unknown fields, and numbers JSON cannot carry: a YAML file may say .nan or .inf, which ajv
 * lets through where a field has only a lower bound (it counts Infinity as an integer).
 */
function walkFields(schema: SchemaNode, value: unknown, path: string, issues: ValidationIssue[]): void {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    issues.push({ path, message: `Invalid value: ${value}: ${path} in body must be a finite number` });
  }
  if (value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields']) return;
  if (Array.isArray(value)) {
    if (schema.items) {
      for (const [i, item] of value.entries()) walkFields(schema.items, item, `${path}[${i}]`, issues);
    }
    return;
  }
  if (!schema.properties) return; // e.g. metadata: validated by the API server itself
  for (const [key, sub] of Object.entries(value)) {
    // hasOwn: '__proto__', 'constructor' or 'toString' must not find Object.prototype's members.
    const child = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    if (!child) issues.push({ path: joinPath(path, key), message: `unknown field "${joinPath(path, key)}"` });
    else walkFields(child, sub, joinPath(path, key), issues);
  }
}

/** CEL distinguishes int from double; the API server feeds `integer` fields as int. */
function toCel(schema: SchemaNode, value: unknown): unknown {
  if (schema.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => (schema.items ? toCel(schema.items, v) : v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const sub = schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
      out[k] = sub ? toCel(sub, v) : v;
    }
    return out;
  }
  return value;
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
