// `tidemark convert` as a user runs it: exit codes, stdout/stderr, stdin, flags.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';

const REPO = new URL('../..', import.meta.url).pathname;
const BIN = join(REPO, 'bin/tidemark.js');

function tidemark(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: opts.env ?? process.env },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.input ?? '');
  });
}

const policies = (stdout: string) => parseAllDocuments(stdout).map((d) => d.toJS());
const tmp = () => mkdtempSync(join(tmpdir(), 'tidemark-convert-'));

test('a ScaledObject converts cleanly: exit 0, a policy that `tidemark validate` accepts', async () => {
  const r = await tidemark(['convert', 'examples/migrate/scaledobject-worker.yaml']);
  assert.equal(r.code, 0, r.stderr);
  const [p] = policies(r.stdout);
  assert.equal(p.kind, 'ScalingPolicy');
  assert.equal(p.spec.metrics[0].activationThreshold, '5');
  const file = join(tmp(), 'p.yaml');
  writeFileSync(file, r.stdout);
  const v = await tidemark(['validate', file]);
  assert.equal(v.code, 0, v.stderr);
});

test('an adapter metric without --query is held back: exit 2, nothing on stdout, the reason on stderr', async () => {
  const r = await tidemark(['convert', 'examples/migrate/hpa-checkout.yaml']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /HorizontalPodAutoscaler shop\/checkout: needs a person/);
  assert.match(r.stderr, /--query http_requests_per_second=PROMQL/);
  assert.match(r.stderr, /--allow-todo/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('--allow-todo prints it with a marked TODO comment and exits 0; --query resolves it', async () => {
  const todo = await tidemark(['convert', '--allow-todo', 'examples/migrate/hpa-checkout.yaml']);
  assert.equal(todo.code, 0, todo.stderr);
  assert.match(todo.stdout, /# TODO\(tidemark convert\): spec\.metrics\[0\] \(External metric/);
  assert.match(todo.stderr, /warning: HorizontalPodAutoscaler shop\/checkout: 1 TODO/);
  const q = 'sum(rate(http_requests_total{namespace="shop",app="checkout"}[1m]))';
  const done = await tidemark([
    'convert',
    'examples/migrate/hpa-checkout.yaml',
    '--prometheus',
    'http://prometheus.monitoring.svc:9090',
    '--query',
    `http_requests_per_second=${q}`,
  ]);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, '');
  assert.doesNotMatch(done.stdout, /TODO/);
  assert.equal(policies(done.stdout)[0].spec.metrics[0].query, q);
});

test('reads stdin ("-"), prints one document per object, and reports what it could not convert', async () => {
  const input = `${await (await import('node:fs/promises')).readFile(join(REPO, 'test/convert/fixtures/cluster-list.yaml'), 'utf8')}`;
  const r = await tidemark(['convert', '-'], { input });
  assert.equal(r.code, 2);
  assert.deepEqual(
    policies(r.stdout).map((p) => p.metadata.name),
    ['thumbnails'],
  );
  assert.match(r.stderr, /error: HorizontalPodAutoscaler media\/broken: spec.minReplicas 5 is above/);
  assert.match(r.stderr, /note: skipped Deployment media\/thumbnails/);
  assert.match(r.stderr, /error: 3 of 4 objects not converted/);
});

test('user mistakes are one clear line and exit 2', async () => {
  const dir = tmp();
  const cm = join(dir, 'cm.yaml');
  writeFileSync(cm, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'spec: [unclosed\n');
  const cases: [string[], RegExp][] = [
    [['convert'], /name the files to convert/],
    [['convert', cm], /no HorizontalPodAutoscaler or ScaledObject found/],
    [['convert', broken], /invalid YAML/],
    [['convert', join(dir, 'missing.yaml')], /cannot read .*missing.yaml: ENOENT/],
    [['convert', '--query', 'nonsense', cm], /--query must be NAME=PROMQL/],
    [
      ['convert', '--prometheus', 'prometheus:9090', 'examples/migrate/hpa-checkout.yaml'],
      /--prometheus must be an http\(s\) URL/,
    ],
    [['convert', '--from-cluster', cm], /give files or --from-cluster, not both/],
  ];
  for (const [args, pattern] of cases) {
    const r = await tidemark(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('--from-cluster with an API server that does not answer says so, without a stack trace', async () => {
  const kubeconfig = join(tmp(), 'kubeconfig');
  // Nothing listens on port 9: the API server does not answer.
  const cluster = { server: 'https://127.0.0.1:9', 'insecure-skip-tls-verify': true };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: 'shop' } }],
    'current-context': 'x',
  };
  writeFileSync(kubeconfig, JSON.stringify(config));
  const r = await tidemark(['convert', '--from-cluster'], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot read from the cluster \(namespace shop\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test("the README's convert example shows what the command prints", async () => {
  const readme = (await import('node:fs')).readFileSync(join(REPO, 'README.md'), 'utf8');
  const m =
    /npx tidemark convert (examples\/migrate\/\S+\.yaml)\n```\n\n[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(
      readme,
    );
  assert.ok(m, 'the example and its output in README.md');
  const r = await tidemark(['convert', m[1]!]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(m[2], r.stdout);
});

test('a --query NAME that matches no metric is an error naming it and the metrics there are', async () => {
  const r = await tidemark([
    'convert',
    '--allow-todo',
    '--query',
    'cpuu=sum(rate(x[1m]))',
    '--query',
    'search/memory=sum(y)',
    'test/convert/fixtures/hpa-cpu-memory.yaml',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /error: --query cpuu matched no metric; the metrics are: cpu, cpu-indexer, memory, search_queue_depth \(or OBJECT\/METRIC for one object\)/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test("the README's HPA table says the CPU Utilization target that convert writes", async () => {
  const r = await tidemark(['convert', '--allow-todo', 'test/convert/fixtures/hpa-cpu-memory.yaml']);
  assert.equal(r.code, 0, r.stderr);
  const cpu = policies(r.stdout)[0].spec.metrics[0];
  assert.match(cpu.query, /^100 \* sum\(rate\(container_cpu_usage_seconds_total/, 'a percent query');
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith('| `target.type: Utilization`'));
  assert.ok(row, 'the README has a row for Utilization');
  const said = row.split('|')[2]!;
  assert.match(said, new RegExp(`^ \`${cpu.target.type}\` target`), `README: ${said}`);
  assert.match(said, /100 \* sum\(rate\(container_cpu_usage_seconds_total/);
});
