// The CRD's rules and the conversion in the real kube-apiserver (issue 18 defect 3, issue 19's
// capacity, issue 18's polish): the API server accepts the CRD's CEL (it compiles them and
// bounds their cost), rejects a bad capacity or target value with the CRD's sentences,
// kubectl explain describes every behavior field, and the conversion webhook (the sandbox
// runs `tidemark webhook` from this checkout) keeps a capacity through a v1alpha1 client's
// read-modify-write and lets that client's changed behavior.tolerance win.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kubectl, waitEstablished, waitFor } from '../support/sandbox.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API server, checked field by field by the assertions
type Json = any;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CRD = 'crd/scalingpolicies.tidemark.dev';
const NS = `crd-${process.pid}`;

function betaPolicy(name: string, target: string, behavior = '{}'): string {
  return `apiVersion: tidemark.dev/v1beta1
kind: ScalingPolicy
metadata: {name: ${name}, namespace: ${NS}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 9
  prometheus: {address: "http://prometheus:9090"}
  metrics: [{name: rps, query: "sum(rate(x[1m]))", target: ${target}}]
  behavior: ${behavior}
`;
}

async function get(version: string, name: string): Promise<Json> {
  const out = await kubectl(['get', `scalingpolicies.${version}.tidemark.dev`, '-n', NS, name, '-o', 'json']);
  return JSON.parse(out.stdout);
}

/** The API server's answer to creating `manifest`: its error text, or '' when it was created. */
async function createError(manifest: string): Promise<string> {
  try {
    await kubectl(['create', '-f', '-'], { input: manifest });
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

before(async () => {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  await waitEstablished(CRD);
  await waitFor(async () => (await kubectl(['get', CRD, '-o', 'json'])).stdout.includes('"Webhook"'), {
    timeoutMs: 60_000,
    what: 'the conversion webhook on the CRD',
  });
  await kubectl(['create', 'namespace', NS]);
});

after(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => {});
});

test('the API server rejects a capacity below the value or on a Value target, and a bad value, in words', async () => {
  const below = await createError(betaPolicy('below', '{type: AverageValue, value: "50", capacity: "49.5"}'));
  assert.match(
    below,
    /spec\.metrics\[0\]\.target\.capacity: Invalid value: .*target\.capacity must be greater than or equal to target\.value/,
  );
  const onValue = await createError(betaPolicy('on-value', '{type: Value, value: "50", capacity: "80"}'));
  assert.match(onValue, /target\.capacity applies only to AverageValue targets/);
  const badValue = await createError(betaPolicy('bad-value', '{type: AverageValue, value: "abc"}'));
  assert.match(
    badValue,
    /spec\.metrics\[0\]\.target\.value: Invalid value: .*target\.value must be a positive decimal such as "50" or "0\.5"/,
  );
  assert.doesNotMatch(
    badValue,
    /evaluation error|not checked/,
    'the capacity rule skips what the pattern rejects',
  );
  assert.equal(await createError(betaPolicy('ok', '{type: AverageValue, value: 50, capacity: "80.5"}')), '');
});

test('a capacity survives a v1alpha1 read-modify-write, and goes when that write makes it invalid', async () => {
  await kubectl(['create', '-f', '-'], {
    input: betaPolicy('cap', '{type: AverageValue, value: "50", capacity: "80"}'),
  });
  const alpha = await get('v1alpha1', 'cap');
  assert.equal(alpha.spec.metrics[0].target.capacity, undefined, 'v1alpha1 has no capacity');
  alpha.spec.maxReplicas = 12;
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify(alpha) });
  const kept = await get('v1beta1', 'cap');
  assert.equal(kept.spec.maxReplicas, 12);
  assert.equal(kept.spec.metrics[0].target.capacity, '80');

  const again = await get('v1alpha1', 'cap');
  again.spec.metrics[0].target.value = '90';
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify(again) });
  const dropped = await get('v1beta1', 'cap');
  assert.deepEqual(dropped.spec.metrics[0].target, { type: 'AverageValue', value: '90' });
});

test("a v1alpha1 client's new behavior.tolerance wins over hidden per-direction tolerances", async () => {
  await kubectl(['create', '-f', '-'], {
    input: betaPolicy(
      'tol',
      '{type: AverageValue, value: "50"}',
      '{tolerance: 0.1, scaleUp: {tolerance: 0.02}, scaleDown: {tolerance: 0.02}}',
    ),
  });
  const unchanged = await get('v1alpha1', 'tol');
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify(unchanged) });
  assert.equal((await get('v1beta1', 'tol')).spec.behavior.scaleUp.tolerance, 0.02, 'kept when untouched');

  const alpha = await get('v1alpha1', 'tol');
  alpha.spec.behavior.tolerance = 0.3;
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify(alpha) });
  const beta = await get('v1beta1', 'tol');
  assert.equal(beta.spec.behavior.tolerance, 0.3);
  assert.equal(beta.spec.behavior.scaleUp.tolerance, undefined);
  assert.equal(beta.spec.behavior.scaleDown.tolerance, undefined);
});

test('kubectl explain describes every behavior field', async () => {
  for (const version of ['v1alpha1', 'v1beta1']) {
    const explain = async (path: string) =>
      (await kubectl(['explain', `scalingpolicies.spec.${path}`, `--api-version=tidemark.dev/${version}`]))
        .stdout;
    // The API server publishes a CRD's OpenAPI a moment after it is established.
    await waitFor(async () => (await explain('behavior')).includes('scaleUp'), {
      timeoutMs: 60_000,
      what: `kubectl explain (${version}) from the published OpenAPI`,
    });
    for (const path of [
      'behavior',
      'behavior.scaleUp',
      'behavior.scaleDown',
      'behavior.scaleDown.policies',
    ]) {
      const out = await explain(path);
      assert.doesNotMatch(out, /<no description>/, `${version} ${path}:\n${out}`);
    }
    assert.match(await explain('behavior.scaleUp'), /lowest count proposed over this many past seconds/);
  }
});
