// The image's contents (see support/image.ts: the Dockerfile's steps replayed
// in a temporary folder, no src/, no dev dependencies) run a real operator
// against the sandbox until it reports healthy, then stop cleanly.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { sandboxEnv, waitFor } from '../support/sandbox.ts';
import { buildImageFolder } from './support/image.ts';
import { httpGet, type RunningOperator, startOperator } from './support/operator.ts';

let app = '';
let op: RunningOperator | undefined;
before(() => {
  const built = buildImageFolder();
  app = built.app;
  for (const n of built.notes) process.stdout.write(`# ${n}\n`);
});
after(async () => {
  await op?.stop(2000);
  if (app) rmSync(app, { recursive: true, force: true });
});

test('the image contents run `tidemark run` against the sandbox: /healthz, /readyz and /metrics answer', async () => {
  const env = sandboxEnv();
  op = await startOperator({
    appDir: app,
    kubeconfig: env.kubeconfig,
    args: [
      '--leader-election-namespace=default',
      `--lease-name=tidemark-image-test-${process.pid}`,
      '--identity=image-test',
      `--allowed-prometheus=${env.prometheusUrl}`,
    ],
  });
  const port = op.port;
  await waitFor(async () => (await httpGet(port, '/healthz')).status === 200, {
    timeoutMs: 30_000,
    what: `/healthz on :${port} (output: ${op.output().slice(-2000)})`,
  });
  await waitFor(async () => (await httpGet(port, '/readyz')).status === 200, {
    timeoutMs: 30_000,
    what: '/readyz',
  });
  const metrics = await httpGet(port, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^tidemark_leader\b/m);
  assert.match(metrics.body, /^tidemark_policies_watched\b/m);
  const code = await op.stop();
  assert.equal(code, 0, `exit code ${code} after SIGTERM; output:\n${op.output().slice(-2000)}`);
});
