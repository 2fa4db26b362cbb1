// The CLI's shared input handling: reading a policy file and the error type every
// subcommand throws for a user's mistake (kept apart from main.ts so that the
// subcommands main.ts registers do not import it back).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import { API_VERSIONS } from '../crd/version-conversion.ts';

/** A mistake by the user: printed as one clear message, never as a stack trace. */
export class UserError extends Error {}

/**
 * Reads a ScalingPolicy YAML file and validates it with the CRD's own schema and
 * CEL rules, in the version it names (v1alpha1 or v1beta1), and returns it as v1beta1.
 * Throws UserError naming the file and every failing field.
 */
export function loadPolicyFile(file: string, validator = new PolicyValidator()) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  if (docs.length !== 1)
    throw new UserError(`${file}: expected exactly one YAML document, found ${docs.length}`);
  const doc = docs[0]!;
  if (doc.errors.length > 0) throw new UserError(`${file}: invalid YAML: ${doc.errors[0]!.message}`);
  const obj = doc.toJS() as { apiVersion?: unknown; kind?: unknown } | null;
  if (!API_VERSIONS.includes(obj?.apiVersion as string) || obj?.kind !== 'ScalingPolicy') {
    throw new UserError(
      `${file}: not a ScalingPolicy: expected apiVersion ${API_VERSIONS.join(' or ')} and kind ScalingPolicy, found ${String(obj?.apiVersion)} ${String(obj?.kind)}`,
    );
  }
  const result = validator.validate(obj);
  if (!result.ok) throw new UserError(`${file}: invalid ScalingPolicy:\n${formatIssues(result.issues)}`);
  return result.policy;
}
