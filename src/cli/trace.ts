// `tidemark trace synth`: writes a seeded synthetic trace (src/trace/synth.ts) as the
// `minute,requests` CSV that `tidemark simulate` and the workload simulator read, so the
// quick start needs nothing beside a clone.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  checkSynthOptions,
  SHAPES,
  type Shape,
  SynthOptionsError,
  synthTrace,
  traceCsv,
} from '../trace/synth.ts';
import { UserError } from './policy-file.ts';
import { positiveNumber } from './simulate.ts';

function wholeNumber(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim())) throw new UserError(`${flag} must be a whole number, got "${v}"`);
    return Number(v);
  };
}

function shape(v: string): Shape {
  if (!(SHAPES as readonly string[]).includes(v))
    throw new UserError(`--shape must be one of ${SHAPES.join(', ')}, got "${v}"`);
  return v as Shape;
}

export function registerTraceCommand(program: Command): void {
  const trace = program.command('trace').description('make request traces for `tidemark simulate`');
  trace
    .command('synth')
    .description('write a seeded synthetic per-minute request trace as CSV (minute,requests)')
    .requiredOption(
      '--shape <shape>',
      `${SHAPES.join(' | ')} (surges: jobs on the hour and the half hour; batches: make the HPA's defaults flap)`,
      shape,
    )
    .requiredOption('--days <n>', 'length in days (1 to 366)', wholeNumber('--days'))
    .requiredOption(
      '--seed <s>',
      'seed (0 to 4294967295): the same seed gives the same trace',
      wholeNumber('--seed'),
    )
    .option(
      '--peak <r>',
      "highest requests/minute of the shape's noise-free rhythm (surges and bursts go above it)",
      positiveNumber('--peak'),
    )
    .option('--out <file.csv>', 'write to this file instead of stdout')
    .action((o: { shape: Shape; days: number; seed: number; peak?: number; out?: string }) => {
      const opts = {
        shape: o.shape,
        days: o.days,
        seed: o.seed,
        ...(o.peak !== undefined ? { peak: o.peak } : {}),
      };
      try {
        checkSynthOptions(opts);
      } catch (err) {
        if (err instanceof SynthOptionsError) throw new UserError(`--${err.message}`);
        throw err;
      }
      const csv = traceCsv(synthTrace(opts));
      if (o.out === undefined) {
        // A reader that stops early (`| head`) ends quietly: main.ts's endQuietlyWhenStdoutCloses.
        process.stdout.write(csv);
        return;
      }
      try {
        writeFileSync(o.out, csv);
      } catch (err) {
        throw new UserError(`cannot write ${o.out}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
      process.stderr.write(`wrote ${o.out}: ${o.days * 1440} minutes of ${o.shape} (seed ${o.seed})\n`);
    });
}
