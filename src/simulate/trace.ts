// Reads a per-minute request trace: a CSV with the header `minute,requests` and
// one row per minute. Hand-written rather than a CSV library because the format
// is two numeric columns and every error must name its line.

/** A problem with the user's input (trace, options): shown as one message, never a stack. */
export class SimulationInputError extends Error {}

export interface Trace {
  /** Requests in each minute, index 0 = the trace's first minute. */
  requests: Float64Array;
  /** The minute number of the first row (usually 0). */
  firstMinute: number;
}

const NUMBER = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Parses the CSV text; `name` prefixes every error message (a file name). */
export function parseTrace(text: string, name = 'trace'): Trace {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '')
    .trim()
    .toLowerCase()
    .replace(/\s*,\s*/g, ',');
  if (header !== 'minute,requests') {
    throw new SimulationInputError(
      `${name}:1: expected the header "minute,requests", found ${JSON.stringify(lines[0] ?? '')}`,
    );
  }
  const values: number[] = [];
  let firstMinute = 0;
  let previous: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (line === '') continue;
    const where = `${name}:${i + 1}`;
    const cells = line.split(',');
    if (cells.length !== 2) {
      throw new SimulationInputError(`${where}: expected 2 columns (minute,requests), found ${cells.length}`);
    }
    const [m, r] = cells.map((c) => c.trim()) as [string, string];
    if (!/^\d+$/.test(m) || !Number.isSafeInteger(Number(m))) {
      throw new SimulationInputError(
        `${where}: minute must be a non-negative integer, found ${JSON.stringify(m)}`,
      );
    }
    const minute = Number(m);
    if (!NUMBER.test(r) || !Number.isFinite(Number(r))) {
      throw new SimulationInputError(
        `${where}: requests must be a non-negative number, found ${JSON.stringify(r)}`,
      );
    }
    if (previous === undefined) {
      firstMinute = minute;
    } else if (minute !== previous + 1) {
      // A gap could mean "no requests" or "no data"; the simulator cannot tell, so it refuses.
      throw new SimulationInputError(
        `${where}: minute ${minute} follows minute ${previous}; minutes must be consecutive (write 0 for a minute without requests)`,
      );
    }
    previous = minute;
    values.push(Number(r));
  }
  if (values.length === 0) throw new SimulationInputError(`${name}: the trace has no rows after the header`);
  return { requests: Float64Array.from(values), firstMinute };
}
