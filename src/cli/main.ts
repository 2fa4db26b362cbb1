import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { API_VERSIONS } from '../crd/convert.ts';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import { registerBacktestCommand } from './backtest.ts';
import { registerConvertCommand } from './convert.ts';
import { leaseNamespace, registerRunCommand } from './run.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerTraceCommand } from './trace.ts';
import { registerMigrateCommand, registerWebhookCommand } from './webhook.ts';

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

export function buildProgram(): Command {
  const program = new Command('tidemark')
    .description('Autoscale Kubernetes workloads from Prometheus metrics.')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('validate')
    .description('validate ScalingPolicy files with the CRD schema and its CEL rules')
    .argument('<files...>', 'policy YAML files')
    .action((files: string[]) => {
      const validator = new PolicyValidator();
      for (const file of files) {
        loadPolicyFile(file, validator);
        process.stdout.write(`${file}: valid\n`);
      }
    });

  registerSimulateCommand(program);
  registerBacktestCommand(program);
  registerRunCommand(program);
  registerTraceCommand(program);
  registerConvertCommand(program);
  registerWebhookCommand(program, () => leaseNamespace(undefined));
  registerMigrateCommand(program);
  return program;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
