// The webhook with certificates from another issuer (--webhook-certs=external, the
// deploy/cert-manager/ overlay): against the sandbox's API server, a Secret written as
// cert-manager writes one (tls.crt, tls.key, ca.crt; no CA key) is served as it is, never
// written, and a renewal in the Secret is served after the next recheck. The test plays
// cert-manager (not in the sandbox): it issues the certificates and writes the Secret.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { httpTransport, type KubeTransport } from '../../src/kube/api-client.ts';
import { type CertBundle, DEFAULT_CERT_POLICY, issue } from '../../src/webhook/certs.ts';
import { ConversionWebhook } from '../../src/webhook/webhook.ts';
import { kubeConfig, kubectl, NO_SANDBOX, sandboxAvailable } from '../support/sandbox.ts';

const NS = `certext-${process.pid}`;
const SECRET = 'ext-webhook-tls';
const skip = sandboxAvailable() ? false : NO_SANDBOX;
let api: KubeTransport;
let webhook: ConversionWebhook | undefined;

/** What cert-manager's CA issuer leaves in a Certificate's Secret. */
async function certManagerSecret(): Promise<{ bundle: CertBundle; data: Record<string, string> }> {
  const bundle = await issue(
    { action: 'ca', reason: 'test' },
    undefined,
    { ...DEFAULT_CERT_POLICY, hosts: ['127.0.0.1'] },
    Date.now(),
  );
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    bundle,
    data: {
      'tls.crt': b64(bundle['tls.crt']),
      'tls.key': b64(bundle['tls.key']),
      'ca.crt': b64(bundle['ca.crt']),
    },
  };
}

async function writeSecret(data: Record<string, string>, resourceVersion?: string): Promise<string> {
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: SECRET, namespace: NS, ...(resourceVersion ? { resourceVersion } : {}) },
    data,
  };
  const path = `/api/v1/namespaces/${NS}/secrets`;
  const res = (await api(
    resourceVersion ? { method: 'PUT', path: `${path}/${SECRET}`, body } : { method: 'POST', path, body },
  )) as { metadata: { resourceVersion: string } };
  return res.metadata.resourceVersion;
}

async function secretVersion(): Promise<string> {
  const s = (await api({ method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/${SECRET}` })) as {
    metadata: { resourceVersion: string };
  };
  return s.metadata.resourceVersion;
}

/** The certificate the webhook presents, verified against `ca` as the API server does with the caBundle. */
function served(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

before(async () => {
  if (skip) return;
  api = httpTransport(kubeConfig());
  await kubectl(['create', 'namespace', NS]);
});

after(async () => {
  await webhook?.stop();
  if (!skip) await kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
});

test('external certificates: waits for the issuer, serves its Secret, never writes it, follows a renewal', {
  skip,
}, async () => {
  webhook = new ConversionWebhook({
    transport: api,
    log: pino({ level: 'silent' }),
    port: 0,
    host: '127.0.0.1',
    secretNamespace: NS,
    secretName: SECRET,
    crdName: undefined,
    clientConfig: { url: 'https://127.0.0.1/convert' },
    hosts: ['127.0.0.1'],
    recheckMs: 3_600_000,
    certSource: 'external',
  });
  let started = false;
  const starting = webhook.start().then(() => {
    started = true;
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(started, false, 'no Secret yet: it waits for its issuer rather than making one');
  await assert.rejects(
    api({ method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/${SECRET}` }),
    /404|not found/i,
    'and it wrote none',
  );

  const first = await certManagerSecret();
  const rv = await writeSecret(first.data);
  await starting;
  const port = webhook.port;
  const a = await served(port, first.bundle['ca.crt']);
  assert.equal(a.fingerprint256, new X509Certificate(first.bundle['tls.crt']).fingerprint256);
  await webhook.recheck();
  assert.equal(await secretVersion(), rv, 'a Secret without a CA key is not "repaired"');

  const renewed = await certManagerSecret();
  await writeSecret(renewed.data, rv);
  await webhook.recheck();
  const b = await served(port, renewed.bundle['ca.crt']);
  assert.equal(b.fingerprint256, new X509Certificate(renewed.bundle['tls.crt']).fingerprint256);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
});
