// Every command's stdout may be a pipe whose reader stops early (`| head`, `| true`).

/**
 * A reader that has gone is not an error: stop writing and exit 0, as `cat` or `seq` do,
 * instead of Node's unhandled 'error' event with its stack trace. Any other stdout error
 * is still thrown.
 */
let installed = false;

export function endQuietlyWhenStdoutCloses(): void {
  // Once per process: tests call main() many times in one.
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}
