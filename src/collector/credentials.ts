// Prometheus credentials from the Secret a policy names. The Secret is read from
// the policy's own namespace only (the reference has no namespace field, and
// this module never takes one from the spec), and no value from it is ever put
// into a message: every error text that could carry one goes through redact().
import { createHash } from 'node:crypto';

/** The part of a core/v1 Secret the collector reads: `data` is base64, as the API returns it. */
export interface SecretLike {
  data?: Record<string, string> | null;
}

/**
 * Reads a Secret. Return undefined (or throw an error with `statusCode`/`code` 404)
 * when it does not exist. Called with the policy's namespace, never another.
 */
export type ReadSecret = (namespace: string, name: string) => Promise<SecretLike | undefined>;

export interface Credentials {
  bearerToken?: string;
  basic?: { username: string; password: string };
  /** PEM bundle to trust for this Prometheus, from the Secret's `ca.crt`. */
  caPem?: string;
}

const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function isValidSecretName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 253 && SECRET_NAME.test(name);
}

function decode(data: Record<string, string>, key: string): string | undefined {
  const b64 = data[key];
  if (typeof b64 !== 'string') return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

// A value with a control character would end up in an HTTP header (header
// injection), and Node's own error for it would quote the value.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is rejected
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Credentials from a Secret, or why the Secret cannot be used (never quoting a value). */
export function parseSecret(
  secret: SecretLike,
  ref: string,
): { ok: true; credentials: Credentials } | { ok: false; message: string } {
  const data = secret.data ?? {};
  // Files made with `echo` or editors end with a newline; it is not part of the value.
  const token = decode(data, 'token')?.replace(/\r?\n$/, '');
  const username = decode(data, 'username')?.replace(/\r?\n$/, '');
  const password = decode(data, 'password')?.replace(/\r?\n$/, '');
  const caPem = decode(data, 'ca.crt');
  const credentials: Credentials = {};
  if (token !== undefined && token !== '') {
    if (username !== undefined || password !== undefined) {
      return { ok: false, message: `Secret ${ref} has both token and username/password; keep one` };
    }
    if (CONTROL.test(token))
      return { ok: false, message: `Secret ${ref}: key token contains a control character` };
    credentials.bearerToken = token;
  } else if (username !== undefined || password !== undefined) {
    if (!username || !password) {
      return { ok: false, message: `Secret ${ref} needs both username and password for basic auth` };
    }
    if (CONTROL.test(username) || CONTROL.test(password) || username.includes(':')) {
      return {
        ok: false,
        message: `Secret ${ref}: username or password contains a control character (or the username a colon)`,
      };
    }
    credentials.basic = { username, password };
  }
  if (caPem !== undefined) {
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) {
      return { ok: false, message: `Secret ${ref}: key ca.crt is not a PEM certificate bundle` };
    }
    credentials.caPem = caPem;
  }
  if (!credentials.bearerToken && !credentials.basic && !credentials.caPem) {
    return { ok: false, message: `Secret ${ref} has none of the keys token, username/password, ca.crt` };
  }
  return { ok: true, credentials };
}

/**
 * A stable, non-reversible identity of a set of credentials, for cache keys
 * (which may be logged): two policies with the same credentials share requests.
 */
export function credentialsIdentity(c: Credentials | undefined): string {
  if (!c) return 'anonymous';
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      c.bearerToken ?? null,
      c.basic?.username ?? null,
      c.basic?.password ?? null,
      c.caPem ?? null,
    ]),
  );
  return h.digest('base64url').slice(0, 22);
}

/** Every string that must never appear in a message: the values and their encodings on the wire. */
export function secretStrings(c: Credentials | undefined): string[] {
  if (!c) return [];
  const out: string[] = [];
  if (c.bearerToken) out.push(c.bearerToken);
  if (c.basic) {
    out.push(c.basic.password, Buffer.from(`${c.basic.username}:${c.basic.password}`).toString('base64'));
  }
  // Longest first, so a value that contains another is removed whole.
  return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of a secret string; also caps the length of text that came from outside. */
export function redact(text: string, secrets: readonly string[], maxLength = 512): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[REDACTED]');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
