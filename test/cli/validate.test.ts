import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/tidemark.js', import.meta.url).pathname;

async function tidemark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('tidemark validate accepts the shipped example', async () => {
  const r = await tidemark('validate', 'examples/request-rate.yaml');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /examples\/request-rate.yaml: valid/);
});

test('tidemark validate names the field and exits 2 without a stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `apiVersion: tidemark.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: bad}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 5
  maxReplicas: 3
  prometheus: {address: "http://prom:9090"}
  metrics: [{name: rps, query: "up", target: {type: AverageValue, value: "10"}}]
`,
  );
  const r = await tidemark('validate', file);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /spec\.minReplicas: Invalid value: minReplicas must be less than or equal to maxReplicas/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('tidemark validate rejects a file that is not a ScalingPolicy or not YAML', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const notPolicy = join(dir, 'cm.yaml');
  writeFileSync(notPolicy, 'apiVersion: v1\nkind: ConfigMap\n');
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'spec: [unclosed\n');
  for (const [file, pattern] of [
    [notPolicy, /not a ScalingPolicy/],
    [broken, /invalid YAML/],
    [join(dir, 'missing.yaml'), /cannot read policy file .*ENOENT/],
  ] as const) {
    const r = await tidemark('validate', file);
    assert.equal(r.code, 2, file);
    assert.match(r.stderr, pattern);
  }
});

test('tidemark validate checks each file in the version it names: v1beta1 per-direction tolerances, not in v1alpha1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const policy = (apiVersion: string) => `apiVersion: ${apiVersion}
kind: ScalingPolicy
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
  prometheus: {address: "http://prom:9090"}
  metrics: [{name: rps, query: "up", target: {type: AverageValue, value: "10"}}]
  behavior: {scaleUp: {tolerance: 0}, scaleDown: {tolerance: 0.05}}
`;
  const beta = join(dir, 'beta.yaml');
  const alpha = join(dir, 'alpha.yaml');
  writeFileSync(beta, policy('tidemark.dev/v1beta1'));
  writeFileSync(alpha, policy('tidemark.dev/v1alpha1'));
  const ok = await tidemark('validate', beta);
  assert.equal(ok.code, 0, ok.stderr);
  const bad = await tidemark('validate', alpha);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown field "spec\.behavior\.scaleUp\.tolerance"/);
  const other = await tidemark('validate', join(dir, 'none.yaml'));
  assert.equal(other.code, 2);
  writeFileSync(join(dir, 'v2.yaml'), policy('tidemark.dev/v2'));
  const v2 = await tidemark('validate', join(dir, 'v2.yaml'));
  assert.equal(v2.code, 2);
  assert.match(v2.stderr, /expected apiVersion tidemark\.dev\/v1alpha1 or tidemark\.dev\/v1beta1/);
});

// The input `tidemark validate -` reads on stdin.
function tidemarkWithInput(args: string[], input: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

const policyDoc = (name: string, query = 'up', minReplicas = 1) => `apiVersion: tidemark.dev/v1beta1
kind: ScalingPolicy
metadata: {name: ${name}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
  minReplicas: ${minReplicas}
  maxReplicas: 3
  prometheus: {address: "http://prom:9090"}
  metrics: [{name: rps, query: ${JSON.stringify(query)}, target: {type: AverageValue, value: "10"}}]
`;

test('tidemark validate checks every document of a multi-document file and names the one that fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const file = join(dir, 'many.yaml');
  writeFileSync(file, [policyDoc('web'), policyDoc('api', 'up', 5), policyDoc('worker')].join('---\n'));
  const r = await tidemark('validate', file);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /many\.yaml document 1 \(web\): valid/);
  assert.match(r.stdout, /many\.yaml document 3 \(worker\): valid/);
  assert.match(r.stderr, /many\.yaml document 2 \(api\): invalid ScalingPolicy:\nspec\.minReplicas/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test("tidemark validate - reads stdin, so convert's output can be checked in a pipeline", async () => {
  const r = await tidemarkWithInput(['validate', '-'], [policyDoc('web'), policyDoc('api')].join('---\n'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stdin document 1 \(web\): valid\nstdin document 2 \(api\): valid/);
});

test('tidemark validate checks every file, reports every bad one, and exits 2 if any failed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, policyDoc('bad', 'up', 5));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, policyDoc('good'));
  const r = await tidemark('validate', bad, join(dir, 'missing.yaml'), good);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml: invalid ScalingPolicy/);
  assert.match(r.stderr, /cannot read policy file .*missing\.yaml: ENOENT/);
  assert.match(r.stdout, /good\.yaml: valid/);
  assert.match(r.stderr, /2 of 3 inputs failed/);
});

test('tidemark validate parses PromQL: a missing parenthesis is an error naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const file = join(dir, 'paren.yaml');
  writeFileSync(file, policyDoc('web', 'sum(rate(http_requests_total[1m])'));
  const r = await tidemark('validate', file);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /spec\.metrics\[0\]\.query: Invalid value: .*PromQL: unexpected end of query/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

// Nine levels of ten aliases each: the yaml library refuses to expand it (a resource exhaustion attack).
const aliasBomb = [
  'a: &a [x, x, x, x, x, x, x, x, x, x]',
  ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
].join('\n');

test('tidemark validate and convert refuse an alias bomb in one line, exit 2, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
  const file = join(dir, 'bomb.yaml');
  writeFileSync(file, `${aliasBomb}\n`);
  for (const command of ['validate', 'convert']) {
    const r = await tidemark(command, file);
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, /bomb\.yaml: invalid YAML: Excessive alias count/, command);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${command}: no stack trace`);
  }
});
