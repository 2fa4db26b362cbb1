// The Operator wired together (informer, lease, scheduler, reconciler, HTTP
// endpoints) against a small in-process fake API server and fake Prometheus on
// 127.0.0.1 (fake-api-server.ts): no sandbox needed. The real thing is in test/e2e/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Operator } from '../../src/operator/operator.ts';
import { type FakeApi, fakeApiServer } from './fake-api-server.ts';

describe('Operator (in-process, fake API server)', () => {
  let fake: FakeApi;
  let op: Operator;

  before(async () => {
    fake = await fakeApiServer('op-test');
    op = new Operator({
      kubeconfig: fake.kubeconfig,
      log: pino({ level: 'silent' }),
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      allowedPrometheus: [fake.prometheusUrl],
      leaseNamespace: 'default',
      leaseName: 'op-test',
      identity: 'op-1',
      maxConcurrentTicks: 4,
      retryPeriodMs: 200,
    });
    await op.start();
  });

  after(() => fake.close());

  const until = async (probe: () => boolean | Promise<boolean>, what: string, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('takes the lease, watches the policy and scales its target', async () => {
    await until(() => op.isLeader(), 'leadership');
    assert.equal((fake.lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, 'op-1');
    // 300 rps at 50/replica.
    await until(() => fake.replicas === 6 && fake.status !== undefined, 'replicas 6', 15_000);
    // The Event follows the status write.
    await until(() => fake.events.some((e) => e.reason === 'Scaled'), 'a Scaled Event');
    assert.equal((fake.status as { desiredReplicas: number }).desiredReplicas, 6);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const base = `http://127.0.0.1:${op.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.text()).trim(), 'leader');
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^tidemark_leader 1$/m);
    assert.match(text, /^tidemark_policies_watched 1$/m);
    assert.match(text, /tidemark_policy_current_replicas\{namespace="demo",policy="web"\} 6/);
    assert.match(text, /tidemark_prometheus_query_duration_seconds_count\{outcome="success"\} [1-9]/);
  });

  it('an idle policy stops writing status', async () => {
    const before = fake.statusWrites;
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(fake.statusWrites, before, 'three more ticks, no write');
  });

  it('stops gracefully and releases the lease', async () => {
    await op.stop();
    assert.equal(op.isLeader(), false);
    assert.equal((fake.lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, '');
    await assert.rejects(fetch(`http://127.0.0.1:${op.port}/healthz`));
  });
});
