// `tidemark run --webhook` in the sandbox: the conversion webhook's series are on the
// operator's own /metrics (its metrics port), not on a server of their own. The webhook
// keeps its certificates in a Secret of a namespace made for this test and leaves the CRD
// alone (--no-webhook-manage-crd: the sandbox's own webhook serves the API server).
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import { freePort, httpGet, type RunningOperator, startOperator } from '../deploy/support/operator.ts';
import { kubectl, sandboxEnv, waitFor } from '../support/sandbox.ts';

const NS = `webhook-metrics-${process.pid}`;
let op: RunningOperator | undefined;
let webhookPort = 0;

before(async () => {
  await kubectl(['create', 'namespace', NS]);
  webhookPort = await freePort();
  op = await startOperator({
    kubeconfig: sandboxEnv().kubeconfig,
    args: [
      `--namespaces=${NS}`,
      `--leader-election-namespace=${NS}`,
      `--lease-name=${NS}`,
      `--identity=${NS}`,
      '--allowed-prometheus=http://127.0.0.1:1',
      '--webhook',
      `--webhook-port=${webhookPort}`,
      '--webhook-host=127.0.0.1',
      `--webhook-url=https://127.0.0.1:${webhookPort}/convert`,
      `--webhook-secret-namespace=${NS}`,
      '--no-webhook-manage-crd',
    ],
  });
});

after(async () => {
  await op?.stop(5000);
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']).catch(() => {});
});

/** A body that is no ConversionReview: answered 400 and counted as a malformed failure. */
function postGarbage(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: webhookPort, path: '/convert', method: 'POST', rejectUnauthorized: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('{');
  });
}

test("the webhook's requests, failures and certificate expiry are on the operator's /metrics", async () => {
  const running = op!;
  const metrics = async () => (await httpGet(running.port, '/metrics')).body;
  await waitFor(
    async () => /tidemark_webhook_certificate_expiry_seconds\{certificate="serving"\}/.test(await metrics()),
    {
      timeoutMs: 60_000,
      what: `the webhook serving (output: ${running.output().slice(-2000)})`,
    },
  );
  assert.equal(await postGarbage(), 400);
  const text = await metrics();
  assert.match(text, /^tidemark_webhook_requests_total\{code="400"\} 1$/m);
  assert.match(text, /^tidemark_webhook_failures_total\{reason="malformed"\} 1$/m);
  assert.match(text, /^tidemark_webhook_request_duration_seconds_count 1$/m);
  const serving = /^tidemark_webhook_certificate_expiry_seconds\{certificate="serving"\} (\S+)$/m.exec(text);
  const ca = /^tidemark_webhook_certificate_expiry_seconds\{certificate="ca"\} (\S+)$/m.exec(text);
  assert.ok(serving && ca, text);
  assert.ok(Number(serving[1]) > 0 && Number(serving[1]) < Number(ca[1]), `${serving[1]} ${ca[1]}`);
  // And the operator's own series beside them: one /metrics.
  assert.match(text, /^# TYPE tidemark_leader gauge$/m);
});
