// Security: a ScalingPolicy cannot make the operator send a request to an
// address of its author's choosing. The operator runs with an allow-list of one
// Prometheus base URL with a path (a local stand-in at /prometheus); policies
// name other ports, hosts, schemes and paths on the same origin. Each must be
// reported as InvalidPolicy (condition and Event) and no byte may reach the
// address it names: a trap listener on another port counts connections, and the
// stand-in records the path of every request it gets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  apply,
  condition,
  createNamespace,
  deleteNamespace,
  getPolicy,
  hasEvent,
  type OperatorProcess,
  scalingPolicy,
} from '../e2e/support.ts';
import { kubectl, NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';
import {
  assertNoLeak,
  type FakePrometheus,
  installCrd,
  operatorLog,
  startFake,
  startOperator,
  startPrometheusStandIn,
  startTrap,
  type Trap,
  target,
} from './support.ts';

const RUN = `sec-allow-${Date.now().toString(36)}`;
const NS = RUN;
const USERINFO_PASSWORD = `ui-${crypto.randomUUID()}`;
const skip = sandboxAvailable() ? false : NO_SANDBOX;

describe('Prometheus allow-list: a policy cannot choose where the operator sends requests', {
  skip,
  concurrency: true,
  timeout: 120_000,
}, () => {
  let op: OperatorProcess;
  let trap: Trap;
  let prom: FakePrometheus;
  let redirector: FakePrometheus;
  let bad: Array<{ name: string; address: string; why: string }> = [];

  before(async () => {
    await installCrd();
    trap = await startTrap();
    prom = await startPrometheusStandIn({ value: 1 });
    // An allowed server that answers with a redirect to the trap: not followed.
    redirector = await startFake();
    redirector.handle((req, res) => {
      res.writeHead(307, { location: `${trap.url}${req.url ?? '/'}` });
      res.end();
    });
    const allowed = `${prom.url}/prometheus`;
    const trapPort = new URL(trap.url).port;
    bad = [
      { name: 'other-port', address: trap.url, why: 'another port on the same host' },
      { name: 'other-port-path', address: `${trap.url}/prometheus`, why: 'another port, the allowed path' },
      { name: 'localhost', address: `http://localhost:${trapPort}`, why: 'another host name' },
      { name: 'https', address: allowed.replace('http:', 'https:'), why: 'another scheme' },
      { name: 'root', address: prom.url, why: 'above the allowed path' },
      { name: 'sibling', address: `${prom.url}/prometheus-evil`, why: 'a sibling path sharing a prefix' },
      { name: 'dotdot', address: `${prom.url}/prometheus/../admin`, why: 'a path escaping with ..' },
      { name: 'internal', address: 'http://169.254.169.254/latest', why: 'a cloud metadata address' },
      {
        name: 'userinfo',
        address: allowed.replace('http://', `http://admin:${USERINFO_PASSWORD}@`),
        why: 'the allowed address with user:password@',
      },
    ];
    await createNamespace(NS);
    await apply([
      target(NS, 'web', 2),
      // A target of its own: a second policy on `web` would not act (one owner per target).
      target(NS, 'web-redirect', 2),
      // The control: the allowed address itself works, so the stand-in would record a stray request.
      scalingPolicy(NS, 'allowed', {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        minReplicas: 2,
        prometheus: { address: `${allowed}/` },
        metrics: [{ name: 'm', query: 'vector(1)', target: { type: 'AverageValue', value: '1' } }],
      }),
      scalingPolicy(NS, 'redirect', {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web-redirect' },
        prometheus: { address: redirector.url },
        metrics: [{ name: 'm', query: 'vector(1)', target: { type: 'AverageValue', value: '1' } }],
      }),
      ...bad.map((b) =>
        scalingPolicy(NS, b.name, {
          targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          prometheus: { address: b.address },
          metrics: [{ name: 'm', query: 'vector(1)', target: { type: 'AverageValue', value: '1' } }],
        }),
      ),
    ]);
    op = await startOperator(RUN, [NS], [allowed, redirector.url]);
  });

  after(async () => {
    if (op) assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    await trap?.close();
    await prom?.close();
    await redirector?.close();
    await deleteNamespace(NS);
  });

  it('the allowed address is used (control)', async () => {
    const p = await waitFor(
      async () => {
        const p = await getPolicy(NS, 'allowed');
        return condition(p, 'Ready')?.reason === 'Reconciled' ? p : undefined;
      },
      { timeoutMs: 30_000, what: 'the allowed policy to reconcile' },
    );
    assert.equal(p.status?.currentMetrics?.[0]?.value, '1');
    assert.ok(prom.seen.length > 0);
  });

  it('a redirect from an allowed server is not followed: MetricError, nothing reaches the trap', async () => {
    const ev = await hasEvent(NS, 'redirect', 'MetricError');
    assert.match(ev.message, /^metric m failed: http-error: .*307/);
    assert.ok(redirector.seen.length > 0);
    assert.equal(trap.connections, 0);
  });

  it('every other address is InvalidPolicy (condition + Event) and receives nothing', async () => {
    for (const b of bad) {
      const p = await waitFor(
        async () => {
          const p = await getPolicy(NS, b.name);
          return condition(p, 'Ready')?.reason === 'InvalidPolicy' ? p : undefined;
        },
        { timeoutMs: 30_000, what: `${b.name} (${b.why}) to be InvalidPolicy` },
      );
      assert.equal(condition(p, 'Ready')?.status, 'False', b.name);
      assert.match(condition(p, 'Ready')?.message ?? '', /allow-list|credentials/, b.name);
      const ev = await hasEvent(NS, b.name, 'InvalidPolicy');
      assert.equal(ev.type, 'Warning');
      assert.equal(p.status?.currentMetrics, undefined, `${b.name}: no metric was read`);
    }
    // Several more ticks (2 s polling) of every policy before counting.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.equal(trap.connections, 0, 'no connection reached the trap listener');
    const stray = prom.seen.filter((s) => !s.path.startsWith('/prometheus/api/v1/'));
    assert.deepEqual(
      stray.map((s) => s.path),
      [],
      'the stand-in got requests only under the allowed path',
    );
    // user:password@ in the address: reported without repeating the password.
    const status = JSON.stringify((await getPolicy(NS, 'userinfo'))?.status);
    const evs = (await kubectl(['get', 'events', '-n', NS, '-o', 'json'])).stdout;
    assertNoLeak(
      { status, events: evs, log: operatorLog(RUN), metrics: await op.metrics() },
      { password: USERINFO_PASSWORD },
    );
  });
});
