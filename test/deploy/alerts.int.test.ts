// The alert rules, checked by Prometheus's own tools: `promtool check rules`,
// `promtool test rules` (deploy/alerts.rules.test.yaml: every alert's timing
// and text), and a real Prometheus that loads them and fires one in a
// constructed fault. The sandbox's Prometheus loads no rule files (its config
// belongs to the sandbox scripts), so this starts a second, short-lived one
// on a free port, scraping a tiny server that plays an operator whose policy
// is stuck in fallback. Prometheus and promtool come from Debian's prometheus
// package, which sandbox/build.sh installs.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ALERT_RULES, prometheusRule } from '../../scripts/gen-deploy.ts';
import { waitFor } from '../support/sandbox.ts';
import { DEPLOY } from './support/manifests.ts';
import { freePort } from './support/operator.ts';

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const tmp = mkdtempSync(join(tmpdir(), 'tidemark-alerts-'));
let server: Server | undefined;
let prometheus: ChildProcess | undefined;

after(() => {
  prometheus?.kill('SIGKILL');
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function promtool(...args: string[]): string {
  return execFileSync(PROMTOOL, args, { cwd: DEPLOY, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('promtool check rules: deploy/alerts.rules.yaml and the PrometheusRule groups', () => {
  // promtool must find every alert the file declares (a rule it could not parse would be missing).
  const declared = (
    parse(readFileSync(ALERT_RULES, 'utf8')) as { groups: Array<{ rules: unknown[] }> }
  ).groups.flatMap((g) => g.rules).length;
  assert.ok(declared >= 8, `the file declares the alerts (${declared})`);
  assert.match(
    promtool('check', 'rules', 'alerts.rules.yaml'),
    new RegExp(`SUCCESS: ${declared} rules found`),
  );
  const groups = join(tmp, 'prometheusrule-groups.yaml');
  writeFileSync(
    groups,
    stringify({ groups: (parse(prometheusRule()) as { spec: { groups: unknown } }).spec.groups }),
  );
  assert.match(promtool('check', 'rules', groups), /SUCCESS/);
});

test('promtool test rules: deploy/alerts.rules.test.yaml', () => {
  assert.match(promtool('test', 'rules', 'alerts.rules.test.yaml'), /SUCCESS/);
});

interface RuleGroup {
  name: string;
  rules: Array<{
    name: string;
    state?: string;
    alerts?: Array<{ labels: Record<string, string>; state: string }>;
  }>;
}

test('a Prometheus loaded with the rules fires TidemarkPolicyStuckInFallback for a policy stuck in fallback', async () => {
  // The fault: an operator whose policy shop/checkout is in fallback.
  server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# TYPE tidemark_policy_fallback_active gauge',
        'tidemark_policy_fallback_active{namespace="shop",policy="checkout"} 1',
        'tidemark_policy_fallback_active{namespace="shop",policy="cart"} 0',
        '# TYPE tidemark_leader gauge',
        'tidemark_leader 1',
        '',
      ].join('\n'),
    );
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const exporter = `127.0.0.1:${(server.address() as { port: number }).port}`;

  // The rules exactly as shipped, plus a copy whose `for:` durations are cut to
  // 1s so that firing shows within seconds (the shipped timings are proven by
  // promtool test rules above).
  const rules = parse(readFileSync(ALERT_RULES, 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ for?: string }> }>;
  };
  const fast = {
    groups: rules.groups.map((g) => ({
      ...g,
      name: `${g.name}-fast`,
      rules: g.rules.map((r) => ({ ...r, for: '1s' })),
    })),
  };
  writeFileSync(join(tmp, 'fast.rules.yaml'), stringify(fast));
  const port = await freePort();
  writeFileSync(
    join(tmp, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [ALERT_RULES.pathname, join(tmp, 'fast.rules.yaml')],
      scrape_configs: [{ job_name: 'tidemark', static_configs: [{ targets: [exporter] }] }],
    }),
  );
  promtool('check', 'config', join(tmp, 'prometheus.yml'));
  let log = '';
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(tmp, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(tmp, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });

  const groups = await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/rules?type=alert`, {
        signal: AbortSignal.timeout(2000),
      });
      const body = (await res.json()) as { data: { groups: RuleGroup[] } };
      const fastGroup = body.data.groups.find((g) => g.name === 'tidemark-fast');
      const firing =
        fastGroup?.rules.find((r) => r.name === 'TidemarkPolicyStuckInFallback')?.state === 'firing';
      return firing ? body.data.groups : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 1000,
      what: `TidemarkPolicyStuckInFallback firing (prometheus log: ${log})`,
    },
  );
  const alertOf = (group: string) =>
    groups.find((g) => g.name === group)!.rules.find((r) => r.name === 'TidemarkPolicyStuckInFallback')!;
  // Firing for the stuck policy only, with its labels.
  assert.deepEqual(
    alertOf('tidemark-fast').alerts?.map((a) => [
      a.state,
      a.labels.namespace,
      a.labels.policy,
      a.labels.severity,
    ]),
    [['firing', 'shop', 'checkout', 'warning']],
  );
  // The shipped rule sees the same fault and waits out its 10 minutes.
  assert.deepEqual(
    alertOf('tidemark').alerts?.map((a) => [a.state, a.labels.policy]),
    [['pending', 'checkout']],
  );
  // A leader is up: neither "down" nor "no leader" fires.
  for (const name of ['TidemarkOperatorDown', 'TidemarkNoLeader']) {
    const rule = groups.find((g) => g.name === 'tidemark-fast')!.rules.find((r) => r.name === name)!;
    assert.equal(rule.state, 'inactive', `${name} is ${rule.state}`);
  }
});
