// Security: TLS to Prometheus verifies certificates unless a policy explicitly
// opts out, and the opt-out is visible in its status (condition InsecureTLS).
// The Prometheus here is a local HTTPS stand-in on 127.0.0.1 with a self-signed
// certificate (the collector's test fixture), because the sandbox's Prometheus
// serves plain HTTP. Each policy sends its own query text so the stand-in's
// request log shows which of them got through the handshake.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TEST_CA } from '../collector/fake-prometheus.ts';
import {
  api,
  apply,
  condition,
  createNamespace,
  deleteNamespace,
  getPolicy,
  hasEvent,
  holdsReplicas,
  type OperatorProcess,
  scalingPolicy,
  waitForReplicas,
} from '../e2e/support.ts';
import { NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';
import { type FakePrometheus, installCrd, startOperator, startPrometheusStandIn, target } from './support.ts';

const RUN = `sec-tls-${Date.now().toString(36)}`;
const NS = RUN;
const skip = sandboxAvailable() ? false : NO_SANDBOX;
const queryOf = (name: string) => `vector(3) # ${name}`;

describe('TLS to Prometheus is verified unless the policy opts out, visibly', {
  skip,
  timeout: 120_000,
}, () => {
  let op: OperatorProcess;
  let prom: FakePrometheus;
  const seenBy = (name: string) => prom.seen.filter((s) => s.params.get('query') === queryOf(name)).length;

  before(async () => {
    await installCrd();
    prom = await startPrometheusStandIn({ tls: true, value: 3 });
    await createNamespace(NS);
    const policy = (name: string, prometheus: Record<string, unknown>) =>
      scalingPolicy(NS, name, {
        prometheus: { address: prom.url, ...prometheus },
        // 3 per replica from 1 → 3 replicas when the query is answered.
        metrics: [{ name: 'm', query: queryOf(name), target: { type: 'AverageValue', value: '1' } }],
      });
    await apply([
      ...['verified', 'insecure', 'with-ca'].map((n) => target(NS, n, 1)),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'prom-ca', namespace: NS },
        stringData: { 'ca.crt': TEST_CA },
      },
      policy('verified', {}),
      policy('insecure', { insecureSkipVerify: true }),
      policy('with-ca', { authSecretRef: { name: 'prom-ca' } }),
    ]);
    op = await startOperator(RUN, [NS], [prom.url]);
  });

  after(async () => {
    if (op) assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    await prom?.close();
    await deleteNamespace(NS);
  });

  it('by default a self-signed certificate fails the handshake: MetricError unreachable, no scaling', async () => {
    const ev = await waitFor(() => hasEvent(NS, 'verified', 'MetricError'), { timeoutMs: 30_000 });
    assert.match(ev.message, /^metric m failed: unreachable: TLS handshake with Prometheus failed/);
    await holdsReplicas(NS, 'verified', 1, 4_000);
    const p = await getPolicy(NS, 'verified');
    assert.match(p?.status?.currentMetrics?.[0]?.error ?? '', /^unreachable: .*certificate/i);
    assert.equal(condition(p, 'InsecureTLS'), undefined, 'no InsecureTLS condition when verifying');
    assert.equal(seenBy('verified'), 0, 'no request got past the handshake');
  });

  it('insecureSkipVerify: true works and shows as InsecureTLS=True in status and /metrics', async () => {
    await waitForReplicas(NS, 'insecure', 3, 30_000);
    assert.ok(seenBy('insecure') > 0);
    const p = await waitFor(
      async () => {
        const p = await getPolicy(NS, 'insecure');
        return condition(p, 'InsecureTLS') ? p : undefined;
      },
      { timeoutMs: 10_000, what: 'InsecureTLS condition' },
    );
    const c = condition(p, 'InsecureTLS');
    assert.equal(c?.status, 'True');
    assert.equal(c?.reason, 'InsecureSkipVerify');
    assert.equal(
      await op.sample('tidemark_policy_condition', {
        namespace: NS,
        policy: 'insecure',
        condition: 'InsecureTLS',
      }),
      1,
    );
  });

  it('a CA bundle (ca.crt in the auth Secret) verifies the same certificate', async () => {
    await waitForReplicas(NS, 'with-ca', 3, 30_000);
    assert.ok(seenBy('with-ca') > 0);
    assert.notEqual(condition(await getPolicy(NS, 'with-ca'), 'InsecureTLS')?.status, 'True');
  });

  it('turning the opt-out off again verifies again: InsecureTLS=False, metric unreachable, replicas held', async () => {
    await api()({
      method: 'PATCH',
      path: `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies/insecure`,
      body: { spec: { prometheus: { insecureSkipVerify: false } } },
    });
    const p = await waitFor(
      async () => {
        const p = await getPolicy(NS, 'insecure');
        return condition(p, 'InsecureTLS')?.status === 'False' ? p : undefined;
      },
      { timeoutMs: 20_000, what: 'InsecureTLS=False' },
    );
    assert.match(p.status?.currentMetrics?.[0]?.error ?? '', /^unreachable: /);
    await hasEvent(NS, 'insecure', 'MetricError', /unreachable/);
    await holdsReplicas(NS, 'insecure', 3, 4_000);
  });
});
