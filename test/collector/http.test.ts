// The collector's HTTP behaviour against a local stand-in for Prometheus
// (fake-prometheus.ts): hanging and dripping responses, chosen status codes,
// oversized bodies, redirects and echoed headers cannot be produced on demand by
// a real Prometheus. Real PromQL results are tested in collector.int.test.ts.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  AddressPolicy,
  Collector,
  type CollectorOptions,
  type CollectorSpec,
  type QueryEvent,
  type SecretLike,
} from '../../src/collector/index.ts';
import { type FakePrometheus, sendJson, startFake, success, TEST_CA, vectorOf } from './fake-prometheus.ts';

const TOKEN = 'tok-Zq9sEcReT-7731';
const USER = 'scaler';
const PASSWORD = 'pw-Xy8sEcReT-4410';
const SECRET_STRINGS = [TOKEN, PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
const b64 = (s: string) => Buffer.from(s).toString('base64');

const SECRETS: Record<string, SecretLike> = {
  'shop/bearer': { data: { token: b64(`${TOKEN}\n`) } },
  'shop/basic': { data: { username: b64(USER), password: b64(PASSWORD) } },
  'shop/ca-only': { data: { 'ca.crt': b64(TEST_CA) } },
  'shop/bearer-ca': { data: { token: b64(TOKEN), 'ca.crt': b64(TEST_CA) } },
  'shop/empty': { data: {} },
  'shop/half-basic': { data: { username: b64(USER) } },
  'other/bearer': { data: { token: b64('token-of-another-namespace') } },
};

/** Every text the collector produced in these tests: checked for credentials at the end. */
const produced: string[] = [];
const record = (x: unknown) => produced.push(typeof x === 'string' ? x : JSON.stringify(x));

function spec(
  address: string,
  queries: string[],
  extra: Partial<CollectorSpec['prometheus']> = {},
): CollectorSpec {
  return {
    pollingIntervalSeconds: 15,
    prometheus: { address, insecureSkipVerify: false, timeoutSeconds: 5, ...extra },
    metrics: queries.map((query, i) => ({ name: `m${i}`, query })),
  };
}

interface Harness {
  collector: Collector;
  events: QueryEvent[];
  sleeps: number[];
  secretReads: string[];
}

const collectors: Collector[] = [];
function harness(allowed: string[], extra: Partial<CollectorOptions> = {}): Harness {
  const events: QueryEvent[] = [];
  const sleeps: number[] = [];
  const secretReads: string[] = [];
  const collector = new Collector({
    addressPolicy: new AddressPolicy(allowed),
    readSecret: async (ns, name) => {
      secretReads.push(`${ns}/${name}`);
      if (name === 'throws') throw Object.assign(new Error(`boom with ${TOKEN}`), { statusCode: 500 });
      if (name === 'forbidden') throw Object.assign(new Error('forbidden'), { code: 403 });
      return SECRETS[`${ns}/${name}`];
    },
    observer: {
      onQuery(e) {
        events.push(e);
        record(e);
      },
    },
    logger: { debug: (o, m) => record([o, m]), warn: (o, m) => record([o, m]) },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
  collectors.push(collector);
  return { collector, events, sleeps, secretReads };
}

async function observe(h: Harness, namespace: string, s: CollectorSpec, opts?: { signal?: AbortSignal }) {
  const r = await h.collector.observe({ namespace, spec: s }, opts);
  record(r);
  return r;
}

const hang: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => {};

describe('collector over HTTP (local stand-in for Prometheus)', () => {
  let fake: FakePrometheus;
  let other: FakePrometheus;
  before(async () => {
    fake = await startFake();
    other = await startFake();
  });
  after(async () => {
    for (const c of collectors) c.close();
    await fake.close();
    await other.close();
  });

  it('sends an instant query with Prometheus-side timeout and reads the value', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => sendJson(res, 200, success(vectorOf('42.5'))));
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['sum(rate(x[1m]))']));
    assert.equal(r.problem, undefined);
    assert.equal(r.insecureTLS, false);
    const [o] = r.observations;
    assert.ok(o?.ok);
    assert.equal(o.value, 42.5);
    assert.equal(fake.seen.length, 1);
    assert.equal(fake.seen[0]?.path, '/api/v1/query');
    assert.equal(fake.seen[0]?.params.get('query'), 'sum(rate(x[1m]))');
    assert.equal(fake.seen[0]?.params.get('timeout'), '5000ms');
    assert.equal(fake.seen[0]?.headers.authorization, undefined);
    assert.deepEqual(
      h.events.map((e) => [e.type, e.outcome, e.attempt, e.willRetry]),
      [['instant', 'success', 1, false]],
    );
  });

  it('sends a bearer token read from the policy namespace, without its trailing newline', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => sendJson(res, 200, success(vectorOf(1))));
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } }));
    assert.ok(r.observations[0]?.ok);
    assert.equal(fake.seen[0]?.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(h.secretReads, ['shop/bearer']);
  });

  it('sends basic auth', async () => {
    fake.seen.length = 0;
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'basic' } }));
    assert.ok(r.observations[0]?.ok);
    assert.equal(fake.seen[0]?.headers.authorization, `Basic ${b64(`${USER}:${PASSWORD}`)}`);
  });

  it('reads the Secret only from the policy namespace', async () => {
    fake.seen.length = 0;
    const h = harness([fake.url]);
    // 'bearer' exists in "other" but the policy lives in "team": not found, and no request sent.
    const r = await observe(h, 'team', spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } }));
    assert.deepEqual(h.secretReads, ['team/bearer']);
    assert.equal(r.problem?.reason, 'SecretNotFound');
    assert.equal(r.problem?.invalidPolicy, false);
    assert.equal(r.observations[0]?.ok, false);
    assert.equal(fake.seen.length, 0);
  });

  it('reports unusable Secrets with a reason and sends nothing', async () => {
    fake.seen.length = 0;
    const h = harness([fake.url]);
    const cases: Array<[string, string, boolean]> = [
      ['empty', 'SecretInvalid', true],
      ['half-basic', 'SecretInvalid', true],
      ['throws', 'SecretUnreadable', false],
      ['forbidden', 'SecretForbidden', false],
      ['Not_A_Name', 'SecretInvalid', true],
    ];
    for (const [name, reason, invalid] of cases) {
      const r = await observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name } }));
      assert.equal(r.problem?.reason, reason, name);
      assert.equal(r.problem?.invalidPolicy, invalid, name);
      const o = r.observations[0];
      assert.ok(o && !o.ok && o.error.kind === 'unreachable');
    }
    assert.equal(fake.seen.length, 0);
  });

  it('reuses a Secret read within its TTL', async () => {
    let now = 1_000_000;
    const h = harness([fake.url], { now: () => now, secretTtlMs: 10_000 });
    const s = spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } });
    await observe(h, 'shop', s);
    now += 5_000;
    await observe(h, 'shop', s);
    now += 6_000;
    await observe(h, 'shop', s);
    assert.equal(h.secretReads.length, 2);
  });

  it('rejects an address off the allow-list without sending anything', async () => {
    other.seen.length = 0;
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(other.url, ['q']));
    assert.equal(r.problem?.reason, 'AddressNotAllowed');
    assert.equal(r.problem?.invalidPolicy, true);
    assert.equal(r.observations[0]?.ok, false);
    assert.equal(other.seen.length, 0);
    const u = await observe(h, 'shop', spec(`http://user:${PASSWORD}@127.0.0.1:1`, ['q']));
    assert.equal(u.problem?.reason, 'InvalidAddress');
  });

  it('sends one request for identical queries from concurrent policies', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => setTimeout(() => sendJson(res, 200, success(vectorOf(7))), 50));
    const h = harness([fake.url]);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => observe(h, `ns${i}`, spec(fake.url, ['shared', `own-${i % 2}`]))),
    );
    for (const r of results) assert.ok(r.observations.every((o) => o.ok && o.value === 7));
    const queries = fake.seen.map((s) => s.params.get('query')).sort();
    assert.deepEqual(queries, ['own-0', 'own-1', 'shared']);
    assert.equal(h.collector.requestsStarted, 3);
  });

  it('shares a request with policies ticking within the window, not after it', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => sendJson(res, 200, success(vectorOf(3))));
    let now = 5_000_000;
    const h = harness([fake.url], { now: () => now, dedupeWindowMs: 1000 });
    const s = spec(fake.url, ['q']);
    await observe(h, 'a', s);
    now += 400; // a second policy, 400 ms later: the first request has finished
    await observe(h, 'b', s);
    now += 500;
    await observe(h, 'c', s);
    assert.equal(fake.seen.length, 1);
    now += 200; // 1100 ms after the first request started
    await observe(h, 'd', s);
    assert.equal(fake.seen.length, 2);
  });

  it('does not share across different credentials or addresses', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => setTimeout(() => sendJson(res, 200, success(vectorOf(1))), 30));
    const h = harness([fake.url, `${fake.url}/tenant`]);
    await Promise.all([
      observe(h, 'shop', spec(fake.url, ['q'])),
      observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } })),
      observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'basic' } })),
      observe(h, 'shop', spec(`${fake.url}/tenant`, ['q'])),
      observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } })),
    ]);
    assert.equal(fake.seen.length, 4);
    assert.deepEqual(fake.seen.map((s) => s.path).sort(), [
      '/api/v1/query',
      '/api/v1/query',
      '/api/v1/query',
      '/tenant/api/v1/query',
    ]);
    // One client serves every connection: each request carries its own credentials only.
    assert.deepEqual(fake.seen.map((s) => s.headers.authorization ?? 'none').sort(), [
      `Basic ${b64(`${USER}:${PASSWORD}`)}`,
      `Bearer ${TOKEN}`,
      'none',
      'none',
    ]);
  });

  it('times out a hanging Prometheus and retries with backoff within the polling interval', async () => {
    fake.seen.length = 0;
    fake.handle(hang);
    const h = harness([fake.url]);
    const t0 = performance.now();
    const r = await observe(h, 'shop', spec(fake.url, ['q'], { timeoutSeconds: 0.2 }));
    const elapsed = performance.now() - t0;
    const o = r.observations[0];
    assert.ok(o && !o.ok);
    assert.equal(o.error.kind, 'timeout');
    assert.match(o.error.message, /timed out after 0.2s/);
    assert.equal(fake.seen.length, 3);
    assert.deepEqual(h.sleeps, [100, 200]); // random 0.5 × 200·2^(n-1)
    assert.deepEqual(
      h.events.map((e) => [e.outcome, e.errorKind, e.willRetry]),
      [
        ['error', 'timeout', true],
        ['error', 'timeout', true],
        ['error', 'timeout', false],
      ],
    );
    assert.ok(elapsed >= 550 && elapsed < 2000, `elapsed ${elapsed}`);
  });

  it('cuts a response that drips one byte at a time at the deadline', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(timer));
    });
    const h = harness([fake.url], { retry: { maxAttempts: 1 } });
    const t0 = performance.now();
    const r = await observe(h, 'shop', spec(fake.url, ['q'], { timeoutSeconds: 0.3 }));
    const o = r.observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'timeout');
    assert.ok(performance.now() - t0 < 1500);
  });

  it('does not retry past the polling interval budget', async () => {
    fake.seen.length = 0;
    fake.handle(hang);
    let now = 0;
    // The backoff sleep "takes" 6 s on this clock, the whole 6 s polling interval:
    // the first failure may retry (it fits), the second may not.
    const h = harness([fake.url], {
      now: () => now,
      sleep: async () => {
        now += 6000;
      },
    });
    const r = await observe(h, 'shop', {
      ...spec(fake.url, ['q'], { timeoutSeconds: 0.1 }),
      pollingIntervalSeconds: 6,
    });
    assert.equal(r.observations[0]?.ok, false);
    assert.equal(fake.seen.length, 2);
    assert.deepEqual(
      h.events.map((e) => e.willRetry),
      [true, false],
    );
  });

  it('retries 503 and 429, then succeeds', async () => {
    fake.seen.length = 0;
    let n = 0;
    fake.handle((_q, res) => {
      n++;
      if (n === 1)
        return sendJson(res, 503, { status: 'error', errorType: 'unavailable', error: 'not ready' });
      if (n === 2) return sendJson(res, 429, { status: 'error', errorType: 'too_many', error: 'slow down' });
      sendJson(res, 200, success(vectorOf(9)));
    });
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['q']));
    const o = r.observations[0];
    assert.ok(o?.ok && o.value === 9);
    assert.equal(fake.seen.length, 3);
    assert.deepEqual(
      h.events.map((e) => e.errorKind ?? e.outcome),
      ['http-error', 'http-error', 'success'],
    );
  });

  it('classifies Prometheus evaluation timeouts (503 errorType timeout) as timeout', async () => {
    fake.handle((_q, res) =>
      sendJson(res, 503, { status: 'error', errorType: 'timeout', error: 'query timed out' }),
    );
    const h = harness([fake.url], { retry: { maxAttempts: 1 } });
    const o = (await observe(h, 'shop', spec(fake.url, ['q']))).observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'timeout');
  });

  it('never retries a bad query (400 and 422)', async () => {
    for (const [status, errorType] of [
      [400, 'bad_data'],
      [422, 'execution'],
    ] as const) {
      fake.seen.length = 0;
      fake.handle((_q, res) =>
        sendJson(res, status, { status: 'error', errorType, error: 'parse error: unexpected' }),
      );
      const h = harness([fake.url]);
      const o = (await observe(h, 'shop', spec(fake.url, ['sum(']))).observations[0];
      assert.ok(o && !o.ok);
      assert.equal(o.error.kind, 'bad-query');
      assert.match(o.error.message, new RegExp(`HTTP ${status}.*parse error`));
      assert.equal(fake.seen.length, 1);
      assert.deepEqual(h.sleeps, []);
    }
  });

  it('does not retry other 4xx; retries a 502 with a non-JSON body', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found');
    });
    const h = harness([fake.url]);
    const o = (await observe(h, 'shop', spec(fake.url, ['q']))).observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'http-error');
    assert.match(o.error.message, /HTTP 404/);
    assert.equal(fake.seen.length, 1);

    fake.seen.length = 0;
    fake.handle((_q, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    const p = (await observe(h, 'shop', spec(fake.url, ['q2']))).observations[0];
    assert.ok(p && !p.ok && p.error.kind === 'http-error');
    assert.match(p.error.message, /HTTP 502/);
    assert.equal(fake.seen.length, 3);
  });

  it('classifies a 200 that is not a Prometheus response as http-error', async () => {
    fake.handle((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login page</html>');
    });
    const h = harness([fake.url]);
    const o = (await observe(h, 'shop', spec(fake.url, ['q']))).observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'http-error');
  });

  it('retries connection refused and reports unreachable', async () => {
    const closed = await startFake();
    const url = closed.url;
    await closed.close();
    const h = harness([url]);
    const o = (await observe(h, 'shop', spec(url, ['q']))).observations[0];
    assert.ok(o && !o.ok);
    assert.equal(o.error.kind, 'unreachable');
    assert.match(o.error.message, /ECONNREFUSED/);
    assert.equal(h.events.length, 3);
  });

  it('aborts a response above the byte limit and classifies it too-large, without retry', async () => {
    fake.seen.length = 0;
    const big = JSON.stringify(success({ resultType: 'vector', result: [] })).replace(
      '[]',
      `[${' '.repeat(5 * 1024 * 1024)}]`,
    );
    fake.handle((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big);
    });
    const h = harness([fake.url]); // default limit: 4 MiB
    const o = (await observe(h, 'shop', spec(fake.url, ['q']))).observations[0];
    assert.ok(o && !o.ok);
    assert.equal(o.error.kind, 'too-large');
    assert.equal(fake.seen.length, 1);
  });

  it('counts decompressed bytes against the limit (gzip bomb)', async () => {
    const bomb = await promisify(gzip)(Buffer.alloc(8 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 64 * 1024);
    fake.handle((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(bomb);
    });
    const h = harness([fake.url]);
    const o = (await observe(h, 'shop', spec(fake.url, ['q']))).observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'too-large');
  });

  it('does not follow redirects (they would walk around the allow-list)', async () => {
    other.seen.length = 0;
    fake.handle((_q, res) => {
      res.writeHead(302, { location: `${other.url}/api/v1/query?query=q` });
      res.end();
    });
    const h = harness([fake.url]);
    const o = (await observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'bearer' } })))
      .observations[0];
    assert.ok(o && !o.ok && o.error.kind === 'http-error');
    assert.equal(other.seen.length, 0);
  });

  it('keeps credentials out of errors even when Prometheus echoes them', async () => {
    fake.handle((req, res) => {
      const echoed = `${req.headers.authorization} ${Buffer.from(String(req.headers.authorization).replace(/^Basic /, ''), 'base64')}`;
      sendJson(res, req.url?.includes('bad') ? 400 : 500, {
        status: 'error',
        errorType: 'bad_data',
        error: echoed,
      });
    });
    const h = harness([fake.url]);
    for (const name of ['bearer', 'basic']) {
      const r = await observe(h, 'shop', spec(fake.url, ['bad', 'retried'], { authSecretRef: { name } }));
      for (const o of r.observations) {
        assert.ok(!o.ok);
        assert.match(o.error.message, /\[REDACTED\]/);
      }
    }
  });

  it('lets a caller stop waiting while the shared request goes on', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res) => setTimeout(() => sendJson(res, 200, success(vectorOf(5))), 300));
    const h = harness([fake.url]);
    const ac = new AbortController();
    const s = spec(fake.url, ['q']);
    const patient = observe(h, 'a', s);
    const impatient = observe(h, 'b', s, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const i = (await impatient).observations[0];
    assert.ok(i && !i.ok && i.error.kind === 'timeout');
    const p = (await patient).observations[0];
    assert.ok(p?.ok && p.value === 5);
    assert.equal(fake.seen.length, 1);
  });

  it('splits a long range query into chunks and merges the points', async () => {
    fake.seen.length = 0;
    fake.handle((_q, res, seen) => {
      const start = Number(seen.params.get('start'));
      const end = Number(seen.params.get('end'));
      const step = Number(seen.params.get('step'));
      const values: Array<[number, string]> = [];
      for (let t = start; t <= end + 1e-9; t += step) {
        // A gap every 1000 s, NaN at t % 700 == 0.
        if (Math.round(t) % 1000 === 0) continue;
        values.push([t, Math.round(t) % 700 === 0 ? 'NaN' : String(t % 10)]);
      }
      sendJson(res, 200, success({ resultType: 'matrix', result: [{ metric: {}, values }] }));
    });
    const h = harness([fake.url]);
    const startMs = 1_000_000_000;
    const step = 10;
    const endMs = startMs + 25_000 * step * 1000; // 25,001 points
    const r = await h.collector.queryRange(
      { namespace: 'shop', spec: spec(fake.url, ['q']) },
      'q',
      startMs,
      endMs,
      step,
    );
    assert.ok(r.ok);
    assert.equal(fake.seen.length, 3);
    assert.ok(fake.seen.every((s) => s.path === '/api/v1/query_range'));
    for (const s of fake.seen) {
      const n = (Number(s.params.get('end')) - Number(s.params.get('start'))) / step + 1;
      assert.ok(n <= 11_000, `chunk of ${n} points`);
    }
    let expected = 0;
    for (let t = startMs / 1000; t <= endMs / 1000; t += step) {
      if (t % 1000 !== 0 && t % 700 !== 0) expected++;
    }
    assert.equal(r.points.length, expected);
    for (let i = 1; i < r.points.length; i++) assert.ok(r.points[i]![0] > r.points[i - 1]![0]);
    assert.ok(r.points.every(([, v]) => Number.isFinite(v)));
  });

  it('fails a range query whose chunk fails', async () => {
    fake.handle((_q, res) => sendJson(res, 400, { status: 'error', errorType: 'bad_data', error: 'bad' }));
    const h = harness([fake.url]);
    const r = await h.collector.queryRange(
      { namespace: 'shop', spec: spec(fake.url, ['q']) },
      'q(',
      0,
      3_600_000,
      60,
    );
    assert.ok(!r.ok && r.error.kind === 'bad-query');
  });

  it('never puts a credential in any error, log line, event or problem produced above', () => {
    assert.ok(produced.length > 50, `only ${produced.length} texts recorded`);
    for (const text of produced) {
      for (const s of SECRET_STRINGS)
        assert.ok(!text.includes(s), `credential found in: ${text.slice(0, 200)}`);
    }
  });
});

describe('collector over HTTPS (local stand-in for Prometheus)', () => {
  let fake: FakePrometheus;
  before(async () => {
    fake = await startFake({ tls: true });
  });
  after(async () => {
    for (const c of collectors) c.close();
    await fake.close();
  });

  it('verifies certificates: an unknown CA is unreachable, not retried', async () => {
    fake.seen.length = 0;
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['q']));
    const o = r.observations[0];
    assert.ok(o && !o.ok);
    assert.equal(o.error.kind, 'unreachable');
    assert.match(o.error.message, /TLS/);
    assert.equal(h.events.length, 1);
    assert.equal(r.insecureTLS, false);
  });

  it('trusts the ca.crt from the Secret, with or without a token', async () => {
    fake.seen.length = 0;
    const h = harness([fake.url]);
    const a = await observe(h, 'shop', spec(fake.url, ['q'], { authSecretRef: { name: 'ca-only' } }));
    assert.ok(a.observations[0]?.ok);
    const b = await observe(h, 'shop', spec(fake.url, ['q2'], { authSecretRef: { name: 'bearer-ca' } }));
    assert.ok(b.observations[0]?.ok);
    assert.equal(fake.seen.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
  });

  it('skips verification only when the policy opts out, and says so', async () => {
    const h = harness([fake.url]);
    const r = await observe(h, 'shop', spec(fake.url, ['q'], { insecureSkipVerify: true }));
    assert.ok(r.observations[0]?.ok);
    assert.equal(r.insecureTLS, true);
  });
});
