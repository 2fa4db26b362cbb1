// The conversion webhook in the sandbox (issue 13, items 2-3): the sandbox runs `tidemark
// webhook` as a component (sandbox/env-up.sh), exactly as an operator replica serves it. The
// real kube-apiserver converts through it: a policy written as v1alpha1 reads as v1beta1 and
// back, per-direction tolerances survive a v1alpha1 client's read-modify-write, the webhook
// presents the certificate from its own Secret, and the CRD's conversion (with its caBundle)
// comes back after it is wiped or the CRD is re-applied.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { kubectl, waitEstablished, waitFor } from '../support/sandbox.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API server, checked field by field by the assertions
type Json = any;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CRD = 'crd/scalingpolicies.tidemark.dev';
const NS = `conv-${process.pid}`;
const SECRET = ['-n', 'kube-system', 'secret', 'tidemark-webhook-tls'];

const alphaPolicy = `apiVersion: tidemark.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: web, namespace: ${NS}, labels: {team: shop}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 9
  prometheus: {address: "http://prometheus:9090"}
  metrics: [{name: rps, query: "sum(rate(x[1m]))", target: {type: AverageValue, value: "50"}}]
  behavior: {tolerance: 0.2, scaleDown: {stabilizationWindowSeconds: 60}}
`;

async function getJson(args: string[]): Promise<Json> {
  return JSON.parse((await kubectl(['get', ...args, '-o', 'json'])).stdout);
}

const policy = (version: string) => getJson([`scalingpolicies.${version}.tidemark.dev`, '-n', NS, 'web']);

async function conversion(): Promise<Json> {
  return (await getJson([CRD])).spec.conversion;
}

/** The conversion the webhook keeps on the CRD: its URL and its Secret's CA bundle. */
async function webhookInPlace(): Promise<boolean> {
  const [c, secret] = await Promise.all([conversion(), getJson(SECRET)]);
  return (
    c?.strategy === 'Webhook' &&
    c.webhook?.clientConfig?.url === process.env.TIDEMARK_WEBHOOK_URL &&
    c.webhook.clientConfig.caBundle === secret.data['ca.crt']
  );
}

before(async () => {
  assert.ok(process.env.TIDEMARK_WEBHOOK_URL, 'the sandbox names its webhook (sandbox/env-up.sh)');
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  await waitEstablished(CRD);
  await waitFor(webhookInPlace, { timeoutMs: 60_000, what: 'the webhook on the CRD' });
  await kubectl(['create', 'namespace', NS]);
});

after(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => {});
});

test('written as v1alpha1, read as v1beta1 and back; v1beta1-only fields survive a v1alpha1 read-modify-write', async () => {
  await kubectl(['apply', '-f', '-'], { input: alphaPolicy });
  const beta = await policy('v1beta1');
  assert.equal(beta.apiVersion, 'tidemark.dev/v1beta1');
  assert.equal(beta.spec.behavior.tolerance, 0.2);
  assert.equal(beta.spec.behavior.scaleDown.stabilizationWindowSeconds, 60);
  assert.equal(beta.metadata.labels.team, 'shop');

  await kubectl([
    'patch',
    'scalingpolicies.v1beta1.tidemark.dev',
    '-n',
    NS,
    'web',
    '--type=merge',
    '-p',
    '{"spec":{"behavior":{"scaleUp":{"tolerance":0},"scaleDown":{"tolerance":0.05}}}}',
  ]);
  const alpha = await policy('v1alpha1');
  assert.equal(alpha.apiVersion, 'tidemark.dev/v1alpha1');
  assert.equal(alpha.spec.behavior.scaleUp.tolerance, undefined, 'v1alpha1 has no per-direction tolerance');
  assert.match(alpha.metadata.annotations['tidemark.dev/v1beta1-fields'], /scaleDown\.tolerance/);

  // A v1alpha1 client writes the whole object back with a change of its own.
  alpha.spec.maxReplicas = 12;
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify(alpha) });
  const after = await policy('v1beta1');
  assert.equal(after.spec.maxReplicas, 12);
  assert.equal(after.spec.behavior.scaleUp.tolerance, 0);
  assert.equal(after.spec.behavior.scaleDown.tolerance, 0.05);
  assert.equal(after.spec.behavior.tolerance, 0.2);
  assert.equal(
    after.metadata.annotations?.['tidemark.dev/v1beta1-fields'],
    undefined,
    'the annotation is consumed',
  );
  // kubectl get sp prints the same columns in both versions. The AGE column is cut: the two
  // reads can fall on either side of a second (a CI run saw 1s beside 2s).
  const withoutAge = (table: string) => table.replace(/[ \t]+\S+$/gm, '');
  const rows = await Promise.all(
    ['v1alpha1', 'v1beta1'].map(
      async (v) => (await kubectl(['get', `scalingpolicies.${v}.tidemark.dev`, '-n', NS])).stdout,
    ),
  );
  assert.match(rows[0]!, /AGE\n/, 'the table ends with the AGE column');
  assert.equal(withoutAge(rows[0]!), withoutAge(rows[1]!));
});

test("the webhook serves the certificate from its own Secret, signed by the CRD's caBundle", async () => {
  const url = new URL(process.env.TIDEMARK_WEBHOOK_URL!);
  const secret = await getJson(SECRET);
  const ca = Buffer.from(secret.data['ca.crt'], 'base64').toString();
  const served = await new Promise<X509Certificate>((resolve, reject) => {
    // Verified against the Secret's CA, as the API server verifies it against the caBundle.
    const socket = connect({ host: url.hostname, port: Number(url.port), ca, servername: undefined }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
  const stored = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  assert.equal(served.fingerprint256, stored.fingerprint256);
  assert.ok(served.checkIP('127.0.0.1'));
  assert.equal((await conversion()).webhook.clientConfig.caBundle, secret.data['ca.crt']);
});

test('the conversion and caBundle come back after the CRD is re-applied or its conversion wiped', async () => {
  // Re-applying the shipped CRD (no conversion stanza) leaves the webhook's conversion alone.
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  assert.ok(await webhookInPlace());
  await kubectl(['apply', '-f', join(REPO, 'crds/scalingpolicy.yaml')]);
  assert.ok(await webhookInPlace());
  // A hand edit (or an older manifest with `strategy: None`) is undone by the webhook's recheck.
  await kubectl([
    'patch',
    CRD,
    '--type=json',
    '-p',
    '[{"op":"replace","path":"/spec/conversion","value":{"strategy":"None"}}]',
  ]);
  assert.equal((await conversion()).strategy, 'None');
  await waitFor(webhookInPlace, { timeoutMs: 60_000, what: 'the webhook to restore the CRD conversion' });
  const beta = await policy('v1beta1');
  assert.equal(beta.spec.behavior.scaleDown.tolerance, 0.05);
});
