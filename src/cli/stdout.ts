// Every command's stdout may be a pipe whose reader stops early (`| head`, `| true`).

/**
 * A reader that has gone is not an error: stop writing and exit 0, as `cat` or `seq` do,
 * instead of Node's unhandled 'error' event with its stack trace. Any other stdout error
 * is still thrown.
 */
export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}
