// The report's "Where the bytes go" section, from the heap snapshots (bench/scale/heap.ts).
import { round, row } from './figures.ts';
import type { HeapFigures } from './heap.ts';
import type { ShardedResult } from './sharded.ts';
import type { SizeResult } from './size.ts';

interface Labelled {
  label: string;
  peakRssMiB: number;
  heap: HeapFigures;
  loadAverageBefore: number[];
}

/** Every run that has a snapshot: the single-replica sizes, then each sharded replica. */
export function heapRuns(results: SizeResult[], sharded?: ShardedResult): Labelled[] {
  const out: Labelled[] = [];
  for (const r of results)
    if (r.heap)
      out.push({
        label: `${r.policies}`,
        peakRssMiB: r.operator.peakRssMiB,
        heap: r.heap,
        loadAverageBefore: r.loadAverageBefore,
      });
  for (const p of sharded?.perReplica ?? [])
    if (p.heap)
      out.push({
        label: `sharded ${p.identity}`,
        peakRssMiB: p.peakRssMiB,
        heap: p.heap,
        loadAverageBefore: sharded!.loadAverageBefore,
      });
  return out;
}

const mib = (bytes: number | undefined) => round((bytes ?? 0) / 2 ** 20, 2);
const FIELDS = [
  '#policies',
  '#informers',
  '#byTarget',
  '#scheduler',
  '#targets',
  '#reconciler',
  'metrics',
  '#collector',
];

export function heapMarkdown(runs: Labelled[], beside: (loadAverageBefore: number[]) => string): string[] {
  if (runs.length === 0) return [];
  const last = runs.at(-1)!.heap.breakdown;
  return [
    '## Where the bytes go',
    '',
    'A heap snapshot of each operator at the window’s end (node’s `--heapsnapshot-signal`, taken after the RSS was read), ' +
      'summarised by bench/scale/heap.ts: retained sizes from the snapshot’s dominator tree. ' +
      '“Watched, not owned” is a policy’s stub plus its share of the timers, the target index, the informers and target watches; ' +
      '“owning adds” is the full object over the stub plus the reconciler’s memory, the metric series and the collector per owned policy ' +
      '(fixed parts of those fields are divided among the policies too, which overstates them). Bytes are live heap, not RSS.',
    '',
    row([
      'run',
      'peak RSS (MiB)',
      'live heap (MiB)',
      'held in full',
      'stubs',
      'full object (B)',
      'stub (B)',
      'reconciler memory per policy (B)',
      'timers',
      'watched, not owned (B/policy)',
      'owning adds (B/policy)',
      'watched and owned (B/policy)',
      'ran beside',
    ]),
    row(Array(13).fill('---')),
    ...runs.map(({ label, peakRssMiB, loadAverageBefore, heap: { breakdown: b, perPolicy: p } }) =>
      row([
        label,
        peakRssMiB,
        b.liveMiB,
        b.policies.full,
        b.policies.stub,
        b.policies.fullBytes,
        b.policies.stub ? b.policies.stubBytes : '–',
        b.reconcilerMemory.bytes,
        b.timers.count,
        p.watched ?? '–',
        p.owned ?? '–',
        p.watchedAndOwned,
        beside(loadAverageBefore),
      ]),
    ),
    '',
    'Retained by the operator’s fields (MiB): what only that field keeps alive; objects two fields share are counted in neither ' +
      '(the informers cache the same policy objects as `#policies`, counted per object above; the reconciler reads `#targets` too), hence the near-zero columns.',
    '',
    row(['run', ...FIELDS]),
    row(Array(FIELDS.length + 1).fill('---')),
    ...runs.map(({ label, heap: { breakdown: b } }) => row([label, ...FIELDS.map((f) => mib(b.fields[f]))])),
    '',
    `Largest constructors by self size in the last run (${runs.at(-1)!.label}): ` +
      last.top.map((t) => `${t.name} ${t.MiB} MiB (${t.count})`).join(', '),
    '',
  ];
}
