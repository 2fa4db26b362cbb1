// The API transport's own guarantees, against a scripted HTTP server on
// 127.0.0.1 (a real kube-apiserver cannot be made to trickle a response or to
// answer one chosen request with 429 on cue).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { httpTransport, KubeApiError } from '../../src/reconciler/kube.ts';
import { TokenBucket } from '../../src/reconciler/ratelimit.ts';
import { json, outcomeWithin, type ScriptedServer, scriptedServer } from './http-server.ts';

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
