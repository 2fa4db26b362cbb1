import { readFileSync } from 'node:fs';
import { type Command, CommanderError, InvalidArgumentError } from 'commander';
import { addWebhookOptions, makeWebhook, runMigration, type WebhookFlags } from './webhook.ts';

export interface RunOptions extends WebhookFlags {
  /** Serve the conversion webhook from this replica (every replica of a Deployment should). */
  webhook: boolean;
  /** Once this replica leads, run `migrate-storage` once. */
  migrateStorage: boolean;
  namespaces?: string[];
  metricsPort: number;
  metricsHost: string;
  allowedPrometheus?: string[];
  allowedPrometheusConfigmap?: string;
  leaderElectionNamespace?: string;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  maxConcurrentTicks: number;
  identity?: string;
  logLevel: string;
  shutdownGraceSeconds: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  policyMetrics: 'basic' | 'detailed';
  sharding: 'on' | 'off';
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const int =
  (min: number, max: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${v}"`);
    }
    return n;
  };

const oneOf =
  (values: string[]) =>
  (v: string): string => {
    if (!values.includes(v))
      throw new InvalidArgumentError(`expected one of ${values.join(', ')}, got "${v}"`);
    return v;
  };

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The Lease lives in the operator's own namespace: the flag, POD_NAMESPACE, the service account's, or default. */
export function leaseNamespace(flag: string | undefined, env = process.env): string {
  if (flag) return flag;
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

/**
 * The Prometheus allow-list: the flag, else TIDEMARK_ALLOWED_PROMETHEUS, else the
 * one Prometheus this operator was installed with (PROMETHEUS_URL). Empty allows nothing.
 */
export function allowedPrometheus(flag: string[] | undefined, env = process.env): string[] {
  if (flag?.length) return flag;
  if (env.TIDEMARK_ALLOWED_PROMETHEUS) return list(env.TIDEMARK_ALLOWED_PROMETHEUS);
  if (env.PROMETHEUS_URL) return [env.PROMETHEUS_URL];
  return [];
}

/** A configuration mistake: one clear line and exit code 2. */
function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  throw new CommanderError(2, 'tidemark.run', message);
}

export function registerRunCommand(program: Command): void {
  const run = program
    .command('run')
    .description('run the operator against the current kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--namespaces <list>', 'comma-separated namespaces to watch (default: all)', list)
    .option(
      '--metrics-port <port>',
      'port of /metrics, /healthz and /readyz (0: any free port)',
      int(0, 65535),
      8080,
    )
    .option('--metrics-host <host>', 'address to bind the metrics server to', '0.0.0.0')
    .option(
      '--allowed-prometheus <urls>',
      'comma-separated Prometheus base URLs policies may use (default: $TIDEMARK_ALLOWED_PROMETHEUS or $PROMETHEUS_URL)',
      list,
    )
    .option(
      '--allowed-prometheus-configmap <name>',
      "a ConfigMap in the operator's own namespace whose key `allowed` (newline- or comma-separated URLs) adds to the allow-list; watched, edits apply without a restart",
    )
    .option('--leader-election-namespace <ns>', "namespace of the Lease (default: the operator's own)")
    .option('--lease-name <name>', 'name of the Lease', 'tidemark-leader')
    .option('--lease-duration-seconds <s>', 'how long a lease is valid without renewal', int(2, 600), 15)
    .option(
      '--renew-deadline-seconds <s>',
      'a leader that cannot renew this long stops acting',
      int(1, 599),
      10,
    )
    .option('--retry-period-seconds <s>', 'how often the lease is renewed or tried', int(1, 60), 2)
    .option('--max-concurrent-ticks <n>', 'policies evaluated at once', int(1, 10_000), 32)
    .option('--identity <id>', 'leader election identity (default: host, pid and a random suffix)')
    .option('--log-level <level>', 'pino log level', process.env.LOG_LEVEL ?? 'info')
    .option('--shutdown-grace-seconds <s>', 'how long SIGTERM waits for in-flight ticks', int(0, 600), 20)
    .option(
      '--kube-api-qps <n>',
      'Kubernetes API requests per second, sustained (client-side limit; lease renewals are exempt)',
      int(1, 10_000),
      50,
    )
    .option(
      '--kube-api-burst <n>',
      'Kubernetes API requests allowed at once above the QPS',
      int(1, 10_000),
      100,
    )
    .option(
      '--policy-metrics <level>',
      'per-policy series on /metrics: basic (replicas, unhealthy conditions, errors; about 150 bytes per policy) or detailed (also limits, metric values and targets, every condition; about 1 KB per policy)',
      oneOf(['basic', 'detailed']),
      'basic',
    )
    .option(
      '--sharding <on|off>',
      'on: every replica acts on its share of the policies (a member Lease each, docs/sharding.md); off: one leader acts',
      oneOf(['on', 'off']),
      'off',
    )
    .option('--webhook', 'also serve the ScalingPolicy conversion webhook (HTTPS, --webhook-* flags)', false)
    .option(
      '--migrate-storage',
      'once this replica leads, rewrite stored ScalingPolicies in the storage version (as `tidemark migrate-storage`)',
      false,
    );
  addWebhookOptions(run).action(async (opts: RunOptions) => {
    if (opts.renewDeadlineSeconds >= opts.leaseDurationSeconds) {
      fail('--renew-deadline-seconds must be less than --lease-duration-seconds');
    }
    if (opts.kubeApiBurst < opts.kubeApiQps) fail('--kube-api-burst must be at least --kube-api-qps');
    await runOperator(opts);
  });
}

async function runOperator(opts: RunOptions): Promise<void> {
  // Loaded here, not at the top: `tidemark validate` and `simulate` need none of it.
  const [{ KubeConfig }, { pino }, { Operator }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('pino'),
    import('../operator/operator.ts'),
  ]);
  const log = pino({
    level: opts.logLevel,
    base: { component: 'tidemark' },
    // Defence in depth: credential values never reach a log line even if an object carrying them is logged.
    redact: {
      paths: ['*.token', '*.password', '*.authorization', '*.headers.authorization', 'data'],
      censor: '[redacted]',
    },
  });
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const allowed = allowedPrometheus(opts.allowedPrometheus);
  let op: InstanceType<typeof Operator>;
  try {
    op = new Operator({
      kubeconfig: kc,
      log,
      ...(opts.namespaces ? { namespaces: opts.namespaces } : {}),
      metricsPort: opts.metricsPort,
      metricsHost: opts.metricsHost,
      allowedPrometheus: allowed,
      ...(opts.allowedPrometheusConfigmap
        ? {
            // The operator's own namespace, never the policies': only its owner may widen the list.
            allowedPrometheusConfigMap: {
              namespace: leaseNamespace(undefined),
              name: opts.allowedPrometheusConfigmap,
            },
          }
        : {}),
      leaseNamespace: leaseNamespace(opts.leaderElectionNamespace),
      leaseName: opts.leaseName,
      ...(opts.identity ? { identity: opts.identity } : {}),
      maxConcurrentTicks: opts.maxConcurrentTicks,
      leaseDurationMs: opts.leaseDurationSeconds * 1000,
      renewDeadlineMs: opts.renewDeadlineSeconds * 1000,
      retryPeriodMs: opts.retryPeriodSeconds * 1000,
      kubeApiQps: opts.kubeApiQps,
      kubeApiBurst: opts.kubeApiBurst,
      policyMetrics: opts.policyMetrics,
      sharding: opts.sharding === 'on',
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  // The process's own series (resident memory, V8 heap, event-loop lag, CPU), as every
  // controller exposes: what a memory limit or a slow tick is read against. Here, not in the
  // Operator, because they describe the process, and tests build many Operators in one.
  const { collectDefaultMetrics } = await import('prom-client');
  collectDefaultMetrics({ register: op.metrics.registry });
  // Every replica serves conversion, leader or not; started first so the CRD's
  // v1alpha1 clients are served while this replica waits for the Lease.
  const webhook = opts.webhook
    ? await makeWebhook(opts, leaseNamespace(undefined), log, op.metrics.registry)
    : undefined;
  const webhookStarted = webhook?.start().catch((err: unknown) => {
    log.error({ err: String(err) }, 'conversion webhook failed to start');
  });
  try {
    await op.start();
  } catch (err) {
    // The metrics server binds first, before any watch or Lease: nothing else to stop.
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    fail(
      `metrics port ${opts.metricsPort} on ${opts.metricsHost} is in use: pass a free one with --metrics-port`,
    );
  }
  if (opts.migrateStorage) migrateWhenLeading(op, log);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'signal received');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      const stopping = Promise.all([
        op.stop(opts.shutdownGraceSeconds * 1000),
        webhookStarted,
        webhook?.stop(),
      ]);
      stopping.then(
        () => resolve(),
        (err: unknown) => {
          log.error({ err: String(err) }, 'shutdown failed');
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  // Watches and keep-alive sockets may linger a moment; the work is done, so do not wait on them.
  setTimeout(() => process.exit(0), 1000).unref();
}

/** Storage migration after an upgrade: once, by whichever replica leads first (a standby never writes). */
function migrateWhenLeading(op: { isLeader(): boolean }, log: import('pino').Logger): void {
  const timer = setInterval(() => {
    if (!op.isLeader()) return;
    clearInterval(timer);
    runMigration(log).catch((err: unknown) => log.error({ err: String(err) }, 'storage migration failed'));
  }, 1000);
  timer.unref();
}
