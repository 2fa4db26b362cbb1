// The API transport's own guarantees, against a scripted HTTP server on
// 127.0.0.1 (a real kube-apiserver cannot be made to trickle a response or to
// answer one chosen request with 429 on cue).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { httpTransport, InFlightWrites, KubeApiError } from '../../src/kube/api-client.ts';
import { TokenBucket } from '../../src/kube/rate-limit.ts';
import { json, outcomeWithin, type ScriptedServer, scriptedServer } from '../reconciler/http-server.ts';

const servers: ScriptedServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));
async function serve(...a: Parameters<typeof scriptedServer>) {
  const s = await scriptedServer(...a);
  servers.push(s);
  return s;
}

describe('httpTransport deadline', () => {
  it('abandons a request whose response trickles, at its total deadline (an idle timeout never fires)', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
      // One byte now and then: the socket is never idle, the response never ends.
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    const transport = httpTransport(s.kubeconfig);
    const r = await outcomeWithin(
      transport({ method: 'PATCH', path: '/x', body: {}, timeoutMs: 300 }),
      15_000,
    );
    assert.notEqual(r, 'pending', 'the request was still running long after its 300 ms deadline');
    assert.ok(typeof r === 'object' && 'err' in r, 'rejected');
    assert.ok(r.err instanceof KubeApiError);
    assert.equal(r.err.status, 0);
    assert.match(r.err.message, /deadline/);
  });
});

describe('httpTransport and API Priority and Fairness', () => {
  it('retries a 429 after its Retry-After, within the deadline', async () => {
    const s = await serve((_req, res, n) => {
      if (n === 1)
        return json(res, 429, { reason: 'TooManyRequests', message: 'slow down' }, { 'retry-after': '1' });
      json(res, 200, { ok: n });
    });
    const transport = httpTransport(s.kubeconfig);
    assert.deepEqual(await transport({ method: 'PATCH', path: '/x', body: {}, timeoutMs: 10_000 }), {
      ok: 2,
    });
    assert.equal(s.seen.length, 2);
  });

  it('gives up at once when Retry-After lies beyond the deadline', async () => {
    const s = await serve((_req, res) =>
      json(res, 429, { reason: 'TooManyRequests', message: 'slow down' }, { 'retry-after': '60' }),
    );
    const transport = httpTransport(s.kubeconfig);
    const r = await outcomeWithin(transport({ method: 'GET', path: '/x', timeoutMs: 2_000 }), 15_000);
    assert.ok(typeof r === 'object' && 'err' in r, `rejected, not ${JSON.stringify(r)}`);
    assert.ok(r.err instanceof KubeApiError);
    assert.equal(r.err.status, 429);
    assert.equal(s.seen.length, 1, 'no retry that could not finish in time');
  });
});

describe('httpTransport client-side rate limit', () => {
  it('sends at most the burst at once and fails fast a request that could not get a turn before its deadline', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const waits: number[] = [];
    const transport = httpTransport(s.kubeconfig, {
      limiter: new TokenBucket(0.01, 2),
      observer: { onThrottled: (e) => waits.push(e.seconds) },
    });
    await transport({ method: 'GET', path: '/a' });
    await transport({ method: 'GET', path: '/b' });
    const r = await outcomeWithin(transport({ method: 'GET', path: '/c', timeoutMs: 5_000 }), 15_000);
    assert.ok(typeof r === 'object' && 'err' in r, 'refused');
    assert.ok(r.err instanceof KubeApiError);
    assert.match(r.err.message, /client-side rate limit/);
    assert.deepEqual(s.seen, ['GET /a', 'GET /b'], 'the third was never sent');
    assert.deepEqual(waits, [], 'and did not wait in vain');
  });
});

// A kept-alive connection the server closes just as the client reuses it (its idle timeout
// racing the next request) fails that request with "socket hang up" though the server never
// answered it. The scripted server destroys the socket on a chosen request: a real API server
// closes idle connections on its own schedule, not on cue.
describe('httpTransport and a kept-alive connection the server closed', () => {
  const hangUpOn = (k: number) =>
    serve((req, res, n) => {
      if (n === k) return req.socket.destroy();
      json(res, 200, { n });
    });

  it('sends a GET again, once, on a new connection', async () => {
    const s = await hangUpOn(2);
    const transport = httpTransport(s.kubeconfig);
    assert.equal(((await transport({ method: 'GET', path: '/a' })) as { n: number }).n, 1);
    assert.equal(((await transport({ method: 'GET', path: '/b' })) as { n: number }).n, 3);
    assert.deepEqual(s.seen, ['GET /a', 'GET /b', 'GET /b']);
  });

  it('does not send a write again: its outcome is unknown, and the caller re-reads', async () => {
    const s = await hangUpOn(2);
    const transport = httpTransport(s.kubeconfig);
    await transport({ method: 'GET', path: '/a' });
    await assert.rejects(transport({ method: 'PATCH', path: '/b', body: {} }), (e: unknown) => {
      assert.ok(e instanceof KubeApiError);
      assert.equal(e.reason, 'Transport');
      return true;
    });
    assert.deepEqual(s.seen, ['GET /a', 'PATCH /b']);
  });

  it('does not send a GET again when its connection was new (nothing kept alive went stale)', async () => {
    const s = await hangUpOn(1);
    const transport = httpTransport(s.kubeconfig);
    await assert.rejects(transport({ method: 'GET', path: '/a' }), /socket hang up/);
    assert.deepEqual(s.seen, ['GET /a']);
  });
});

// A kubeconfig whose exec plugin (a real one: client-node spawns it) answers only once
// `release` exists, and a deadline clock the test moves (TransportOptions.now): the
// credentials take as long as the test says, with no race against the wall clock.
function slowCredentials(s: ScriptedServer, user: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-exec-'));
  const release = join(dir, 'release');
  const credential = JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: 'from-exec' },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: s.url, skipTLSVerify: true }],
    users: [
      {
        name: user,
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: 'sh',
          args: [
            '-c',
            'while [ ! -e "$1" ]; do sleep 0.02; done; printf "%s" "$2"',
            'sh',
            release,
            credential,
          ],
        },
      },
    ],
    contexts: [{ name: 'x', cluster: 'c', user }],
    currentContext: 'x',
  });
  return { kc, release: () => writeFileSync(release, ''), cleanup: () => rmSync(dir, { recursive: true }) };
}

describe('httpTransport deadline and credentials (issue 18, defect 2)', () => {
  it('does not send a write whose deadline passed while its credentials were refreshed', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const creds = slowCredentials(s, 'exec-late');
    let now = 0;
    const transport = httpTransport(creds.kc, { now: () => now });
    const write = transport({ method: 'PUT', path: '/scale', body: {}, timeoutMs: 1_000 });
    // The exec plugin takes 5 s (on the deadline's clock), past the write's 1 s fence.
    now += 5_000;
    creds.release();
    const r = await outcomeWithin(write, 15_000);
    creds.cleanup();
    assert.ok(typeof r === 'object' && 'err' in r, `rejected, not ${JSON.stringify(r)}`);
    assert.ok(r.err instanceof KubeApiError);
    assert.equal(r.err.reason, 'Deadline');
    assert.deepEqual(s.seen, [], 'the write was never sent: its fence had passed');
  });

  it('abandons a write at its deadline counted from the call, not from when its credentials came', async () => {
    // The server never answers: only the deadline can end the request.
    const s = await serve(() => {});
    const creds = slowCredentials(s, 'exec-slow');
    let now = 0;
    const transport = httpTransport(creds.kc, { now: () => now });
    const hour = 3_600_000;
    const write = transport({ method: 'PUT', path: '/scale', body: {}, timeoutMs: hour });
    // The credentials take all but 50 ms of the write's hour: 50 ms are left for the exchange.
    now += hour - 50;
    creds.release();
    const r = await outcomeWithin(write, 15_000);
    creds.cleanup();
    assert.notEqual(r, 'pending', 'the write was still in flight long after its deadline');
    assert.ok(typeof r === 'object' && 'err' in r);
    assert.ok(r.err instanceof KubeApiError);
    assert.equal(r.err.reason, 'Deadline');
  });
});

describe('InFlightWrites (stopped before a shutdown releases the Lease)', () => {
  it('a write still waiting for the client-side rate limit is aborted there, never sent', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const writes = new InFlightWrites();
    // One token, refilled every 100 s: the second write waits for it.
    const transport = writes.wrap(httpTransport(s.kubeconfig, { limiter: new TokenBucket(0.01, 1) }));
    await transport({ method: 'PUT', path: '/first', body: {} });
    const waiting = transport({ method: 'PUT', path: '/second', body: {}, timeoutMs: 3_600_000 });
    // The wait (100 s) ends at the abort, not when the token comes.
    assert.deepEqual(await outcomeWithin(writes.abortAll(), 15_000), { ok: 1 });
    await assert.rejects(waiting, (e: unknown) => e instanceof KubeApiError && e.reason === 'Aborted');
    assert.deepEqual(s.seen, ['PUT /first']);
  });

  it('aborts a write in flight and waits for it, refuses new writes, lets reads through', async () => {
    // The server holds every PATCH unanswered; GETs are answered.
    const s = await serve((req, res) => {
      if (req.method === 'GET') json(res, 200, { ok: true });
    });
    const writes = new InFlightWrites();
    const transport = writes.wrap(httpTransport(s.kubeconfig));
    const held = transport({ method: 'PATCH', path: '/held', body: {}, timeoutMs: 3_600_000 });
    let outcome: string | undefined;
    held.then(
      () => {
        outcome = 'answered';
      },
      (e: unknown) => {
        outcome = e instanceof KubeApiError ? e.reason : String(e);
      },
    );
    for (let i = 0; s.seen.length === 0 && i < 1_000; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(writes.size, 1);
    assert.equal(await writes.abortAll(), 1, 'one write was in flight');
    assert.equal(outcome, 'Aborted', 'abortAll resolved after the write had settled, destroyed');
    assert.equal(writes.size, 0);
    await assert.rejects(transport({ method: 'PUT', path: '/late', body: {} }), /shutting down: not sent/);
    assert.deepEqual(await transport({ method: 'GET', path: '/read' }), { ok: true });
    assert.deepEqual(s.seen, ['PATCH /held', 'GET /read'], 'the late write was never sent');
  });
});
