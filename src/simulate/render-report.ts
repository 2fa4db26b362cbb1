// Human-readable renderings of a simulation report: a fixed-width table for the
// terminal and a Markdown table for the benchmark's results file.
import { tableCell } from '../core/format.ts';
import type { Report, StrategyResult } from './simulate.ts';

const COLUMNS: Array<[keyof StrategyResult, string]> = [
  ['strategy', 'strategy'],
  ['replicaMinutes', 'replica-min'],
  ['underProvisionedMinutes', 'under-prov min'],
  ['unservedRequests', 'unserved req'],
  ['scaleEvents', 'scale events'],
  ['directionReversals', 'reversals'],
  ['peakReplicas', 'peak'],
];

/** replicaMinutes / oracle and underProvisionedMinutes / hpa-default, as strings ("n/a" when undefined). */
export function ratios(report: Report, r: StrategyResult): { vsOracle: string; vsHpa: string } {
  const oracle = report.results.find((x) => x.strategy === 'oracle');
  const hpa = report.results.find((x) => x.strategy === 'hpa-default');
  const vsOracle =
    oracle && oracle.replicaMinutes > 0 ? (r.replicaMinutes / oracle.replicaMinutes).toFixed(3) : 'n/a';
  let vsHpa = 'n/a';
  if (hpa) {
    if (hpa.underProvisionedMinutes > 0)
      vsHpa = (r.underProvisionedMinutes / hpa.underProvisionedMinutes).toFixed(3);
    else if (r.underProvisionedMinutes === 0) vsHpa = '1.000';
  }
  return { vsOracle, vsHpa };
}

/** Other words for the table (the backtest's, whose load is in the metric's units). */
export interface TableView {
  /** The line above the table. */
  title?: string;
  /** Column headers by result field, or `vsOracle` / `vsHpa` for the two ratio columns. */
  headers?: Partial<Record<keyof StrategyResult | 'vsOracle' | 'vsHpa', string>>;
}

function rows(report: Report, view: TableView = {}): string[][] {
  const h = view.headers ?? {};
  const header = [
    ...COLUMNS.map(([k, label]) => h[k] ?? label),
    h.vsOracle ?? 'replica-min / oracle',
    h.vsHpa ?? 'under-prov / hpa',
  ];
  const body = report.results.map((r) => {
    const { vsOracle, vsHpa } = ratios(report, r);
    return [...COLUMNS.map(([k]) => tableCell(r[k])), vsOracle, vsHpa];
  });
  return [header, ...body];
}

function describe(report: Report): string {
  const m = report.model;
  return `${report.trace.file}: ${report.trace.minutes} minutes, ${m.capacityPerReplica} requests/minute per replica, ${m.startupSeconds}s start-up, ${m.tickSeconds}s tick`;
}

/**
 * With predictive on, the ticks on which the shadow evaluation let Level 5 act, of all, and
 * their share in percent (docs/autopilot.md); undefined with predictive off.
 */
export function autopilotActing(
  report: Report,
): { acting: number; ticks: number; percent: number } | undefined {
  const t = report.extra.tidemark as { ticks?: number; autopilotActingTicks?: number } | undefined;
  if (t?.autopilotActingTicks === undefined || !t.ticks) return undefined;
  return {
    acting: t.autopilotActingTicks,
    ticks: t.ticks,
    percent: (100 * t.autopilotActingTicks) / t.ticks,
  };
}

function actingLine(report: Report): string | undefined {
  const a = autopilotActing(report);
  if (!a) return undefined;
  return `Level 5 acted on ${a.acting} of ${a.ticks} ticks (${a.percent.toFixed(1)} %); on the others the shadow evaluation kept it aside and tidemark made the HPA-compatible decision`;
}

/** A table for people, aligned in a monospace terminal. */
export function formatTable(report: Report, view: TableView = {}): string {
  const table = rows(report, view);
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    view.title ?? describe(report),
    '',
    line(table[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
  ];
  for (const r of table.slice(1)) out.push(line(r));
  const acting = actingLine(report);
  if (acting) out.push('', acting);
  const downs = report.extra.scaleDownsDuringOutage as Record<string, number> | undefined;
  if (downs) {
    out.push(
      '',
      `scale-downs while the metric was missing: ${Object.entries(downs)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  }
  const warnings = report.warnings ?? [];
  if (warnings.length > 0) out.push('', ...warnings.map((w) => `warning: ${w}`));
  return `${out.join('\n')}\n`;
}

/** The same table in Markdown. */
export function formatMarkdown(report: Report): string {
  const table = rows(report);
  const out = [
    `| ${table[0]!.join(' | ')} |`,
    `|${table[0]!.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of table.slice(1)) out.push(`| ${r.join(' | ')} |`);
  return `${out.join('\n')}\n`;
}
