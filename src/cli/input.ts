// Reading a command's input file, or stdin for "-", synchronously (the commands parse it whole).
import { readFileSync, readSync } from 'node:fs';

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The text of `file`, or of stdin for "-". readFileSync(0) fails with EAGAIN when stdin is a
 * non-blocking pipe whose writer has not written yet (`tidemark convert x | tidemark validate -`:
 * both start at once), so stdin is read in a loop that waits for the writer instead.
 */
export function readInput(file: string): string {
  if (file !== '-') return readFileSync(file, 'utf8');
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 10);
      continue;
    }
    if (n === 0) return Buffer.concat(chunks).toString('utf8');
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}
