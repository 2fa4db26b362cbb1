// The conversion webhook's own series on the operator's registry (served on its metrics
// port): requests by HTTP code, objects converted by from/to version, failures by reason,
// request latency, and the seconds left until each certificate's notAfter. The webhook here
// is the real HTTPS server; the API server it reads its Secret from is scripted (no Secret
// yet, then the one it writes), because certificates and conversions are what is measured.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { V1ALPHA1, V1BETA1 } from '../../src/crd/version-conversion.ts';
import { KubeApiError, type KubeRequest } from '../../src/kube/api-client.ts';
import { createWebhookMetrics } from '../../src/metrics/registry.ts';
import { ConversionWebhook } from '../../src/webhook/webhook.ts';

const registry = new Registry();
let caPem = '';
let webhook: ConversionWebhook;

/** No Secret at first; the one the webhook creates is kept and its CA remembered for the client. */
async function apiServer(req: KubeRequest): Promise<unknown> {
  if (req.method === 'GET') throw new KubeApiError(404, 'NotFound', 'no Secret yet');
  if (req.method === 'POST') {
    const data = (req.body as { data: Record<string, string> }).data;
    caPem = Buffer.from(data['ca.crt']!, 'base64').toString('utf8');
    return req.body;
  }
  throw new Error(`unexpected ${req.method} ${req.path}`);
}

before(async () => {
  webhook = new ConversionWebhook({
    transport: apiServer,
    log: pino({ level: 'silent' }),
    port: 0,
    host: '127.0.0.1',
    secretNamespace: 'tidemark-system',
    secretName: 'tidemark-webhook-tls',
    crdName: undefined,
    clientConfig: { url: 'https://127.0.0.1/convert' },
    hosts: ['127.0.0.1'],
    recheckMs: 3_600_000,
    metrics: createWebhookMetrics(registry),
  });
  await webhook.start();
});

after(() => webhook.stop());

function post(body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: webhook.port, path: '/convert', method: 'POST', ca: caPem },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const policy = (apiVersion: string, name: string) => ({
  apiVersion,
  kind: 'ScalingPolicy',
  metadata: { name, namespace: 'shop' },
  spec: { behavior: {} },
});
const review = (desiredAPIVersion: string, objects: unknown[]) =>
  JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    request: { uid: 'u', desiredAPIVersion, objects },
  });

/** The value of one series in the exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('requests, conversions by version, failures by reason and latency reach the registry', async () => {
  assert.equal(await post(review(V1BETA1, [policy(V1ALPHA1, 'a'), policy(V1ALPHA1, 'b')])), 200);
  assert.equal(await post(review(V1ALPHA1, [policy(V1BETA1, 'c')])), 200);
  assert.equal(await post(review('tidemark.dev/v9', [policy(V1BETA1, 'd')])), 200);
  assert.equal(await post('{'), 400);
  const text = await registry.metrics();
  assert.equal(sample(text, 'tidemark_webhook_requests_total{code="200"}'), 3);
  assert.equal(sample(text, 'tidemark_webhook_requests_total{code="400"}'), 1);
  assert.equal(
    sample(text, 'tidemark_webhook_conversions_total{from_version="v1alpha1",to_version="v1beta1"}'),
    2,
  );
  assert.equal(
    sample(text, 'tidemark_webhook_conversions_total{from_version="v1beta1",to_version="v1alpha1"}'),
    1,
  );
  assert.equal(sample(text, 'tidemark_webhook_failures_total{reason="conversion"}'), 1);
  assert.equal(sample(text, 'tidemark_webhook_failures_total{reason="malformed"}'), 1);
  assert.equal(sample(text, 'tidemark_webhook_request_duration_seconds_count'), 4);
});

test('certificate expiry: seconds until the notAfter of the served certificate and of its CA', async () => {
  const text = await registry.metrics();
  const serving = sample(text, 'tidemark_webhook_certificate_expiry_seconds{certificate="serving"}');
  const ca = sample(text, 'tidemark_webhook_certificate_expiry_seconds{certificate="ca"}');
  assert.ok(serving !== undefined && ca !== undefined, text);
  const caNotAfter = new X509Certificate(caPem).validToDate.getTime();
  // Against the certificate itself: the gauge is computed at scrape time from notAfter.
  assert.ok(Math.abs(ca - (caNotAfter - Date.now()) / 1000) < 60, `ca ${ca}`);
  assert.ok(serving > 0 && serving < ca, `serving ${serving} expires before its CA ${ca}`);
});

test('certificate expiry is computed at scrape time, from an injected clock', async () => {
  let now = 1_000_000;
  const r = new Registry();
  const m = createWebhookMetrics(r, () => now);
  m.setCertificate('serving', 1_000_000 + 90_000);
  assert.equal(
    sample(await r.metrics(), 'tidemark_webhook_certificate_expiry_seconds{certificate="serving"}'),
    90,
  );
  now += 100_000;
  assert.equal(
    sample(await r.metrics(), 'tidemark_webhook_certificate_expiry_seconds{certificate="serving"}'),
    -10,
  );
});

test("makeWebhook with the operator's registry puts the webhook's series on it", async () => {
  const { makeWebhook } = await import('../../src/cli/webhook.ts');
  // makeWebhook reads the default kubeconfig; nothing is called through it here.
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-kubeconfig-'));
  process.env.KUBECONFIG = join(dir, 'config');
  writeFileSync(
    process.env.KUBECONFIG,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n' +
      'users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
  );
  const r = new Registry();
  await makeWebhook(
    {
      webhookPort: 0,
      webhookHost: '127.0.0.1',
      webhookSecret: 'tidemark-webhook-tls',
      webhookRecheckSeconds: 30,
      webhookManageCrd: false,
      webhookCerts: 'self',
      webhookUrl: 'https://127.0.0.1:9443/convert',
    },
    'tidemark-system',
    pino({ level: 'silent' }),
    r,
  );
  const names = (await r.getMetricsAsJSON()).map((m) => m.name);
  for (const n of [
    'tidemark_webhook_requests_total',
    'tidemark_webhook_conversions_total',
    'tidemark_webhook_failures_total',
    'tidemark_webhook_request_duration_seconds',
    'tidemark_webhook_certificate_expiry_seconds',
  ])
    assert.ok(names.includes(n), `${n} registered`);
});
