// Storage migration (issue 13, item 3): policies written while v1alpha1 was the storage
// version sit in etcd as v1alpha1; `tidemark migrate-storage` rewrites each in v1beta1 (read
// straight from the sandbox's etcd) and leaves status.storedVersions as [v1beta1]; a second
// run changes nothing. The shipped CRD is restored whatever happens.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { kubectl, sandboxEnv, waitFor } from '../support/sandbox.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CRD_FILE = join(REPO, 'crds/scalingpolicy.yaml');
const CRD = 'crd/scalingpolicies.tidemark.dev';
const NS = `migrate-${process.pid}`;
const NAMES = ['a', 'b', 'c'];

/** The CRD as an older release shipped it: v1alpha1 stored, v1beta1 served. */
function alphaStoredCrd(): string {
  const crd = parse(readFileSync(CRD_FILE, 'utf8'));
  for (const v of crd.spec.versions) v.storage = v.name === 'v1alpha1';
  return stringify(crd, { aliasDuplicateObjects: false });
}

/** The sandbox etcd's client URL, from its command line. */
function etcdUrl(): string {
  const [pid] = readFileSync(join(sandboxEnv().dir, 'pids/etcd.pid'), 'utf8').trim().split(' ');
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const url = args[args.indexOf('--listen-client-urls') + 1];
  assert.ok(url, 'etcd has --listen-client-urls');
  return url.split(',')[0]!;
}

/** The apiVersion a policy is stored in, read from etcd itself (custom resources are stored as JSON). */
async function storedAs(name: string): Promise<string> {
  const key = Buffer.from(`/registry/tidemark.dev/scalingpolicies/${NS}/${name}`).toString('base64');
  const res = await fetch(`${etcdUrl()}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key }) });
  const body = (await res.json()) as { kvs?: Array<{ value: string }> };
  const value = body.kvs?.[0]?.value;
  assert.ok(value, `no etcd key for ${name}`);
  return (JSON.parse(Buffer.from(value, 'base64').toString()) as { apiVersion: string }).apiVersion;
}

async function storedVersions(): Promise<string[]> {
  const { stdout } = await kubectl(['get', CRD, '-o', 'jsonpath={.status.storedVersions}']);
  return JSON.parse(stdout) as string[];
}

async function migrate(): Promise<string> {
  const { stderr } = await run(process.execPath, [join(REPO, 'bin/tidemark.js'), 'migrate-storage'], {
    env: { ...process.env, KUBECONFIG: sandboxEnv().kubeconfig },
  });
  return stderr;
}

before(async () => {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: alphaStoredCrd() });
  await kubectl(['create', 'namespace', NS]);
});

after(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => {});
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
});

test('migrate-storage rewrites v1alpha1-stored policies in v1beta1 and leaves storedVersions [v1beta1]', async () => {
  for (const name of NAMES) {
    await kubectl(['apply', '-f', '-'], {
      input: `apiVersion: tidemark.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: ${name}, namespace: ${NS}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
  maxReplicas: 5
  prometheus: {address: "http://prometheus:9090"}
  metrics: [{name: rps, query: "up", target: {type: AverageValue, value: "10"}}]
`,
    });
  }
  for (const name of NAMES) assert.equal(await storedAs(name), 'tidemark.dev/v1alpha1');
  // The upgrade: the CRD now stores v1beta1; what is in etcd stays as it was.
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
  await waitFor(async () => (await storedVersions()).includes('v1beta1'), {
    timeoutMs: 30_000,
    what: 'v1beta1 stored',
  });
  assert.deepEqual((await storedVersions()).sort(), ['v1alpha1', 'v1beta1']);
  assert.equal(await storedAs('a'), 'tidemark.dev/v1alpha1');

  const progress = await migrate();
  assert.match(progress, /rewrote \d+ scalingpolicies in v1beta1/);
  assert.match(progress, /storedVersions: \[v1beta1\]/);
  for (const name of NAMES) assert.equal(await storedAs(name), 'tidemark.dev/v1beta1');
  assert.deepEqual(await storedVersions(), ['v1beta1']);

  // Idempotent: again, and the objects still read the same in both versions.
  await migrate();
  assert.deepEqual(await storedVersions(), ['v1beta1']);
  const { stdout } = await kubectl(['get', `scalingpolicies.v1alpha1.tidemark.dev`, '-n', NS, '-o', 'name']);
  assert.deepEqual(
    stdout.trim().split('\n').sort(),
    NAMES.map((n) => `scalingpolicy.tidemark.dev/${n}`),
  );
});
