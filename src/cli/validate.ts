// `tidemark validate`: every ScalingPolicy in every file (or stdin, "-"), so `tidemark convert
// … | tidemark validate -` checks a whole conversion. Every input is checked and every failure
// reported before the exit code says whether any failed.
import type { Command } from 'commander';
import type { Document } from 'yaml';
import { PolicyValidator } from '../crd/validate.ts';
import { checkPolicyDocument, policyDocuments, UserError } from './policy-file.ts';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('validate ScalingPolicy files with the CRD schema, its CEL rules and PromQL syntax')
    .argument('<files...>', 'policy YAML files, one or more policies each ("-" reads stdin)')
    .action((files: string[]) => {
      const validator = new PolicyValidator();
      const failed = files.filter((file) => !validateFile(file, validator)).length;
      if (failed > 0) throw new UserError(`${failed} of ${files.length} inputs failed validation (above)`);
    });
}

/** Prints each document's verdict; returns whether the whole file is valid. */
function validateFile(file: string, validator: PolicyValidator): boolean {
  let docs: Document.Parsed[];
  try {
    docs = policyDocuments(file);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    return false;
  }
  const shown = file === '-' ? 'stdin' : file;
  if (docs.length === 0) {
    process.stderr.write(`error: ${shown}: no YAML document\n`);
    return false;
  }
  let policies = 0;
  let ok = true;
  for (const [i, doc] of docs.entries()) {
    const label = docs.length === 1 ? shown : `${shown} document ${i + 1}${nameOf(doc)}`;
    const checked = checkPolicyDocument(doc, validator);
    // A bundle may carry a Deployment beside its policy: only a file with no policy at all fails.
    if (!checked.ok && checked.notPolicy && docs.length > 1) {
      process.stderr.write(`note: ${label}: skipped, ${checked.message}\n`);
      continue;
    }
    policies++;
    if (checked.ok) process.stdout.write(`${label}: valid\n`);
    else process.stderr.write(`error: ${label}: ${checked.message}\n`);
    ok &&= checked.ok;
  }
  if (policies > 0) return ok;
  process.stderr.write(`error: ${shown}: no ScalingPolicy among its ${docs.length} documents\n`);
  return false;
}

/** " (name)" from metadata.name, so a failing document can be found in a long file. */
function nameOf(doc: Document.Parsed): string {
  const name = doc.getIn(['metadata', 'name']);
  return typeof name === 'string' ? ` (${name})` : '';
}
