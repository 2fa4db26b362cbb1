// End to end in the sandbox: a live HPA (autoscaling/v2, External metric) and a ScaledObject
// (through a stand-in for KEDA's CRD, test/convert/stand-ins/) are converted with
// `tidemark convert --from-cluster -n NS`, replaced by the result, and a real operator then
// scales both workloads (served by the workload simulator) as the converted policies say.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import {
  apply,
  createNamespace,
  deleteNamespace,
  deployment,
  getPolicy,
  NODE,
  OperatorProcess,
  offeredQuery,
  REPO,
  setLoad,
  waitForReplicas,
} from '../e2e/support.ts';
import { kubectl, NO_SANDBOX, sandboxAvailable, sandboxEnv, waitEstablished } from '../support/sandbox.ts';

const NS = `convert-${Date.now().toString(36)}`;
const skip = sandboxAvailable() ? false : NO_SANDBOX;

function convert(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      ['--disable-warning=ExperimentalWarning', join(REPO, 'bin/tidemark.js'), 'convert', ...args],
      { env: { ...process.env, KUBECONFIG: sandboxEnv().kubeconfig } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('tidemark convert --from-cluster, end to end', { skip, timeout: 400_000 }, () => {
  let op: OperatorProcess | undefined;

  before(async () => {
    await kubectl(['apply', '-f', join(REPO, 'crds'), '-f', join(REPO, 'test/convert/stand-ins')]);
    await waitEstablished('crd/scalingpolicies.tidemark.dev');
    await waitEstablished('crd/scaledobjects.keda.sh');
    await createNamespace(NS);
  });

  after(async () => {
    if (op) assert.deepEqual(await op.kill('SIGTERM'), { code: 0, signal: null });
    if (!process.env.TIDEMARK_E2E_KEEP) await deleteNamespace(NS);
  });

  it('converts a live HPA and ScaledObject, and the converted policies scale the workloads', async () => {
    const prometheus = sandboxEnv().prometheusUrl;
    await apply([
      deployment(NS, 'web', 1, 300),
      deployment(NS, 'worker', 0, 120),
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web', namespace: NS },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 1,
          maxReplicas: 10,
          metrics: [
            {
              type: 'External',
              external: { metric: { name: 'web_rps' }, target: { type: 'AverageValue', averageValue: '50' } },
            },
          ],
        },
      },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'worker', namespace: NS },
        spec: {
          scaleTargetRef: { name: 'worker' },
          minReplicaCount: 0,
          maxReplicaCount: 10,
          pollingInterval: 5,
          cooldownPeriod: 10,
          advanced: {
            horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 10 } } },
          },
          triggers: [
            {
              type: 'prometheus',
              metadata: {
                serverAddress: prometheus,
                query: offeredQuery(NS, 'worker'),
                threshold: '50',
                activationThreshold: '10',
                ignoreNullValues: 'false',
              },
            },
          ],
        },
      },
    ]);

    const r = await convert([
      '--from-cluster',
      '-n',
      NS,
      '--prometheus',
      prometheus,
      '--query',
      `web_rps=${offeredQuery(NS, 'web')}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const policies = parseAllDocuments(r.stdout).map((d) => d.toJS() as ScalingPolicy);
    const web = policies.find((p) => p.metadata?.name === 'web');
    const worker = policies.find((p) => p.metadata?.name === 'worker');
    assert.ok(web && worker && policies.length === 2, r.stdout);
    assert.deepEqual(web.spec.metrics, [
      { name: 'web_rps', query: offeredQuery(NS, 'web'), target: { type: 'AverageValue', value: '50' } },
    ]);
    assert.deepEqual(
      web.spec.behavior?.scaleUp?.policies?.map((p) => `${p.type}${p.value}`),
      ['Percent100', 'Pods3'],
      'legacy rules',
    );
    assert.match(r.stdout, /# NOTE: no `behavior` was set/);
    assert.equal(worker.spec.minReplicas, 0);
    assert.equal(worker.spec.pollingIntervalSeconds, 5);
    assert.equal(worker.spec.behavior?.scaleDown?.stabilizationWindowSeconds, 10);
    assert.equal(worker.spec.behavior?.scaleToZeroDelaySeconds, 10, 'cooldownPeriod');
    assert.equal(worker.spec.metrics[0]?.activationThreshold, '10');

    // An HPA left on its target would fight the policy for it: replace the originals.
    await kubectl(['delete', '-n', NS, 'hpa/web', 'scaledobject.keda.sh/worker']);
    await kubectl(['apply', '-f', '-'], { input: r.stdout });
    op = await OperatorProcess.start(`convert-${NS}`, ['--namespaces', NS, '--lease-name', `${NS}-lease`]);

    // web: 300 rps at 50 per replica is 6, reached in two 15 s ticks under the legacy limit (1 → 4 → 6).
    await waitForReplicas(NS, 'web', 6, 150_000);
    const decisions = (await getPolicy(NS, 'web'))?.status?.recentDecisions ?? [];
    assert.ok(
      decisions.some((d) => d.from === 1 && d.to === 4 && d.limitedBy?.includes('ScaleUpRateLimit')),
      `the first step is limited to max(2 × 1, 4) = 4: ${JSON.stringify(decisions)}`,
    );
    // worker: woken from 0 (120 rps is above the activation threshold 10), then ceil(120 / 50) = 3.
    await waitForReplicas(NS, 'worker', 3, 150_000);
    // Below the activation threshold it goes back to 0 once the 10 s cooldown has passed.
    await setLoad(NS, 'worker', 5);
    await waitForReplicas(NS, 'worker', 0, 150_000);
    assert.equal((await getPolicy(NS, 'web'))?.spec.mode, 'Active');
  });
});
