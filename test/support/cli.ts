// Runs the `tidemark` CLI as a user does (bin/tidemark.js in a child process) and keeps what
// it printed, whatever its exit code.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function tidemark(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Fails when the text holds a stack trace (a user mistake must be one clear line). */
export function assertNoStack(text: string): void {
  if (/\n\s+at /.test(text)) throw new Error(`a stack trace was printed:\n${text}`);
}
