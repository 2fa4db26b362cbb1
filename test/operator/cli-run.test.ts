import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { allowedPrometheus, leaseNamespace } from '../../src/cli/run.ts';

describe('tidemark run (configuration)', () => {
  it('takes the allow-list from the flag, else the environment; empty allows nothing', () => {
    assert.deepEqual(allowedPrometheus(['http://a:9090'], { PROMETHEUS_URL: 'http://b' }), ['http://a:9090']);
    assert.deepEqual(allowedPrometheus(undefined, { TIDEMARK_ALLOWED_PROMETHEUS: 'http://a, http://c' }), [
      'http://a',
      'http://c',
    ]);
    assert.deepEqual(allowedPrometheus(undefined, { PROMETHEUS_URL: 'http://b' }), ['http://b']);
    assert.deepEqual(allowedPrometheus(undefined, {}), []);
  });

  it("puts the Lease in the operator's own namespace", () => {
    assert.equal(leaseNamespace('ops', { POD_NAMESPACE: 'x' }), 'ops');
    assert.equal(leaseNamespace(undefined, { POD_NAMESPACE: 'x' }), 'x');
  });

  it('rejects a renew deadline not shorter than the lease, and bad numbers, with exit code 2 or 1', async () => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string) => {
      err += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      assert.equal(await main(['run', '--lease-duration-seconds', '5', '--renew-deadline-seconds', '5']), 2);
      assert.match(err, /renew-deadline-seconds must be less than/);
      assert.equal(await main(['run', '--max-concurrent-ticks', 'many']), 1);
      assert.match(err, /expected an integer/);
      assert.equal(await main(['run', '--kube-api-qps', '50', '--kube-api-burst', '10']), 2);
      assert.match(err, /--kube-api-burst must be at least --kube-api-qps/);
      assert.equal(await main(['run', '--kube-api-qps', '0']), 1);
      assert.equal(await main(['run', '--sharding', 'yes']), 1);
      assert.match(err, /--sharding <on\|off>.*expected one of on, off, got "yes"/);
    } finally {
      process.stderr.write = write;
    }
  });
});
