// Pure parts of the collector: request sharing, backoff, range chunking, failure classification.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { classifyFailure, QueryFailure } from '../../src/collector/client.ts';
import { planRangeChunks } from '../../src/collector/collector.ts';
import { SharedRequests } from '../../src/collector/dedupe.ts';
import { backoffDelayMs, DEFAULT_RETRY } from '../../src/collector/retry.ts';

describe('SharedRequests', () => {
  it('joins in-flight requests and reuses results within the window only', async () => {
    let now = 0;
    const shared = new SharedRequests<number>(1000, () => now);
    let started = 0;
    const start = () => Promise.resolve(++started);
    const [a, b] = await Promise.all([shared.get('k', start), shared.get('k', start)]);
    assert.deepEqual([a, b], [1, 1]);
    now = 999;
    assert.equal(await shared.get('k', start), 1);
    assert.equal(await shared.get('other', start), 2);
    now = 1001;
    assert.equal(await shared.get('k', start), 3);
    assert.equal(shared.started, 3);
  });

  it('keeps joining a request still in flight after the window', async () => {
    let now = 0;
    const shared = new SharedRequests<string>(100, () => now);
    let release: (v: string) => void = () => {};
    const first = shared.get('k', () => new Promise((r) => (release = r)));
    now = 5000;
    const second = shared.get('k', () => Promise.resolve('new'));
    release('old');
    assert.deepEqual(await Promise.all([first, second]), ['old', 'old']);
    assert.equal(shared.started, 1);
  });

  it('never reuses a rejected request', async () => {
    const shared = new SharedRequests<number>(1000, () => 0);
    await assert.rejects(shared.get('k', () => Promise.reject(new Error('x'))));
    await new Promise((r) => setImmediate(r));
    assert.equal(await shared.get('k', () => Promise.resolve(2)), 2);
  });
});

describe('backoff', () => {
  it('grows exponentially with full jitter, capped', () => {
    const max = (n: number) => backoffDelayMs(n, DEFAULT_RETRY, () => 1);
    assert.deepEqual([1, 2, 3, 4, 5, 10].map(max), [200, 400, 800, 1600, 2000, 2000]);
    assert.equal(
      backoffDelayMs(3, DEFAULT_RETRY, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(2, DEFAULT_RETRY, () => 0.25),
      100,
    );
  });
});

describe('planRangeChunks', () => {
  it('covers [start, end] on the step grid with at most maxPoints points per chunk', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2e12 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 1, max: 3600 }),
        fc.integer({ min: 1, max: 11_000 }),
        (startMs, steps, stepSeconds, maxPoints) => {
          const stepMs = stepSeconds * 1000;
          const endMs = startMs + steps * stepMs + (steps % 3); // end may fall between grid points
          const chunks = planRangeChunks(startMs, endMs, stepSeconds, maxPoints);
          assert.equal(chunks[0]?.startMs, startMs);
          let covered = 0;
          for (const [i, c] of chunks.entries()) {
            const points = Math.floor((c.endMs - c.startMs) / stepMs) + 1;
            assert.ok(points >= 1 && points <= maxPoints);
            assert.equal((c.startMs - startMs) % stepMs, 0);
            if (i > 0) assert.equal(c.startMs, chunks[i - 1]!.startMs + maxPoints * stepMs);
            covered += points;
            assert.ok(c.endMs <= endMs);
          }
          assert.equal(covered, steps + 1);
        },
      ),
      { seed: 4102, numRuns: 200 },
    );
  });

  it('returns nothing for a reversed range or a non-positive step', () => {
    assert.deepEqual(planRangeChunks(10, 0, 1, 10), []);
    assert.deepEqual(planRangeChunks(0, 10, 0, 10), []);
  });
});

describe('classifyFailure', () => {
  const k = (thrown: unknown, status?: number) => {
    const f = classifyFailure(thrown, { status }, ['s3cr3t']);
    return `${f.kind}${f.transient ? ' (transient)' : ''}`;
  };
  it('maps statuses, network and TLS errors to kinds and transience', () => {
    assert.equal(k({ errorType: 'http_error', httpStatus: 400, error: 'parse error' }), 'bad-query');
    assert.equal(k({ errorType: 'http_error', httpStatus: 422 }), 'bad-query');
    assert.equal(k({ errorType: 'http_error', httpStatus: 429 }), 'http-error (transient)');
    assert.equal(k({ errorType: 'http_error', httpStatus: 500 }), 'http-error (transient)');
    assert.equal(k({ errorType: 'http_error', httpStatus: 401 }), 'http-error');
    assert.equal(
      k({ errorType: 'http_error', httpStatus: 503, prometheus: { errorType: 'timeout' } }),
      'timeout (transient)',
    );
    assert.equal(k({ errorType: 'client_error' }, 502), 'http-error (transient)');
    assert.equal(
      k({ errorType: 'network_error', code: 'ECONNREFUSED', error: 'x' }),
      'unreachable (transient)',
    );
    assert.equal(k({ errorType: 'network_error', code: 'ECONNABORTED' }), 'timeout (transient)');
    assert.equal(k({ errorType: 'network_error', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'unreachable');
    assert.equal(k({ errorType: 'ssl_error', code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), 'unreachable');
    assert.equal(
      k({
        errorType: 'network_error',
        code: 'ERR_BAD_RESPONSE',
        error: 'maxContentLength size of 9 exceeded',
      }),
      'too-large',
    );
    assert.equal(k(new QueryFailure('empty', 'x', false)), 'empty');
  });

  it('redacts Prometheus error text', () => {
    const f = classifyFailure({ errorType: 'http_error', httpStatus: 400, error: 'token s3cr3t bad' }, {}, [
      's3cr3t',
    ]);
    assert.equal(f.message, 'Prometheus rejected the query (HTTP 400): token [REDACTED] bad');
  });

  it('takes the abort reason of an aborted signal', () => {
    const ac = new AbortController();
    const reason = new QueryFailure('timeout', 'query timed out after 1s', true);
    ac.abort(reason);
    assert.equal(classifyFailure({ code: 'ERR_CANCELED' }, {}, [], ac.signal), reason);
  });
});
