// `tidemark webhook` (the conversion webhook alone, e.g. the sandbox's component) and the
// --webhook flags of `tidemark run`, which serves it from every operator replica.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ClientConfig, ConversionWebhook } from '../webhook/webhook.ts';

export const CRD_NAME = 'scalingpolicies.tidemark.dev';

export interface WebhookFlags {
  webhookPort: number;
  webhookHost: string;
  webhookSecret: string;
  webhookSecretNamespace?: string;
  webhookService?: string;
  webhookUrl?: string;
  webhookHosts?: string[];
  webhookRecheckSeconds: number;
  webhookManageCrd: boolean;
  webhookCerts: 'self' | 'external';
}

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`expected a port, got "${v}"`);
  return n;
};
const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 3600)
    throw new InvalidArgumentError(`expected 1..3600, got "${v}"`);
  return n;
};
const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The flags both commands share. */
export function addWebhookOptions(cmd: Command): Command {
  return cmd
    .option('--webhook-port <port>', 'HTTPS port of the conversion webhook (0: any free port)', port, 9443)
    .option('--webhook-host <host>', 'address the webhook binds to', '0.0.0.0')
    .option(
      '--webhook-secret <name>',
      'Secret holding the webhook CA and serving certificate',
      'tidemark-webhook-tls',
    )
    .option('--webhook-secret-namespace <ns>', "namespace of that Secret (default: the operator's own)")
    .option(
      '--webhook-service <ns/name>',
      'Service the API server calls the webhook through (default: <own namespace>/tidemark-webhook, port 443)',
    )
    .option(
      '--webhook-url <url>',
      'call the webhook at this https URL instead of a Service (e.g. https://127.0.0.1:9443/convert)',
    )
    .option('--webhook-hosts <list>', 'extra DNS names or IPs in the serving certificate', list)
    .option(
      '--webhook-recheck-seconds <s>',
      'how often certificates and the CRD caBundle are checked',
      seconds,
      30,
    )
    .addOption(new Option('--no-webhook-manage-crd', "never patch the CRD's spec.conversion"))
    .addOption(
      new Option(
        '--webhook-certs <source>',
        'self: make and renew the CA and serving certificate in the Secret; external: only read them (cert-manager, deploy/cert-manager/)',
      )
        .choices(['self', 'external'])
        .default('self'),
    );
}

/** Where the API server reaches the webhook, and the names its certificate must carry. */
export function webhookEndpoint(
  f: WebhookFlags,
  ownNamespace: string,
): { clientConfig: ClientConfig; hosts: string[] } {
  const extra = f.webhookHosts ?? [];
  if (f.webhookUrl) {
    let url: URL;
    try {
      url = new URL(f.webhookUrl);
    } catch {
      throw new InvalidArgumentError(`--webhook-url is not a URL: ${f.webhookUrl}`);
    }
    if (url.protocol !== 'https:') throw new InvalidArgumentError('--webhook-url must be https');
    return { clientConfig: { url: f.webhookUrl }, hosts: [url.hostname.replace(/^\[|\]$/g, ''), ...extra] };
  }
  const [namespace, name] = (f.webhookService ?? `${ownNamespace}/tidemark-webhook`).split('/');
  if (!namespace || !name) throw new InvalidArgumentError('--webhook-service must be namespace/name');
  return {
    clientConfig: { service: { namespace, name, port: 443, path: '/convert' } },
    hosts: [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`, ...extra],
  };
}

/**
 * Builds the webhook from the flags (loaded lazily: `validate` and `simulate` need none of it).
 * With the operator's registry, its series are served on the operator's metrics port.
 */
export async function makeWebhook(
  f: WebhookFlags,
  ownNamespace: string,
  log: Logger,
  registry?: Registry,
): Promise<ConversionWebhook> {
  const [{ KubeConfig }, { httpTransport }, { ConversionWebhook }, { createWebhookMetrics }] =
    await Promise.all([
      import('@kubernetes/client-node'),
      import('../kube/api-client.ts'),
      import('../webhook/webhook.ts'),
      import('../metrics/registry.ts'),
    ]);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const { clientConfig, hosts } = webhookEndpoint(f, ownNamespace);
  return new ConversionWebhook({
    transport: httpTransport(kc, { maxSockets: 2 }),
    log: log.child({ component: 'webhook' }),
    port: f.webhookPort,
    host: f.webhookHost,
    secretNamespace: f.webhookSecretNamespace ?? ownNamespace,
    secretName: f.webhookSecret,
    crdName: f.webhookManageCrd ? CRD_NAME : undefined,
    clientConfig,
    hosts,
    recheckMs: f.webhookRecheckSeconds * 1000,
    certSource: f.webhookCerts,
    ...(registry ? { metrics: createWebhookMetrics(registry) } : {}),
  });
}

export function registerWebhookCommand(program: Command, ownNamespace: () => string): void {
  const cmd = program
    .command('webhook')
    .description(
      'serve only the ScalingPolicy conversion webhook, with self-managed certificates (the operator runs it too, with --webhook)',
    );
  addWebhookOptions(cmd)
    .option('--log-level <level>', 'pino log level', process.env.LOG_LEVEL ?? 'info')
    .action(async (opts: WebhookFlags & { logLevel: string }) => {
      const { pino } = await import('pino');
      const log = pino({ level: opts.logLevel, base: { component: 'tidemark' } });
      const webhook = await makeWebhook(opts, ownNamespace(), log);
      const stopped = new Promise<void>((resolve) => {
        const onSignal = () => {
          webhook.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      await webhook.start();
      await stopped;
    });
}

/** Runs the storage migration with the current kubeconfig, one progress line per page on stderr. */
export async function runMigration(log?: Logger): Promise<void> {
  const [{ KubeConfig }, { httpTransport }, { migrateStorage }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../kube/api-client.ts'),
    import('../webhook/migrate.ts'),
  ]);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const result = await migrateStorage({
    transport: httpTransport(kc, { maxSockets: 4 }),
    crdName: CRD_NAME,
    progress: (line) => (log ? log.info(line) : process.stderr.write(`${line}\n`)),
  });
  log?.info(result, 'storage migration done');
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate-storage')
    .description(
      'rewrite every ScalingPolicy in the storage version, then set the CRD status.storedVersions to just that version',
    )
    .action(async () => {
      const [{ MigrationForbiddenError }, { UserError }] = await Promise.all([
        import('../webhook/migrate.ts'),
        import('./policy-file.ts'),
      ]);
      // A missing grant is the user's to fix: one line and exit 2, not a stack trace.
      await runMigration().catch((err: unknown) => {
        throw err instanceof MigrationForbiddenError ? new UserError(err.message) : err;
      });
    });
}
