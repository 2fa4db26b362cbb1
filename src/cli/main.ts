import { Command, CommanderError } from 'commander';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import { registerBacktestCommand } from './backtest.ts';
import { registerConvertCommand } from './convert.ts';
import { loadPolicyFile, UserError } from './policy-file.ts';
import { leaseNamespace, registerRunCommand } from './run.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerTraceCommand } from './trace.ts';
import { registerMigrateCommand, registerWebhookCommand } from './webhook.ts';

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
