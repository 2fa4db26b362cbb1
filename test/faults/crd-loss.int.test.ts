// Fault injection: the ScalingPolicy CRD deleted under a running operator, and
// installed again. Deleting the CRD removes every ScalingPolicy in the sandbox,
// so this file runs alone (the suite runs files one at a time) and always
// leaves the CRD installed and Established, pass or fail.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as e2e from '../e2e/support.ts';
import * as faults from '../support/faults.ts';
import { kubectl, waitFor } from '../support/sandbox.ts';

const { run, ns } = e2e.testRun('crd');
const n = ns('gone');
const GONE_LINE = /^the ScalingPolicy CRD is not installed/;

describe('the ScalingPolicy CRD deleted and installed again', {
  skip: e2e.SANDBOX_SKIP,
  timeout: 240_000,
}, () => {
  let op: e2e.OperatorProcess;

  before(async () => {
    await e2e.prepareNamespaces([n]);
    op = await e2e.startLeader('crd', [n], `${run}-crd`);
  });

  after(async () => {
    await e2e.installCrds();
    await op?.kill('SIGTERM');
    await e2e.cleanupNamespaces([n]);
  });

  it('stops every tick, says so once, is not ready; resumes when the CRD and the policy come back', async () => {
    await e2e.apply([e2e.deployment(n, 'web', 2, 300), e2e.rpsPolicy(n)]);
    await e2e.waitForReplicas(n, 'web', 6, 30_000);
    await faults.waitForStatus(n, 'web', (p) => p.status?.currentReplicas === 6, 'reconciled at 6');
    const scaledLines = () => op.lines.filter((l) => l.msg === 'scaled' && l.namespace === n).length;
    const actions = scaledLines();

    await kubectl(['delete', 'crd', 'scalingpolicies.tidemark.dev', '--wait=true', '--timeout=60s']);
    await waitFor(async () => (await op.ready()) === 503, { timeoutMs: 30_000, what: '/readyz 503' });
    // The load rises: with the policy gone nothing may scale the target.
    await e2e.setLoad(n, 'web', 500);
    await e2e.promSeesLoad(n, 500);
    await e2e.holdsReplicas(n, 'web', 6, 6_000);
    assert.equal(scaledLines(), actions, 'no scale write after the CRD went');
    assert.equal(
      await faults.sumSamples(op, 'tidemark_policies_watched'),
      0,
      'the cached policies were dropped',
    );
    assert.equal(op.lines.filter((l) => GONE_LINE.test(l.msg)).length, 1, 'one clear log line');
    const res = await fetch(`http://127.0.0.1:${op.port}/readyz`);
    assert.match(await res.text(), /CRD is not installed/);

    await e2e.installCrds();
    await e2e.apply([e2e.rpsPolicy(n)]);
    await waitFor(async () => (await op.ready()) === 200, { timeoutMs: 60_000, what: '/readyz 200 again' });
    await e2e.waitForReplicas(n, 'web', 10, 60_000);
    assert.ok(op.lines.some((l) => /CRD is installed again/.test(l.msg)));
  });
});
