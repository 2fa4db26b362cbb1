// The shipped Dockerfile built for real (`make image`: podman, unchanged Dockerfile, local
// node:24-slim stand-in) and the image run as a container against the sandbox the way the
// chart runs it: its own non-root user, read-only root file system, no capabilities, no
// privilege escalation. The operator in it must answer /healthz, /readyz and /metrics and
// exit 0 on SIGTERM delivered to it as PID 1 (`podman stop`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { installCrd } from '../support/faults.ts';
import { sandboxEnv, waitFor } from '../support/sandbox.ts';
import { buildImage, imageName, podman } from './support/image.ts';
import { freePort, httpGet } from './support/operator.ts';

const image = imageName();
const container = `tidemark-image-test-${process.pid}`;
let facts = '';
let kubeDir = '';

before(() => {
  facts = buildImage();
  for (const line of facts.trimEnd().split('\n')) process.stdout.write(`# ${line}\n`);
});
after(() => {
  podman(['rm', '--force', '--ignore', container]);
  if (kubeDir) rmSync(kubeDir, { recursive: true, force: true });
});

test('the built image runs as uid 1000 and its entry point is `tidemark run`', () => {
  assert.match(facts, /^user +1000:1000$/m);
  assert.match(facts, /^entrypoint +\[node \/app\/bin\/tidemark\.js run\]$/m);
  const id = podman(['run', '--rm', '--read-only', '--network=none', '--entrypoint', 'id', image]);
  assert.equal(id.status, 0, id.stderr);
  assert.match(id.stdout, /^uid=1000\(node\) gid=1000\(node\)/);
  // Nothing of the build stage's sources or dev dependencies reached the final image.
  const ls = podman(['run', '--rm', '--read-only', '--network=none', '--entrypoint', 'ls', image, '/app']);
  assert.equal(ls.status, 0, ls.stderr);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), [
    'bin',
    'crds',
    'dist',
    'node_modules',
    'package.json',
  ]);
});

test('the image runs the operator against the sandbox read-only and non-root; SIGTERM to PID 1 ends it with 0', async () => {
  const env = sandboxEnv();
  // The operator is ready once its policy watch runs, which needs the CRD.
  await installCrd();
  // The sandbox's kubeconfig names root-only key files (mode 600): the container's uid 1000
  // gets a flattened copy with the credentials inline, as a mounted Secret would be.
  kubeDir = mkdtempSync(join(tmpdir(), 'tidemark-image-kube-'));
  const kubeconfig = join(kubeDir, 'config');
  writeFileSync(
    kubeconfig,
    execFileSync(env.kubectl, ['config', 'view', '--raw', '--flatten', '--kubeconfig', env.kubeconfig], {
      encoding: 'utf8',
    }),
  );
  chmodSync(kubeDir, 0o755);
  chmodSync(kubeconfig, 0o644);
  const port = await freePort();
  const run = podman([
    'run',
    '--detach',
    '--name',
    container,
    '--read-only',
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    // The sandbox's API server and Prometheus listen on 127.0.0.1 only.
    '--network=host',
    '--volume',
    `${kubeconfig}:/var/run/tidemark/kubeconfig:ro`,
    '--env',
    'KUBECONFIG=/var/run/tidemark/kubeconfig',
    image,
    `--metrics-port=${port}`,
    '--leader-election-namespace=default',
    `--lease-name=tidemark-image-int-${process.pid}`,
    '--identity=image-int-test',
    `--allowed-prometheus=${env.prometheusUrl}`,
  ]);
  assert.equal(run.status, 0, run.stderr);
  const logs = () => {
    const l = podman(['logs', container]);
    return (l.stdout + l.stderr).slice(-3000);
  };
  await waitFor(async () => (await httpGet(port, '/healthz')).status === 200, {
    timeoutMs: 60_000,
    what: `/healthz on :${port} (container output: ${logs()})`,
  });
  await waitFor(async () => (await httpGet(port, '/readyz')).status === 200, {
    timeoutMs: 30_000,
    what: `/readyz (container output: ${logs()})`,
  });
  const metrics = await httpGet(port, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^tidemark_leader\b/m);
  assert.match(metrics.body, /^tidemark_policies_watched\b/m);
  // podman stop sends SIGTERM to the container's PID 1 (node itself: no init in the image),
  // then SIGKILL after 30 s; the operator must handle TERM as PID 1, where an unhandled
  // TERM would be ignored.
  const stop = podman(['stop', '--time', '30', container]);
  assert.equal(stop.status, 0, stop.stderr);
  const state = podman(['inspect', '--format', '{{.State.ExitCode}}', container]);
  assert.equal(state.stdout.trim(), '0', `exit code after SIGTERM; output:\n${logs()}`);
});
