// The webhook's own CA and serving certificate, without cert-manager (as KEDA and
// controller-runtime's cert-controller do): created when absent, re-issued before they
// expire. Node can read certificates (crypto.X509Certificate) but not make them, so
// @peculiar/x509 signs them with WebCrypto. ECDSA P-256: keys are made in milliseconds.
//
// planCertificates() is pure (the time is passed in): it decides what to renew from the
// Secret's PEM data; issue() makes what it asked for.
import { createPrivateKey, X509Certificate as NodeCert, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
// @peculiar/x509 is typed against the DOM's Crypto, which this Node project does not load.
const provider = webcrypto as never;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** The Secret's keys: tls.crt/tls.key as kubernetes.io/tls, ca.crt the bundle the CRD trusts. */
export interface CertBundle {
  /** PEM: the current CA first, then a previous CA still valid (so clients trusting either keep working). */
  'ca.crt': string;
  'ca.key': string;
  'tls.crt': string;
  'tls.key': string;
}

export interface CertPolicy {
  /** DNS names and IP addresses the serving certificate must carry. */
  hosts: string[];
  caValidityDays: number;
  servingValidityDays: number;
  /** Renew when less than this fraction of a certificate's lifetime is left. */
  renewFraction: number;
}

export const DEFAULT_CERT_POLICY: Omit<CertPolicy, 'hosts'> = {
  caValidityDays: 365,
  servingValidityDays: 90,
  renewFraction: 1 / 3,
};

/** What to do: nothing, a new serving certificate from the same CA, or a new CA (and serving certificate). */
export type CertPlan = { action: 'keep' } | { action: 'serving' | 'ca'; reason: string };

/** Decides from the Secret's data (undefined: no Secret) what to renew at `now` (ms). */
export function planCertificates(
  data: Partial<CertBundle> | undefined,
  policy: CertPolicy,
  now: number,
): CertPlan {
  const caPem = firstPem(data?.['ca.crt']);
  if (!data || !caPem || !data['ca.key'] || !data['tls.crt'] || !data['tls.key']) {
    return { action: 'ca', reason: 'no certificates yet' };
  }
  let ca: NodeCert;
  let serving: NodeCert;
  try {
    ca = new NodeCert(caPem);
    serving = new NodeCert(data['tls.crt']);
  } catch (err) {
    return { action: 'ca', reason: `unreadable certificate: ${(err as Error).message}` };
  }
  if (due(ca, policy.renewFraction, now)) return { action: 'ca', reason: `CA expires ${ca.validTo}` };
  if (!serving.checkIssued(ca) || !serving.verify(ca.publicKey)) {
    return { action: 'serving', reason: 'serving certificate not issued by the current CA' };
  }
  if (due(serving, policy.renewFraction, now)) {
    return { action: 'serving', reason: `serving certificate expires ${serving.validTo}` };
  }
  const missing = policy.hosts.filter((h) => !covers(serving, h));
  if (missing.length > 0)
    return { action: 'serving', reason: `serving certificate lacks ${missing.join(', ')}` };
  return { action: 'keep' };
}

function due(cert: NodeCert, fraction: number, now: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return !(now >= from - 5 * 60_000) || to - now < (to - from) * fraction;
}

function covers(cert: NodeCert, host: string): boolean {
  return isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}

/** The PEM blocks of a bundle. */
export function pemBlocks(pem: string | undefined): string[] {
  return pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

function firstPem(pem: string | undefined): string | undefined {
  return pemBlocks(pem)[0];
}

/** Carries out a plan that is not 'keep': a new bundle, keeping the old CA in ca.crt while it is valid. */
export async function issue(
  plan: Exclude<CertPlan, { action: 'keep' }>,
  old: Partial<CertBundle> | undefined,
  policy: CertPolicy,
  now: number,
): Promise<CertBundle> {
  let caCertPem: string;
  let caKey: Key;
  let bundle: string;
  if (plan.action === 'ca' || !old?.['ca.key'] || !old['ca.crt']) {
    const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serial(),
        name: 'CN=tidemark-webhook-ca',
        notBefore: new Date(now - 5 * 60_000),
        notAfter: new Date(now + policy.caValidityDays * DAY_MS),
        signingAlgorithm: ALG,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never, false, provider),
        ],
      } as never,
      provider,
    );
    caCertPem = withNewline(cert.toString('pem'));
    caKey = keys.privateKey;
    const previous = pemBlocks(old?.['ca.crt']).find((p) => stillValid(p, now));
    bundle = caCertPem + (previous ?? '');
  } else {
    caCertPem = firstPem(old['ca.crt'])!;
    caKey = await importKey(old['ca.key']);
    bundle = old['ca.crt'];
  }
  const serving = await servingCert(caCertPem, caKey, policy, now);
  return { 'ca.crt': bundle, 'ca.key': await exportKey(caKey), ...serving };
}

async function servingCert(caPem: string, caKey: Key, policy: CertPolicy, now: number) {
  const ca = new x509.X509Certificate(caPem);
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${policy.hosts[0] ?? 'tidemark-webhook'}`,
      issuer: ca.subject,
      notBefore: new Date(now - 5 * 60_000),
      notAfter: new Date(now + policy.servingValidityDays * DAY_MS),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          policy.hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false, provider),
      ],
    } as never,
    provider,
  );
  return { 'tls.crt': withNewline(cert.toString('pem')), 'tls.key': await exportKey(keys.privateKey) };
}

function stillValid(pem: string, now: number): boolean {
  try {
    return Date.parse(new NodeCert(pem).validTo) > now;
  } catch {
    return false;
  }
}

function serial(): string {
  // Positive (first bit clear) and random, as RFC 5280 asks.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

async function exportKey(key: Key): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

async function importKey(pem: string): Promise<Key> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return crypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}
