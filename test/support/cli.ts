// Runs the `tidemark` CLI as a user does (bin/tidemark.js in a child process) for
// the CLI tests of every command, keeps what it printed whatever its exit code, and
// gives the tests a scratch directory for inputs.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A non-zero exit is a result to assert on, not a rejection. */
export async function runTidemark(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      maxBuffer: 64 << 20,
      ...(opts.env ? { env: opts.env } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export function tidemark(...args: string[]): Promise<CliResult> {
  return runTidemark(args);
}

/** Fails when the text holds a stack trace (a user mistake must be one clear line). */
export function assertNoStack(text: string): void {
  if (/\n\s+at /.test(text)) throw new Error(`a stack trace was printed:\n${text}`);
}

/** A fresh temporary directory and a writer of files in it (returns the path). */
export function scratch(prefix: string): { dir: string; file(name: string, text: string): string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
  };
}
