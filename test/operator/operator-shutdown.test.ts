// Shutdown past its grace (issue 21, item 4's finding): a tick whose scale
// write is still in flight when `graceMs` runs out must not keep that write's
// budget while the Lease is released, or the write could land after a standby
// took over. The fake API server holds the write unanswered (a real API server
// cannot be made to on cue) and logs, in order, what it saw.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Operator } from '../../src/operator/operator.ts';
import { type FakeApi, fakeApiServer } from './fake-api-server.ts';

const fakes: FakeApi[] = [];
after(() => Promise.all(fakes.map((f) => f.close())));

async function until(probe: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Operator shutdown past its grace', () => {
  it('stops a write still in flight before it releases the Lease, so the write cannot land after', async () => {
    const fake = await fakeApiServer('op-stop');
    fakes.push(fake);
    fake.holdScale = true;
    const op = new Operator({
      kubeconfig: fake.kubeconfig,
      log: pino({ level: 'silent' }),
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      allowedPrometheus: [fake.prometheusUrl],
      leaseNamespace: 'default',
      leaseName: 'op-stop',
      identity: 'op-stop-1',
      maxConcurrentTicks: 4,
      retryPeriodMs: 200,
    });
    await op.start();
    await until(() => fake.log.includes('scale held'), 'the first scale write (1 → 6) to reach the server');
    // The tick waits on its write: the grace runs out, and the Lease is released.
    await op.stop(300);
    // Whatever is still open lands now, as it would after a standby took the released Lease.
    fake.releaseHeld();
    assert.deepEqual(
      fake.log,
      ['scale held', 'scale held: connection closed', 'lease released'],
      'the write in flight was stopped before the Lease was released, and never landed',
    );
    assert.equal(fake.replicas, 1);
  });
});
