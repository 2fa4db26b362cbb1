// The backtest's report: the simulator's, in the metric's units, plus where the
// history came from. Without --capacity nothing is known about what a replica
// can serve, so the replay measures against the policy's own target instead
// (a replica "serves" target units): under-provisioning becomes time above
// target, and the fields are renamed so that no one reads it as lost requests.
import { formatTable, type TableView } from '../simulate/render-report.ts';
import type { Report, StrategyResult } from '../simulate/simulate.ts';

export interface BacktestSource {
  prometheus: string;
  policy: string;
  metric: string;
  query: string;
  /** ISO times of the first minute's start and the last minute's end. */
  from: string;
  to: string;
  stepSeconds: number;
  samples: number;
  missingMinutes: number;
}

/** A strategy's numbers when there is no capacity: measured against the target. */
export interface TargetResult {
  strategy: StrategyResult['strategy'];
  replicaMinutes: number;
  /** Minutes in which the load per ready replica exceeded the target at some point. */
  minutesAboveTarget: number;
  /** ∫ max(0, load − ready × target) dt, in metric units × minutes. */
  loadAboveTarget: number;
  scaleEvents: number;
  directionReversals: number;
  peakReplicas: number;
}

export interface BacktestReport {
  trace: Report['trace'];
  model: {
    /** null when judged against the target (no --capacity). */
    capacityPerReplica: number | null;
    startupSeconds: number;
    tickSeconds: number;
    basis: 'capacity' | 'target';
    target: number;
  };
  results: StrategyResult[] | TargetResult[];
  extra: Record<string, unknown> & { backtest: BacktestSource };
}

export function backtestReport(
  sim: Report,
  o: { capacity: number | undefined; target: number; source: BacktestSource },
): BacktestReport {
  const basis = o.capacity === undefined ? 'target' : 'capacity';
  const results =
    basis === 'capacity'
      ? sim.results
      : sim.results.map(
          (r): TargetResult => ({
            strategy: r.strategy,
            replicaMinutes: r.replicaMinutes,
            minutesAboveTarget: r.underProvisionedMinutes,
            loadAboveTarget: r.unservedRequests,
            scaleEvents: r.scaleEvents,
            directionReversals: r.directionReversals,
            peakReplicas: r.peakReplicas,
          }),
        );
  return {
    trace: sim.trace,
    model: {
      capacityPerReplica: o.capacity ?? null,
      startupSeconds: sim.model.startupSeconds,
      tickSeconds: sim.model.tickSeconds,
      basis,
      target: o.target,
    },
    results,
    extra: { ...sim.extra, backtest: o.source },
  };
}

/** The simulator's table with the backtest's words: metric units, and "above target" without a capacity. */
export function formatBacktestTable(sim: Report, report: BacktestReport): string {
  const s = report.extra.backtest;
  const m = report.model;
  const basis =
    m.capacityPerReplica === null
      ? `judged against the target ${m.target}/replica (no --capacity)`
      : `${m.capacityPerReplica}/replica capacity`;
  const view: TableView = {
    title: `${sim.trace.file}: ${sim.trace.minutes} minutes from ${s.from} to ${s.to}, in the metric's units; ${basis}; ${m.startupSeconds}s start-up, ${m.tickSeconds}s tick`,
    headers:
      m.capacityPerReplica === null
        ? {
            underProvisionedMinutes: 'above-target min',
            unservedRequests: 'load above target',
            vsHpa: 'above-target / hpa',
          }
        : { unservedRequests: 'unserved load' },
  };
  // The simulator's warnings speak of --capacity and a trace; the backtest's own go to stderr.
  return formatTable({ ...sim, warnings: [] }, view);
}
