import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerBacktestCommand } from './backtest.ts';
import { registerConvertCommand } from './convert.ts';
import { UserError } from './policy-file.ts';
import { leaseNamespace, registerRunCommand } from './run.ts';
import { registerSimulateCommand } from './simulate.ts';
import { endQuietlyWhenStdoutCloses } from './stdout.ts';
import { registerTraceCommand } from './trace.ts';
import { registerValidateCommand } from './validate.ts';
import { registerMigrateCommand, registerWebhookCommand } from './webhook.ts';

export function buildProgram(): Command {
  const program = new Command('tidemark')
    .description('Autoscale Kubernetes workloads from Prometheus metrics.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });

  registerValidateCommand(program);
  registerSimulateCommand(program);
  registerBacktestCommand(program);
  registerRunCommand(program);
  registerTraceCommand(program);
  registerConvertCommand(program);
  registerWebhookCommand(program, () => leaseNamespace(undefined));
  registerMigrateCommand(program);
  return program;
}

/** From package.json, two folders up from src/cli/ in a checkout and from dist/cli/ in the package. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  endQuietlyWhenStdoutCloses();
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
