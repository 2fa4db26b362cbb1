// Runs the CLI again under another Node.js (bin/tidemark.js, when started by a Node older
// than 24 in a source checkout). Plain JavaScript: it runs before any TypeScript can.
import { spawn } from 'node:child_process';

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * Runs `node args` with this process's stdio and stands in for it: the signals a supervisor
 * sends (SIGTERM from the kubelet or systemd) are passed on, so the operator stops gracefully
 * instead of being orphaned, and this process ends as the child did (its code, or its signal).
 */
export function relaunch(node, args) {
  const child = spawn(node, args, { stdio: 'inherit' });
  // Ctrl-C at a terminal already reaches the child (same process group): passing it on too
  // would be a second SIGINT, which ends `tidemark run` before its graceful stop is done.
  const atTerminal = process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY;
  const signals = FORWARDED.filter((s) => !(atTerminal && s === 'SIGINT'));
  const forward = (signal) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  if (atTerminal) process.on('SIGINT', () => {}); // wait for the child, which got it too
  child.on('error', (err) => {
    process.stderr.write(`error: cannot start ${node}: ${err.code ?? err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}
