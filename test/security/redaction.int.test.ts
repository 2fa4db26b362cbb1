// Security: credential values never appear in the operator's logs, Events,
// status or /metrics. Policies use a bearer-token Secret and a basic-auth Secret
// against a local Prometheus stand-in on 127.0.0.1 that checks them (so we know
// they were really read and sent), and a third Secret with a wrong token, which
// the stand-in rejects with a 401 whose body echoes the Authorization header it
// got: outside text carrying a credential, which must be redacted before it is
// shown. The operator runs at debug level, its most talkative. Then everything is
// searched for each value, its base64 and the basic-auth header's base64.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  apply,
  createNamespace,
  deleteNamespace,
  getPolicy,
  hasEvent,
  type OperatorProcess,
  scalingPolicy,
  waitForReplicas,
} from '../e2e/support.ts';
import { kubectl, NO_SANDBOX, sandboxAvailable, waitFor } from '../support/sandbox.ts';
import {
  assertNoLeak,
  type FakePrometheus,
  installCrd,
  leakForms,
  operatorLog,
  startOperator,
  startPrometheusStandIn,
  target,
} from './support.ts';

const RUN = `sec-redact-${Date.now().toString(36)}`;
const NS = RUN;
const rnd = () => crypto.randomUUID().replaceAll('-', '');
const TOKEN = `tok${rnd()}`;
const WRONG_TOKEN = `wrong${rnd()}`;
const USERNAME = `user${rnd()}`;
const PASSWORD = `pw${rnd()}`;
const WRONG_USERNAME = `wuser${rnd()}`;
const WRONG_PASSWORD = `wpw${rnd()}`;
const POLICIES = ['bearer', 'basic', 'wrong', 'wrong-basic'];
const skip = sandboxAvailable() ? false : NO_SANDBOX;

const secret = (name: string, stringData: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: NS },
  stringData,
});

describe('credential values never appear in logs, Events, status or metrics', {
  skip,
  timeout: 120_000,
}, () => {
  let op: OperatorProcess;
  let prom: FakePrometheus;

  before(async () => {
    await installCrd();
    prom = await startPrometheusStandIn({
      value: 3,
      authorized: (h) =>
        h.authorization === `Bearer ${TOKEN}` ||
        h.authorization === `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')}`,
    });
    await createNamespace(NS);
    const policy = (name: string) =>
      scalingPolicy(NS, name, {
        prometheus: { address: prom.url, authSecretRef: { name } },
        // 3 per replica from 1 → 3 replicas when the credentials work.
        metrics: [{ name: 'm', query: 'vector(3)', target: { type: 'AverageValue', value: '1' } }],
      });
    await apply([
      secret('bearer', { token: TOKEN }),
      secret('basic', { username: USERNAME, password: PASSWORD }),
      secret('wrong', { token: WRONG_TOKEN }),
      secret('wrong-basic', { username: WRONG_USERNAME, password: WRONG_PASSWORD }),
      ...POLICIES.map((n) => target(NS, n, 1)),
      ...POLICIES.map(policy),
    ]);
    op = await startOperator(RUN, [NS], [prom.url], ['--log-level', 'debug']);
  });

  after(async () => {
    if (op) assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    await prom?.close();
    await deleteNamespace(NS);
  });

  it('the credentials are read and sent (bearer and basic scale; the wrong token gets a 401)', async () => {
    await waitForReplicas(NS, 'bearer', 3, 30_000);
    await waitForReplicas(NS, 'basic', 3, 30_000);
    for (const name of ['wrong', 'wrong-basic']) {
      const ev = await hasEvent(NS, name, 'MetricError');
      assert.match(ev.message, /http-error/);
    }
    const headers = new Set(prom.seen.map((s) => s.headers.authorization));
    assert.ok(headers.has(`Bearer ${TOKEN}`) && headers.has(`Bearer ${WRONG_TOKEN}`));
    assert.ok([...headers].some((h) => h?.startsWith('Basic ')));
    for (const [name, scheme] of [
      ['wrong', 'Bearer'],
      ['wrong-basic', 'Basic'],
    ]) {
      const error = await waitFor(
        async () => (await getPolicy(NS, name!))?.status?.currentMetrics?.[0]?.error,
        {
          timeoutMs: 10_000,
          what: `the error of ${name}`,
        },
      );
      assert.match(error, /^http-error: /);
      // The 401 body echoed the header: it reached the operator and was redacted, not dropped.
      assert.match(error, new RegExp(`${scheme} \\[REDACTED\\]`));
    }
  });

  it('no value, its base64, or the basic-auth header appears in any of them', async () => {
    // A few more ticks at debug level, then the shutdown's lines too.
    await new Promise((r) => setTimeout(r, 4_000));
    const places = {
      'operator /metrics': await op.metrics(),
      'Events (kubectl get events -o json)': (await kubectl(['get', 'events', '-n', NS, '-o', 'json']))
        .stdout,
      'policies (kubectl get scalingpolicies -o json)': (
        await kubectl(['get', 'scalingpolicies', '-n', NS, '-o', 'json'])
      ).stdout,
      'kubectl describe scalingpolicies': (await kubectl(['describe', 'scalingpolicies', '-n', NS])).stdout,
    };
    assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    // The usernames too, though the collector (like Prometheus' own config) treats a
    // username as an identity rather than a secret: nothing here echoes one in clear.
    const forms = {
      ...leakForms(
        { token: TOKEN, wrongToken: WRONG_TOKEN, username: USERNAME, password: PASSWORD },
        { username: USERNAME, password: PASSWORD },
      ),
      ...leakForms(
        { wrongUsername: WRONG_USERNAME, wrongPassword: WRONG_PASSWORD },
        { username: WRONG_USERNAME, password: WRONG_PASSWORD },
      ),
    };
    const log = operatorLog(RUN);
    assert.ok(log.split('\n').length > 20, 'the log has content');
    assertNoLeak({ ...places, 'operator log (stdout and stderr)': log }, forms);
    // The test would see a leak: the values are in the Secrets themselves.
    const secrets = (await kubectl(['get', 'secrets', '-n', NS, '-o', 'json'])).stdout;
    assert.ok(secrets.includes(forms['base64(token)']!));
  });
});
