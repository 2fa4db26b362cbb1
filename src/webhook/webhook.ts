// The conversion webhook as a running component: an HTTPS server answering ConversionReviews
// (review.ts) from the certificate in a Secret, and a loop that keeps that Secret's
// certificates current (certs.ts) and the CRD's spec.conversion pointing at this webhook
// with the Secret's CA. Every replica runs all of it (not only the leader), so conversion
// never waits for an election; replicas race only on writes, which resourceVersion settles:
// the loser reads the winner's Secret on its next pass.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { encode, isAlreadyExists, isConflict, isNotFound, type KubeTransport } from '../kube/api-client.ts';
import type { WebhookMetrics } from '../metrics/registry.ts';
import {
  type CertBundle,
  type CertPolicy,
  DEFAULT_CERT_POLICY,
  issue,
  pemBlocks,
  planCertificates,
} from './certs.ts';
import { handleConversionReview } from './review.ts';

export const CONVERT_PATH = '/convert';
/** A ConversionReview of a large list carries every object: allow far more than one object's 1.5 MiB. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export type ClientConfig =
  | { url: string }
  | { service: { namespace: string; name: string; port: number; path: string } };

export interface WebhookOptions {
  transport: KubeTransport;
  log: Logger;
  port: number;
  host: string;
  secretNamespace: string;
  secretName: string;
  /** The CRD whose spec.conversion this webhook keeps current; undefined: leave the CRD alone. */
  crdName: string | undefined;
  clientConfig: ClientConfig;
  /** DNS names and IPs of the serving certificate. */
  hosts: string[];
  recheckMs: number;
  /**
   * self: this webhook makes, stores and renews the CA and serving certificate. external:
   * another issuer (cert-manager, deploy/cert-manager/) keeps them in the Secret; this
   * webhook only reads it (tls.crt, tls.key, and ca.crt for the CRD's caBundle).
   */
  certSource?: 'self' | 'external';
  certPolicy?: Partial<Omit<CertPolicy, 'hosts'>>;
  now?: () => number;
  /** The operator's registry's webhook series (createWebhookMetrics); none: nothing is counted. */
  metrics?: WebhookMetrics;
}

const SECRET_KEYS = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'] as const;

/** What serving needs: the certificate and key, and the CA the API server is to trust. */
type Served = Pick<CertBundle, 'ca.crt' | 'tls.crt' | 'tls.key'>;

interface SecretObject {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

/** The spec.conversion this webhook wants on the CRD. */
export function desiredConversion(clientConfig: ClientConfig, caBundlePem: string) {
  return {
    strategy: 'Webhook',
    webhook: {
      clientConfig: { ...clientConfig, caBundle: Buffer.from(caBundlePem).toString('base64') },
      conversionReviewVersions: ['v1'],
    },
  };
}

export class ConversionWebhook {
  readonly #o: WebhookOptions;
  readonly #policy: CertPolicy;
  #server: Server | undefined;
  #serving: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #port = 0;

  constructor(o: WebhookOptions) {
    this.#o = o;
    this.#policy = { ...DEFAULT_CERT_POLICY, ...o.certPolicy, hosts: o.hosts };
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.#port;
  }

  /** Ensures the certificates (retrying until the API answers), starts serving, then keeps rechecking. */
  async start(): Promise<void> {
    let bundle: Served | undefined;
    while (!bundle && !this.#stopped) {
      bundle = await this.#syncCerts().catch((err: unknown) => {
        this.#o.log.warn({ err: String(err) }, 'webhook certificates not ready; retrying');
        return undefined;
      });
      if (!bundle) await new Promise((r) => setTimeout(r, Math.min(this.#o.recheckMs, 2000)));
    }
    if (!bundle) return;
    await this.#listen(bundle);
    await this.#syncCrd(bundle).catch((err: unknown) =>
      this.#o.log.warn({ err: String(err) }, 'CRD conversion not updated'),
    );
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const server = this.#server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    server?.closeAllConnections();
  }

  /** One pass of the loop: certificates, the serving context, the CRD. Exposed for tests. */
  async recheck(): Promise<void> {
    const bundle = await this.#syncCerts();
    this.#load(bundle);
    await this.#syncCrd(bundle);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.recheck()
        .catch((err: unknown) => this.#o.log.warn({ err: String(err) }, 'webhook recheck failed'))
        .finally(() => this.#schedule());
    }, this.#o.recheckMs);
    this.#timer.unref();
  }

  async #listen(bundle: Served): Promise<void> {
    const server = createServer({ cert: bundle['tls.crt'], key: bundle['tls.key'] }, (req, res) => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200).end('ok');
        return;
      }
      if (req.method !== 'POST' || req.url?.split('?')[0] !== CONVERT_PATH) {
        res.writeHead(404).end();
        return;
      }
      this.#convert(req, res);
    });
    this.#serving = bundle['tls.crt'];
    this.#observeCertificates(bundle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : this.#o.port;
    this.#server = server;
    this.#o.log.info({ port: this.#port }, 'conversion webhook serving');
  }

  /** One ConversionReview: read the body (up to the limit), answer it, count what happened. */
  #convert(req: IncomingMessage, res: ServerResponse): void {
    const m = this.#o.metrics;
    const started = performance.now();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
      else if (!req.destroyed) {
        req.destroy();
        m?.requests.inc({ code: 'aborted' });
        m?.failures.inc({ reason: 'too_large' });
      }
    });
    req.on('end', () => {
      const out = handleConversionReview(Buffer.concat(chunks).toString('utf8'));
      if (out.failure) {
        this.#o.log.warn({ message: out.body.response.result.message }, 'conversion failed');
        m?.failures.inc({ reason: out.failure });
      }
      for (const c of out.conversions) m?.conversions.inc({ from_version: c.from, to_version: c.to });
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
      m?.requests.inc({ code: String(out.status) });
      m?.duration.observe((performance.now() - started) / 1000);
    });
  }

  /** What the expiry series count down to: the served certificate and the CA in the bundle that issued it. */
  #observeCertificates(bundle: Served): void {
    const m = this.#o.metrics;
    if (!m) return;
    try {
      const [servingPem] = pemBlocks(bundle['tls.crt']);
      const serving = new X509Certificate(servingPem ?? '');
      m.setCertificate('serving', serving.validToDate.getTime());
      const issuer = pemBlocks(bundle['ca.crt'])
        .map((pem) => new X509Certificate(pem))
        .find((ca) => serving.checkIssued(ca));
      if (issuer) m.setCertificate('ca', issuer.validToDate.getTime());
    } catch (err) {
      // The server already loaded these, so this is not expected; the series then keep their last value.
      this.#o.log.warn({ err: String(err) }, 'webhook certificate expiry not read');
    }
  }

  /** A new certificate in the Secret is served from the next TLS handshake on. */
  #load(bundle: Served): void {
    if (!this.#server || bundle['tls.crt'] === this.#serving) return;
    this.#server.setSecureContext({ cert: bundle['tls.crt'], key: bundle['tls.key'] });
    this.#serving = bundle['tls.crt'];
    this.#observeCertificates(bundle);
    this.#o.log.info('webhook serving certificate reloaded');
  }

  #secretPath(name?: string): string {
    const base = `/api/v1/namespaces/${encode(this.#o.secretNamespace)}/secrets`;
    return name === undefined ? base : `${base}/${encode(name)}`;
  }

  async #readSecret(): Promise<SecretObject | undefined> {
    try {
      return (await this.#o.transport({
        method: 'GET',
        path: this.#secretPath(this.#o.secretName),
      })) as SecretObject;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return undefined;
    }
  }

  /** The certificates to serve: issued here (self) or read as another issuer left them (external). */
  #syncCerts(): Promise<Served> {
    return this.#o.certSource === 'external' ? this.#readExternal() : this.#renewOwn();
  }

  /** Never writes: a second writer would fight the issuer that owns the Secret. */
  async #readExternal(): Promise<Served> {
    const data = decodeData((await this.#readSecret())?.data);
    const where = `Secret ${this.#o.secretNamespace}/${this.#o.secretName}`;
    const missing = (['tls.crt', 'tls.key', 'ca.crt'] as const).filter((k) => !data?.[k]);
    if (missing.length) throw new Error(`${where} has no ${missing.join(', ')} yet (its issuer writes them)`);
    return data as Served;
  }

  /** Reads the Secret, renews what is due, and returns the bundle now stored. */
  async #renewOwn(): Promise<CertBundle> {
    const now = (this.#o.now ?? Date.now)();
    const secret = await this.#readSecret();
    const current = secret ? decodeData(secret.data) : undefined;
    const plan = planCertificates(current, this.#policy, now);
    if (plan.action === 'keep') return current as CertBundle;
    const next = await issue(plan, current, this.#policy, now);
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: this.#o.secretName,
        namespace: this.#o.secretNamespace,
        labels: { 'app.kubernetes.io/name': 'tidemark', 'app.kubernetes.io/component': 'webhook' },
        ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      data: encodeData(next),
    };
    try {
      if (secret)
        await this.#o.transport({ method: 'PUT', path: this.#secretPath(this.#o.secretName), body });
      else await this.#o.transport({ method: 'POST', path: this.#secretPath(), body });
    } catch (err) {
      // Another replica wrote first: use what it stored.
      if (!isConflict(err) && !isAlreadyExists(err)) throw err;
      const won = (await this.#o.transport({
        method: 'GET',
        path: this.#secretPath(this.#o.secretName),
      })) as SecretObject;
      return decodeData(won.data) as CertBundle;
    }
    this.#o.log.info({ reason: plan.reason, renewed: plan.action }, 'webhook certificates written');
    return next;
  }

  /** Points the CRD's conversion at this webhook with the Secret's CA bundle, when it differs. */
  async #syncCrd(bundle: Served): Promise<void> {
    if (this.#o.crdName === undefined) return;
    const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encode(this.#o.crdName)}`;
    let crd: { spec?: { conversion?: unknown } };
    try {
      crd = (await this.#o.transport({ method: 'GET', path })) as typeof crd;
    } catch (err) {
      if (isNotFound(err)) return; // not installed (yet): the next pass looks again
      throw err;
    }
    const want = desiredConversion(this.#o.clientConfig, bundle['ca.crt']);
    if (isDeepStrictEqual(crd.spec?.conversion, want)) return;
    // A JSON patch replaces spec.conversion whole: a merge patch would keep a stale service next to a url.
    await this.#o.transport({
      method: 'PATCH',
      path,
      contentType: 'application/json-patch+json',
      body: [{ op: 'add', path: '/spec/conversion', value: want }],
    });
    this.#o.log.info({ crd: this.#o.crdName }, 'CRD conversion webhook and caBundle set');
  }
}

function decodeData(data: Record<string, string> | undefined): Partial<CertBundle> | undefined {
  if (!data) return undefined;
  const out: Partial<CertBundle> = {};
  for (const k of SECRET_KEYS) if (data[k]) out[k] = Buffer.from(data[k], 'base64').toString('utf8');
  return out;
}

function encodeData(b: CertBundle): Record<string, string> {
  return Object.fromEntries(SECRET_KEYS.map((k) => [k, Buffer.from(b[k]).toString('base64')]));
}
