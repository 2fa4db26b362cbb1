import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  credentialsIdentity,
  isValidSecretName,
  parseSecret,
  redact,
  secretStrings,
} from '../../src/collector/credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('parseSecret', () => {
  it('reads a bearer token and strips one trailing newline', () => {
    assert.deepEqual(parseSecret({ data: { token: b64('abc\n') } }, 'ns/s'), {
      ok: true,
      credentials: { bearerToken: 'abc' },
    });
  });

  it('reads basic auth and a CA bundle', () => {
    assert.deepEqual(
      parseSecret({ data: { username: b64('u'), password: b64('p'), 'ca.crt': b64(PEM) } }, 'ns/s'),
      { ok: true, credentials: { basic: { username: 'u', password: 'p' }, caPem: PEM } },
    );
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['no known key', { other: b64('x') }, /none of the keys/],
    ['username without password', { username: b64('u') }, /both username and password/],
    ['token and basic', { token: b64('t'), username: b64('u'), password: b64('p') }, /both token/],
    ['control character in token', { token: b64('t\r\nX-Evil: 1') }, /control character/],
    ['colon in username', { username: b64('a:b'), password: b64('p') }, /colon/],
    ['ca.crt not PEM', { 'ca.crt': b64('hello') }, /not a PEM/],
  ];
  for (const [title, data, message] of bad) {
    it(`rejects ${title} without quoting a value`, () => {
      const r = parseSecret({ data }, 'ns/s');
      assert.ok(!r.ok);
      assert.match(r.message, message);
      for (const v of Object.values(data)) {
        const plain = Buffer.from(v, 'base64').toString('utf8').trim();
        if (plain.length > 2) assert.ok(!r.message.includes(plain), r.message);
      }
    });
  }

  it('accepts a Secret without data as invalid, not a crash', () => {
    assert.equal(parseSecret({}, 'ns/s').ok, false);
    assert.equal(parseSecret({ data: null }, 'ns/s').ok, false);
  });
});

describe('secret names', () => {
  it('accepts DNS subdomain names only', () => {
    assert.ok(isValidSecretName('prom-auth'));
    assert.ok(isValidSecretName('a.b-c'));
    for (const n of ['', 'A', '../x', 'a/b', '-a', 'a-', 'x'.repeat(254), 5])
      assert.ok(!isValidSecretName(n), String(n));
  });
});

describe('redaction', () => {
  it('removes every secret string, longest first, and caps the length', () => {
    const secrets = secretStrings({ basic: { username: 'alice', password: 'pw' } });
    assert.deepEqual(secrets, [b64('alice:pw'), 'pw']);
    assert.equal(redact(`Basic ${b64('alice:pw')} and pw`, secrets), 'Basic [REDACTED] and [REDACTED]');
    assert.equal(redact('x'.repeat(600), [], 10), `${'x'.repeat(10)}…`);
  });

  it('gives the same identity to the same credentials and never contains them', () => {
    const a = credentialsIdentity({ bearerToken: 'secret-token' });
    assert.equal(a, credentialsIdentity({ bearerToken: 'secret-token' }));
    assert.notEqual(a, credentialsIdentity({ bearerToken: 'secret-tokem' }));
    assert.notEqual(a, credentialsIdentity(undefined));
    assert.ok(!a.includes('secret'));
  });
});
