// Security: a policy reads Secrets only from its own namespace, and only the one
// it names. A policy in namespace A names a Secret that exists only in B: it
// fails with SecretNotFound (metric error, condition, Event), no query is sent,
// and B's token is never used. There is no field to name another namespace (the
// API server rejects one). Creating the Secret in A heals the policy with A's token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
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
import { kubectl, NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';
import { type FakePrometheus, installCrd, startOperator, startPrometheusStandIn, target } from './support.ts';

const RUN = `sec-ns-${Date.now().toString(36)}`;
const A = `${RUN}-a`;
const B = `${RUN}-b`;
const TOKEN_A = `a-${crypto.randomUUID()}`;
const TOKEN_B = `b-${crypto.randomUUID()}`;
const skip = sandboxAvailable() ? false : NO_SANDBOX;

const secret = (namespace: string, token: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'prom-auth', namespace },
  stringData: { token },
});

describe("Secrets come only from the policy's own namespace", { skip, timeout: 120_000 }, () => {
  let op: OperatorProcess;
  let prom: FakePrometheus;
  const policy = (extra: Record<string, unknown> = {}) =>
    scalingPolicy(A, 'web', {
      prometheus: { address: prom.url, authSecretRef: { name: 'prom-auth', ...extra } },
      // 3 per replica from 1 → 3 replicas once the token works.
      metrics: [{ name: 'm', query: 'vector(3)', target: { type: 'AverageValue', value: '1' } }],
    });

  before(async () => {
    await installCrd();
    // Either token would be accepted, so only the operator's choice of Secret decides.
    prom = await startPrometheusStandIn({
      value: 3,
      authorized: (h) => h.authorization === `Bearer ${TOKEN_A}` || h.authorization === `Bearer ${TOKEN_B}`,
    });
    await Promise.all([createNamespace(A), createNamespace(B)]);
    await apply([secret(B, TOKEN_B), target(A, 'web', 1)]);
    await apply([policy()]);
    op = await startOperator(RUN, [A, B], [prom.url]);
  });

  after(async () => {
    if (op) assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    await prom?.close();
    await Promise.all([deleteNamespace(A), deleteNamespace(B)]);
  });

  it('a Secret that exists only in another namespace is not found; nothing is queried or scaled', async () => {
    const p = await waitFor(
      async () => {
        const p = await getPolicy(A, 'web');
        return p?.status?.currentMetrics?.[0]?.error ? p : undefined;
      },
      { timeoutMs: 30_000, what: 'the metric error' },
    );
    assert.equal(p.status?.currentMetrics?.[0]?.error, `unreachable: Secret ${A}/prom-auth not found`);
    assert.equal(condition(p, 'Ready')?.status, 'False');
    await hasEvent(A, 'web', 'MetricError', new RegExp(`Secret ${A}/prom-auth not found`));
    await holdsReplicas(A, 'web', 1, 4_000);
    assert.deepEqual(
      prom.seen.map((s) => s.headers.authorization),
      [],
      'no query was sent without its credentials, and never with the other namespace’s token',
    );
  });

  it('a reference to another namespace is rejected by the API server (there is no such field)', async () => {
    // kubectl validates strictly by default: an unknown field is an error, not dropped.
    await assert.rejects(
      kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy({ namespace: B })) }),
      /unknown field "spec\.prometheus\.authSecretRef\.namespace"/,
    );
    await assert.rejects(
      kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy({ name: `${B}/prom-auth` })) }),
      /spec\.prometheus\.authSecretRef\.name/,
    );
  });

  it("with the Secret in its own namespace it heals and uses that namespace's token only", async () => {
    await apply([secret(A, TOKEN_A)]);
    // The collector caches a Secret read for 10 s.
    await waitForReplicas(A, 'web', 3, 40_000);
    await hasEvent(A, 'web', 'MetricRecovered');
    const used = new Set(prom.seen.map((s) => s.headers.authorization));
    assert.deepEqual([...used], [`Bearer ${TOKEN_A}`]);
  });
});
