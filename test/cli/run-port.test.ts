// `tidemark run` when its metrics port is taken: one clear line and exit 2, no stack trace.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { assertNoStack, runTidemark, scratch } from '../support/cli.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;

test('a metrics port already in use is a clear error, not a crash', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const kubeconfig = scratch('tidemark-run-port-').file('kubeconfig', KUBECONFIG);
    const r = await runTidemark(['run', '--metrics-host', '127.0.0.1', '--metrics-port', String(port)], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`error: metrics port ${port} on 127\\.0\\.0\\.1 is in use`));
    assertNoStack(r.stderr);
  } finally {
    taken.close();
  }
});
