// The CLI's shared input handling: reading a policy file and the error type every
// subcommand throws for a user's mistake (kept apart from main.ts so that the
// subcommands main.ts registers do not import it back).
import { readFileSync } from 'node:fs';
import { type Document, isScalar, parseAllDocuments } from 'yaml';
import type { ScalingPolicy } from '../crd/types.generated.ts';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import { API_VERSIONS } from '../crd/version-conversion.ts';

/** A mistake by the user: printed as one clear message, never as a stack trace. */
export class UserError extends Error {}

/** One YAML document checked as a ScalingPolicy: the policy as v1beta1, or why it is not valid. */
export type CheckedDocument =
  | { ok: true; policy: ScalingPolicy }
  | { ok: false; notPolicy: boolean; message: string };

/** The non-empty YAML documents of a file, or of stdin for "-" (as `convert -` reads it). */
export function policyDocuments(file: string): Document.Parsed[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  // A comment-only document (convert's trailing notes) holds nothing to check.
  const empty = (d: Document.Parsed) =>
    d.contents === null || (isScalar(d.contents) && d.contents.value === null);
  return parseAllDocuments(text).filter((d) => d.errors.length > 0 || !empty(d));
}

/**
 * A document's value, or why it has none: a syntax error, or one the yaml library refuses to
 * build (an alias bomb throws from toJS), said in one line rather than as a stack trace.
 */
export function yamlValue(doc: Document.Parsed): { value: unknown } | { error: string } {
  if (doc.errors.length > 0) return { error: `invalid YAML: ${doc.errors[0]!.message}` };
  try {
    return { value: doc.toJS() };
  } catch (err) {
    return { error: `invalid YAML: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * Validates one document with the CRD's own schema, CEL rules and PromQL syntax, in the
 * version it names (v1alpha1 or v1beta1), and returns it as v1beta1.
 */
export function checkPolicyDocument(doc: Document.Parsed, validator: PolicyValidator): CheckedDocument {
  const yaml = yamlValue(doc);
  if ('error' in yaml) return { ok: false, notPolicy: false, message: yaml.error };
  const obj = yaml.value as { apiVersion?: unknown; kind?: unknown } | null;
  if (!API_VERSIONS.includes(obj?.apiVersion as string) || obj?.kind !== 'ScalingPolicy') {
    return {
      ok: false,
      notPolicy: true,
      message: `not a ScalingPolicy: expected apiVersion ${API_VERSIONS.join(' or ')} and kind ScalingPolicy, found ${String(obj?.apiVersion)} ${String(obj?.kind)}`,
    };
  }
  const result = validator.validate(obj);
  if (!result.ok)
    return { ok: false, notPolicy: false, message: `invalid ScalingPolicy:\n${formatIssues(result.issues)}` };
  return { ok: true, policy: result.policy };
}

/**
 * Reads a file holding exactly one ScalingPolicy (what simulate and backtest take) and
 * validates it. Throws UserError naming the file and every failing field.
 */
export function loadPolicyFile(file: string, validator = new PolicyValidator()): ScalingPolicy {
  const docs = policyDocuments(file);
  if (docs.length !== 1)
    throw new UserError(`${file}: expected exactly one YAML document, found ${docs.length}`);
  const checked = checkPolicyDocument(docs[0]!, validator);
  if (!checked.ok) throw new UserError(`${file}: ${checked.message}`);
  return checked.policy;
}
