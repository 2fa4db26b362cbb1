// Every `tidemark` / `npx tidemark` command line in the README's (and docs/') fenced code
// blocks, found automatically so that a command added later is run too, and a way to run
// each one as written from a working directory that stands for a fresh clone.
//
// A block that needs the local sandbox says so in an HTML comment on the line before it:
//   <!-- needs: sandbox -->
//   <!-- needs: sandbox; until "policy informer synced" -->   (a server: it runs until that
//                                                               text appears, then is stopped)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface DocCommand {
  /** The command as written (continuation lines joined), without a `$ ` prompt. */
  command: string;
  /** Where it is: `README.md:123`. */
  where: string;
  sandbox: boolean;
  /** For a server: text its output shows once it works; it is stopped after that. */
  until?: string;
  /**
   * In a sandbox block, the other shell lines before the command (the set-up the reader runs
   * first, such as `kubectl apply`); they run before it, so the command runs as written in
   * its block. Earlier tidemark commands are tests of their own and are not repeated.
   */
  setup: string[];
}

const SHELL_LANGS = new Set(['', 'sh', 'bash', 'shell', 'console', 'zsh']);
const TIDEMARK = /^(npx\s+)?tidemark(\s|$)/;

/** The documents whose commands are checked: README.md and every docs/*.md. */
export function documents(): string[] {
  const docs = readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(REPO, 'docs', f));
  return [join(REPO, 'README.md'), ...docs];
}

function marker(line: string | undefined, where: string): { sandbox: boolean; until?: string } {
  const m = /^<!--\s*needs:\s*(.*?)\s*-->$/.exec(line?.trim() ?? '');
  if (!m) return { sandbox: false };
  const parts = m[1]!.split(';').map((p) => p.trim());
  if (parts[0] !== 'sandbox') throw new Error(`${where}: unknown need "${parts[0]}" (only "sandbox")`);
  const until = parts.slice(1).map((p) => /^until\s+"(.+)"$/.exec(p));
  if (until.some((u) => u === null)) throw new Error(`${where}: expected \`; until "text"\` in ${line}`);
  return until[0] ? { sandbox: true, until: until[0][1]! } : { sandbox: true };
}

/** The tidemark commands of one Markdown text, in order. */
export function extractCommands(text: string, file: string): DocCommand[] {
  const lines = text.split('\n');
  const out: DocCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*(```|~~~)\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    let prev = i - 1;
    while (prev >= 0 && lines[prev]!.trim() === '') prev--;
    const need = marker(lines[prev], `${file}:${prev + 1}`);
    const fence = open[1]!;
    const lang = open[2]!.toLowerCase();
    let j = i + 1;
    const before: string[] = [];
    for (; j < lines.length && !lines[j]!.trimStart().startsWith(fence); j++) {
      if (!SHELL_LANGS.has(lang)) continue;
      const start = j;
      let command = lines[j]!.trim().replace(/^\$\s+/, '');
      while (command.endsWith('\\') && j + 1 < lines.length)
        command = `${command.slice(0, -1).trimEnd()} ${lines[++j]!.trim()}`;
      if (TIDEMARK.test(command)) {
        out.push({ command, where: `${file}:${start + 1}`, ...need, setup: need.sandbox ? [...before] : [] });
      } else if (command !== '' && !command.startsWith('#')) before.push(command);
    }
    i = j;
  }
  return out;
}

/** Every documented tidemark command, README first. */
export function documentedCommands(): DocCommand[] {
  return documents().flatMap((f) => extractCommands(readFileSync(f, 'utf8'), relative(REPO, f)));
}

/**
 * A working directory that stands for a fresh clone: a link to each of the clone's top-level
 * entries, so commands read `examples/…` as written while the files they write stay out of
 * the clone. Its name is fixed per clone, so `npx` links one project into its cache, not one
 * per run; it is emptied first.
 */
export function cloneLikeDir(): string {
  const hash = createHash('sha256').update(REPO).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `tidemark-readme-${hash}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const entry of readdirSync(REPO)) {
    if (entry === '.git') continue;
    symlinkSync(join(REPO, entry), join(dir, entry));
  }
  return dir;
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** With `until`: the text appeared (and the command was then stopped). */
  seen: boolean;
  /** Still running at the timeout (killed). */
  timedOut: boolean;
}

/**
 * Runs the command with bash in `cwd`, with the project's Node.js first on PATH (as make
 * does) and npm kept offline (`npx tidemark` must resolve to this clone, never the registry).
 * With `until`, stops the command's whole process group with SIGTERM once that text appears.
 * Resolves when every process of the command has closed its output, so a server that
 * outlives its stop is caught (killed at the timeout, `timedOut`).
 */
export function runDocCommand(c: DocCommand, cwd: string, timeoutMs: number): Promise<Ran> {
  const env = {
    ...process.env,
    PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
  };
  const script = [...c.setup, c.command].join('\n');
  const child = spawn('bash', ['-e', '-c', script], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let seen = false;
  let timedOut = false;
  const stopGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const onData = (d: Buffer) => {
    output += d.toString();
    if (c.until && !seen && output.includes(c.until)) {
      seen = true;
      stopGroup('SIGTERM');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => {
    timedOut = true;
    stopGroup('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, seen, timedOut });
    });
  });
}
