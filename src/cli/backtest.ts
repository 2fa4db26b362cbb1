// `tidemark backtest`: reads a policy (a file, or a live ScalingPolicy from the
// current kubeconfig), its metric's history from Prometheus through the
// operator's allow-list and credential handling, and prints the simulator's
// report of that history (src/backtest/, docs/backtest.md).
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runBacktest } from '../backtest/backtest.ts';
import { formatBacktestTable } from '../backtest/backtest-report.ts';
import { BacktestInputError } from '../backtest/errors.ts';
import { traceCsv } from '../backtest/series.ts';
import { AddressPolicy, Collector, type ReadSecret } from '../collector/index.ts';
import type { ScalingPolicy } from '../crd/types.generated.ts';
import { formatIssues, PolicyValidator } from '../crd/validate.ts';
import type { KubeTransport } from '../kube/api-client.ts';
import { parseDurationSeconds } from '../level5/forecast/duration.ts';
import type { PolicySpec } from '../policy/types.ts';
import { renderSvg } from '../simulate/plot.ts';
import { loadPolicyFile, UserError } from './policy-file.ts';
import { allowedPrometheus } from './run.ts';
import { nonNegativeInteger, positiveNumber, progressReporter } from './simulate.ts';

interface BacktestFlags {
  policy: string;
  prometheus: string;
  since: number;
  capacity?: number;
  startupSeconds: number;
  metric?: string;
  format: string;
  plot?: string;
  traceOut?: string;
  allowedPrometheus?: string[];
}

interface LoadedPolicy {
  namespace: string;
  name: string;
  spec: PolicySpec;
}

const LIVE_POLICY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** Loaded only when the cluster is needed, so a file policy works with no kubeconfig at all. */
let kube: Promise<KubeTransport> | undefined;
function kubeTransport(): Promise<KubeTransport> {
  kube ??= (async () => {
    const [{ KubeConfig }, { httpTransport }] = await Promise.all([
      import('@kubernetes/client-node'),
      import('../kube/api-client.ts'),
    ]);
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return httpTransport(kc);
  })();
  return kube;
}

async function readLivePolicy(ref: string, ns: string, name: string): Promise<LoadedPolicy> {
  let obj: unknown;
  try {
    obj = await (await kubeTransport())({
      method: 'GET',
      path: `/apis/tidemark.dev/v1beta1/namespaces/${ns}/scalingpolicies/${name}`,
    });
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 404) throw new UserError(`ScalingPolicy ${ref} not found in the cluster`);
    throw new UserError(
      `cannot read ScalingPolicy ${ref} (no file of that name, so read as NAMESPACE/NAME from the current kubeconfig's cluster): ${err instanceof Error ? err.message : err}`,
    );
  }
  const result = new PolicyValidator().validate(obj);
  if (!result.ok) throw new UserError(`ScalingPolicy ${ref} is invalid:\n${formatIssues(result.issues)}`);
  return { namespace: ns, name, spec: result.policy.spec as PolicySpec };
}

/** A file when one exists at the path; otherwise NAMESPACE/NAME of a live policy. */
export async function loadBacktestPolicy(ref: string): Promise<LoadedPolicy> {
  const live = LIVE_POLICY.exec(ref);
  if (!existsSync(ref) && live) return readLivePolicy(ref, live[1]!, live[3]!);
  const p = loadPolicyFile(ref) as ScalingPolicy;
  return {
    namespace: p.metadata?.namespace ?? 'default',
    name: p.metadata?.name ?? ref,
    spec: p.spec as PolicySpec,
  };
}

/**
 * The operator's allow-list (--allowed-prometheus, $TIDEMARK_ALLOWED_PROMETHEUS,
 * $PROMETHEUS_URL); when none is set, the address typed on the command line is
 * the one allowed. Either way the address must be a valid base URL.
 */
export function backtestAddressPolicy(address: string, flag: string[] | undefined, env = process.env) {
  const parsed = new AddressPolicy([]).check(address);
  if (!parsed.ok && parsed.reason === 'InvalidAddress') {
    throw new UserError(`--prometheus ${JSON.stringify(address)}: ${parsed.message}`);
  }
  const configured = allowedPrometheus(flag, env);
  let policy: AddressPolicy;
  try {
    policy = new AddressPolicy(configured.length > 0 ? configured : [address]);
  } catch (err) {
    throw new UserError(err instanceof Error ? err.message : String(err));
  }
  const check = policy.check(address);
  if (!check.ok) throw new UserError(`${check.message} (allowed: ${policy.entries.join(', ') || 'none'})`);
  return policy;
}

const readSecret: ReadSecret = async (namespace, name) =>
  (await (
    await kubeTransport()
  )({
    method: 'GET',
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
  })) as { data?: Record<string, string> };

async function backtestAction(o: BacktestFlags): Promise<void> {
  if (o.format !== 'json' && o.format !== 'table') {
    throw new UserError(`--format must be json or table, got "${o.format}"`);
  }
  const addressPolicy = backtestAddressPolicy(o.prometheus, o.allowedPrometheus);
  const policy = await loadBacktestPolicy(o.policy);
  const collector = new Collector({ addressPolicy, readSecret, maxPointsPerChunk: 11_000 });
  const reading = progressReporter('reading history');
  const simulating = progressReporter();
  let result: Awaited<ReturnType<typeof runBacktest>>;
  try {
    result = await runBacktest({
      ...policy,
      collector,
      prometheus: o.prometheus,
      sinceSeconds: o.since,
      nowMs: Date.now(),
      ...(o.metric !== undefined ? { metric: o.metric } : {}),
      ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
      startupSeconds: o.startupSeconds,
      onReadProgress: reading.onProgress,
      onSimulateProgress: simulating.onProgress,
    });
  } catch (err) {
    if (err instanceof BacktestInputError) throw new UserError(err.message);
    throw err;
  } finally {
    reading.done();
    simulating.done();
    collector.close();
  }
  for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
  writeOutputs(o, result);
  process.stdout.write(
    o.format === 'json'
      ? `${JSON.stringify(result.report, null, 2)}\n`
      : formatBacktestTable(result.simulation.report, result.report),
  );
}

function writeOutputs(o: BacktestFlags, r: Awaited<ReturnType<typeof runBacktest>>): void {
  const write = (file: string, text: string) => {
    try {
      writeFileSync(file, text);
    } catch (err) {
      throw new UserError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  };
  if (o.traceOut) {
    write(o.traceOut, traceCsv(r.replay.trace));
    if (r.replay.outages.length > 0) {
      const flags = r.replay.outages.map((x) => `--outage ${x.startMinute}:${x.lengthMinutes}`).join(' ');
      process.stderr.write(`note: to replay ${o.traceOut} with simulate as backtest did, add ${flags}\n`);
    }
  }
  if (!o.plot) return;
  const { model, extra } = r.report;
  const forecast = r.simulation.series.forecast;
  const svg = renderSvg(r.simulation.series, {
    title: `tidemark backtest: ${extra.backtest.policy} ${extra.backtest.metric}, ${extra.backtest.from} – ${extra.backtest.to}`,
    capacity: model.capacityPerReplica ?? model.target,
    unit: { axis: `${extra.backtest.metric} (metric units)`, short: 'metric units' },
    ...(r.replay.outages.length > 0 ? { outages: r.replay.outages } : {}),
    ...(forecast ? { bands: [{ label: 'tidemark forecast (lower–upper)', ...forecast }] } : {}),
  });
  write(o.plot, svg);
}

function duration(v: string): number {
  try {
    return parseDurationSeconds(v.trim());
  } catch {
    throw new UserError(`--since must be a duration such as 90m, 24h or 7d, got "${v}"`);
  }
}

export function registerBacktestCommand(program: Command): void {
  program
    .command('backtest')
    .description(
      "replay a policy's own metric history from Prometheus through the policy engine and the HPA, KEDA and oracle baselines",
    )
    .requiredOption(
      '--policy <file.yaml|ns/name>',
      'ScalingPolicy YAML file, or NAMESPACE/NAME of a live one',
    )
    .requiredOption('--prometheus <url>', 'Prometheus base URL to read the history from')
    .requiredOption('--since <duration>', 'how far back to read, e.g. 90m, 24h, 7d', duration)
    .option(
      '--capacity <n>',
      "what one ready replica serves, in the metric's units (default: judge against the policy's target)",
      positiveNumber('--capacity'),
    )
    .option(
      '--startup-seconds <s>',
      'seconds from requesting a replica until it is ready',
      nonNegativeInteger('--startup-seconds'),
      60,
    )
    .option('--metric <name>', "the policy's metric to replay (default: the first)")
    .option('--format <format>', 'json or table', 'table')
    .option('--plot <file.svg>', 'also draw load, ready capacity and replicas over time as SVG')
    .option('--trace-out <file.csv>', 'also write the replayed series as a minute,requests CSV for simulate')
    .option(
      '--allowed-prometheus <urls>',
      'comma-separated allow-list, as for `run` (default: $TIDEMARK_ALLOWED_PROMETHEUS, $PROMETHEUS_URL, else the --prometheus address)',
      (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
    )
    .action(backtestAction);
}
