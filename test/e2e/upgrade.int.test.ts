// Issue 13, item 5: an upgrade from the previous release, v0.1.0, built from its tag by
// sandbox/build-release.sh (cached beside the sandbox's binaries), in the sandbox:
//   1. v0.1.0 installed: its CRD (v1alpha1 only), two of its operator replicas, a policy held
//      inside its scale-down stabilization window, one held by a scale-up rate limit, one in
//      fallback (its Prometheus unreachable);
//   2. the upgrade: this checkout's CRD (v1beta1 stored, v1alpha1 served), then a rolling
//      restart of the replicas onto this checkout, one at a time;
//   3. storage migration; then a downgrade of the operator to v0.1.0.
// Asserted throughout: no scale action lost or doubled (each change of a Deployment has one
// Scaled Event and one recorded decision), the window and the rate limit honoured across
// both changes of release (the stored engine state survives), no status writes from the new
// release while nothing changes, the objects readable in both versions, `kubectl get sp`
// the same before and after the CRD upgrade. Last, the CRD upgrade once more, through Helm.
//
// It installs an older CRD, which is cluster-wide: it deletes the shipped CRD first (every
// ScalingPolicy with it), so sandbox/run-int-tests.sh runs it before every other file and it
// refuses to run when another namespace has policies. It leaves the shipped CRD installed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { CHART, helm } from '../deploy/support/helm.ts';
import {
  assertActionsAccountedFor,
  deploymentGeneration,
  FAST_LEASE,
  hasCondition,
  scaledEvents,
  sumSamples,
  waitForStatus,
} from '../support/faults.ts';
import { kubectl, sandboxEnv, waitFor } from '../support/sandbox.ts';
import * as e2e from './support.ts';

const exec = promisify(execFile);
/**
 * kubectl's discovery cache outlives a CRD that changes versions under it (it went on
 * resolving `sp` to v1beta1 after the v0.1.0 CRD replaced this one, and lasts 6 hours):
 * every kubectl this file runs, also through the shared helpers, uses a cache of its own
 * (KUBECACHEDIR), emptied whenever the CRD changes, so neither this test nor the files after
 * it see a stale view.
 */
const CACHE_DIR = mkdtempSync(join(tmpdir(), 'upgrade-kubectl-'));
process.env.KUBECACHEDIR = CACHE_DIR;
const k = (args: string[], input?: string) => kubectl(args, input === undefined ? {} : { input });
const apply = (objects: unknown[]) => k(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
const crdChanged = () => rmSync(CACHE_DIR, { recursive: true, force: true });
const { run, ns } = e2e.testRun('upgrade');
const N = ns('policies');
const LEASE = `${run}-lease`;
const CRD = 'crd/scalingpolicies.tidemark.dev';
/** The stabilization window and the rate-limit period: long enough to span the upgrade. */
const WINDOW_S = 60;

interface TimedEntry {
  t: number;
  replicas?: number;
  change?: number;
}
interface StoredState {
  version: number;
  recommendations: TimedEntry[];
  scaleUpEvents: TimedEntry[];
  consecutiveFailures: number;
  fallbackActive?: boolean;
}
const stateOf = (p: ScalingPolicy | undefined) => p?.status?.engineState as StoredState | undefined;

let release = '';
const HELM_RELEASE = 'tidemark-upgrade';
const HELM_NS = 'tidemark-system';
let helmInstalled = false;
const ops: e2e.OperatorProcess[] = [];

/** An operator replica of `root` (v0.1.0's tree or this checkout) on the test's Lease. */
async function replica(name: string, root: string): Promise<e2e.OperatorProcess> {
  const op = await e2e.OperatorProcess.start(
    name,
    ['--namespaces', N, '--lease-name', LEASE, ...FAST_LEASE],
    root,
  );
  ops.push(op);
  return op;
}

async function leaderOf(candidates: e2e.OperatorProcess[]): Promise<e2e.OperatorProcess> {
  return waitFor(
    async () => {
      for (const op of candidates) if (op.proc.exitCode === null && (await op.isLeader())) return op;
      return undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `one of ${candidates.map((o) => o.name)} to lead` },
  );
}

/** Until `op` has decided `n` more times for the namespace's policies. */
async function decided(op: e2e.OperatorProcess, n: number): Promise<void> {
  const count = () => sumSamples(op, 'tidemark_decisions_total');
  const from = await count();
  await waitFor(async () => (await count()) >= from + n, {
    timeoutMs: 60_000,
    intervalMs: 300,
    what: `${op.name} to decide ${n} more times`,
  });
}

async function storedVersions(): Promise<string[]> {
  const { stdout } = await k(['get', CRD, '-o', 'jsonpath={.status.storedVersions}']);
  return JSON.parse(stdout) as string[];
}

/** `kubectl get sp` as a user reads it, without the AGE column (it moves on its own). */
async function getSp(): Promise<string[]> {
  const { stdout } = await k(['get', 'sp', '-n', N]);
  return stdout
    .trim()
    .split('\n')
    .map((l) => l.replace(/\s+\S+\s*$/, ''));
}

/** The namespace's policies as one version serves them: name → spec. */
async function specsIn(version: string): Promise<Record<string, unknown>> {
  const { stdout } = await k(['get', `scalingpolicies.${version}.tidemark.dev`, '-n', N, '-o', 'json']);
  const list = JSON.parse(stdout) as {
    items: Array<{ apiVersion: string; metadata: { name: string }; spec: unknown }>;
  };
  const out: Record<string, unknown> = {};
  for (const item of list.items) {
    assert.equal(item.apiVersion, `tidemark.dev/${version}`);
    out[item.metadata.name] = item.spec;
  }
  return out;
}

/** The recorded scale-up actions of `limit`, from the stored state (epoch ms). */
async function limitScaleUps(): Promise<number[]> {
  return (stateOf(await e2e.getPolicy(N, 'limit'))?.scaleUpEvents ?? []).map((e) => e.t);
}

describe('upgrade from v0.1.0, rolling restart, storage migration, downgrade', {
  skip: e2e.SANDBOX_SKIP,
  timeout: 600_000,
}, () => {
  before(async () => {
    ({ stdout: release } = await exec('bash', [join(e2e.REPO, 'sandbox/build-release.sh')], {
      maxBuffer: 1 << 20,
    }));
    release = release.trim();
    if ((await k(['get', CRD, '--ignore-not-found', '-o', 'name'])).stdout.trim()) {
      const { stdout } = await k(['get', 'scalingpolicies', '-A', '--no-headers']);
      assert.equal(
        stdout.trim(),
        '',
        'no policy exists elsewhere: this test replaces the CRD (run it first)',
      );
      await k(['delete', CRD, '--timeout=60s']);
    }
    await k(['apply', '-f', join(release, 'crds')]);
    await k(['wait', '--for=condition=Established', CRD, '--timeout=60s']);
    crdChanged();
    await e2e.createNamespace(N);
  });

  after(async () => {
    await Promise.all(ops.map((op) => op.kill('SIGTERM')));
    if (helmInstalled) await helm(['uninstall', HELM_RELEASE, '-n', HELM_NS, '--wait']).catch(() => {});
    await e2e.cleanupNamespaces([N]);
    await e2e.installCrds();
    crdChanged();
  });

  let limitFirstUp = 0;
  let holdLastSix = 0;

  it('v0.1.0: a policy inside its window, one rate-limited, one in fallback', async () => {
    const crd = JSON.parse((await k(['get', CRD, '-o', 'json'])).stdout) as {
      spec: { versions: Array<{ name: string }> };
    };
    assert.deepEqual(
      crd.spec.versions.map((v) => v.name),
      ['v1alpha1'],
      'v0.1.0 CRD',
    );
    const perReplica = (query: string) => [
      { name: 'load', query, target: { type: 'AverageValue', value: '1' } },
    ];
    await apply([
      e2e.deployment(N, 'hold', 6, 0),
      e2e.deployment(N, 'limit', 2, 0),
      e2e.deployment(N, 'fb', 2, 0),
      e2e.scalingPolicy(N, 'hold', {
        metrics: perReplica('vector(6)'),
        behavior: { scaleDown: { stabilizationWindowSeconds: WINDOW_S } },
      }),
      e2e.scalingPolicy(N, 'limit', {
        metrics: perReplica('vector(8)'),
        behavior: {
          scaleUp: {
            stabilizationWindowSeconds: 0,
            policies: [{ type: 'Pods', value: 1, periodSeconds: WINDOW_S }],
          },
        },
      }),
      e2e.scalingPolicy(N, 'fb', {
        prometheus: { address: e2e.DEAD_PROMETHEUS },
        metrics: perReplica('vector(1)'),
        fallback: { failureThreshold: 2, replicas: 4 },
      }),
    ]);
    const a = await replica('v010-a', release);
    const b = await replica('v010-b', release);
    await leaderOf([a, b]);
    await waitForStatus(
      N,
      'hold',
      (p) => (stateOf(p)?.recommendations ?? []).some((r) => r.replicas === 6),
      'v0.1.0 recorded 6',
    );
    // The load falls: the window holds 6 for WINDOW_S after the last recommendation of 6.
    await k([
      'patch',
      'sp',
      'hold',
      '-n',
      N,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { metrics: perReplica('vector(2)') } }),
    ]);
    const hold = await waitForStatus(
      N,
      'hold',
      (p) => stateOf(p)?.recommendations.at(-1)?.replicas === 2,
      'v0.1.0 recommends 2, held by the window',
    );
    holdLastSix = Math.max(
      ...stateOf(hold)!
        .recommendations.filter((r) => r.replicas === 6)
        .map((r) => r.t),
    );
    await waitForStatus(
      N,
      'limit',
      (p) => p.status?.currentReplicas === 3,
      'v0.1.0 scaled 2→3, then the rate limit',
    );
    const ups = await limitScaleUps();
    assert.equal(ups.length, 1, 'v0.1.0 stored its scale-up');
    limitFirstUp = ups[0]!;
    await e2e.waitForReplicas(N, 'fb', 4, 30_000);
    assert.equal(await e2e.replicas(N, 'hold'), 6, 'hold is inside its window');
    assert.equal(stateOf(await e2e.getPolicy(N, 'limit'))?.version, 1);
  });

  let rollingSeconds = 0;

  it('upgrades the CRD: both versions served, nothing a user sees changes', async () => {
    const shown = await getSp();
    const alpha = await specsIn('v1alpha1');
    await e2e.installCrds();
    crdChanged();
    await waitFor(
      async () => (await k(['get', CRD, '-o', 'jsonpath={.spec.conversion.strategy}'])).stdout === 'Webhook',
      { timeoutMs: 30_000, intervalMs: 250, what: 'the webhook to put its conversion on the CRD' },
    );
    assert.deepEqual(await specsIn('v1alpha1'), alpha, 'read as v1alpha1: as stored');
    const beta = await specsIn('v1beta1');
    assert.deepEqual(Object.keys(beta).sort(), ['fb', 'hold', 'limit']);
    for (const name of Object.keys(alpha))
      assert.deepEqual(beta[name], alpha[name], `${name} read as v1beta1`);
    assert.deepEqual(await getSp(), shown, 'kubectl get sp');
    assert.deepEqual(await storedVersions(), ['v1alpha1', 'v1beta1']);
  });

  it('rolls the replicas onto this release one at a time: windows, limits and fallback continue', async (t) => {
    const [a, b] = ops;
    const leader = await leaderOf([a!, b!]);
    const follower = leader === a ? b! : a!;
    const started = Date.now();
    await follower.kill('SIGTERM');
    const c = await replica('new-c', e2e.REPO);
    await leader.kill('SIGTERM');
    const d = await replica('new-d', e2e.REPO);
    const newLeader = await leaderOf([c, d]);
    await decided(newLeader, 3);
    rollingSeconds = (Date.now() - started) / 1000;
    t.diagnostic(
      `rolling upgrade: ${rollingSeconds.toFixed(1)} s from the first SIGTERM to the new leader's decisions`,
    );

    // The new release read v0.1.0's state: the window still starts at v0.1.0's 6, the rate
    // limit still counts v0.1.0's scale-up.
    const hold = await waitForStatus(N, 'hold', (p) => stateOf(p)?.version === 1, 'state written');
    assert.ok(
      stateOf(hold)!.recommendations.some((r) => r.replicas === 6 && r.t === holdLastSix),
      `the window keeps v0.1.0's recommendation: ${JSON.stringify(stateOf(hold)!.recommendations)}`,
    );
    assert.ok((await limitScaleUps()).includes(limitFirstUp), 'the rate limit keeps v0.1.0’s scale-up');
    // Asserted whatever the clock says (a slow machine used to skip them): every scale-up of
    // limit after v0.1.0's own came a whole period later, and hold is still at 6 unless its
    // window may have ended.
    const upsAfter = await limitScaleUps();
    assert.ok(
      upsAfter.every((u) => u === limitFirstUp || u >= limitFirstUp + WINDOW_S * 1000),
      `no second scale-up inside the period: ${upsAfter} (first ${limitFirstUp})`,
    );
    const holdNow = await e2e.replicas(N, 'hold');
    assert.ok(
      holdNow === 6 || Date.now() >= holdLastSix + WINDOW_S * 1000 - 3000,
      `no scale-down inside the window: hold at ${holdNow} ${Date.now() - holdLastSix} ms after its last 6`,
    );

    // Nothing changes for fb: no status write for several of its ticks.
    const fbGen = await deploymentGeneration(N, 'fb');
    await decided(newLeader, 3);
    const rv = (await e2e.getPolicy(N, 'fb'))?.metadata?.resourceVersion;
    await decided(newLeader, 9);
    assert.equal((await e2e.getPolicy(N, 'fb'))?.metadata?.resourceVersion, rv, 'fb: no status churn');
    assert.equal(await deploymentGeneration(N, 'fb'), fbGen, 'fb: held at its fallback count');
    assert.equal(await e2e.replicas(N, 'fb'), 4);
    assert.ok(stateOf(await e2e.getPolicy(N, 'fb'))!.consecutiveFailures >= 2, 'fb: still failing');

    // The window and the period end when v0.1.0's memory says, not a full period after the upgrade.
    const down = await e2e.waitForReplicas(N, 'hold', 2, WINDOW_S * 1000 + 30_000).then(() => Date.now());
    assert.ok(down >= holdLastSix + WINDOW_S * 1000, 'hold: not before its window');
    await e2e.waitForReplicas(N, 'limit', 4, WINDOW_S * 1000 + 30_000);
    // The status recording the scale-up is written after the scale itself: read it once
    // every action is accounted for (a read right after the count moved saw only the first).
    for (const name of ['hold', 'limit', 'fb']) await assertActionsAccountedFor(N, name, { loadChanges: 0 });
    const ups = await limitScaleUps();
    assert.ok(
      ups.some((u) => u >= limitFirstUp + WINDOW_S * 1000),
      `limit: the second scale-up a period after the first: ${ups}`,
    );
    assert.deepEqual(
      (await scaledEvents(N, 'limit')).map((e) => `${e.from}→${e.to}`),
      ['2→3', '3→4'],
    );
  });

  it('migrates storage to v1beta1 alone', async () => {
    const env = { ...process.env, KUBECONFIG: sandboxEnv().kubeconfig };
    await exec(
      e2e.NODE,
      ['--disable-warning=ExperimentalWarning', join(e2e.REPO, 'bin/tidemark.js'), 'migrate-storage'],
      {
        env,
      },
    );
    assert.deepEqual(await storedVersions(), ['v1beta1']);
    assert.deepEqual(Object.keys(await specsIn('v1alpha1')).sort(), ['fb', 'hold', 'limit']);
  });

  it('downgrades the operator to v0.1.0: it reads v1alpha1 and continues from the stored state', async () => {
    const before = await limitScaleUps();
    const gens = Object.fromEntries(
      await Promise.all(
        ['hold', 'limit', 'fb'].map(async (n) => [n, await deploymentGeneration(N, n)] as const),
      ),
    );
    await Promise.all(ops.filter((op) => op.proc.exitCode === null).map((op) => op.kill('SIGTERM')));
    const old = await replica('v010-e', release);
    await leaderOf([old]);
    await decided(old, 9);
    for (const name of ['hold', 'limit', 'fb']) {
      const p = await e2e.getPolicy(N, name);
      assert.equal(stateOf(p)?.version, 1, `${name}: state still version 1`);
    }
    await waitForStatus(N, 'hold', hasCondition('Ready', 'True'), 'v0.1.0 reconciles hold');
    // v0.1.0 kept this release's scale-up: limit (4, wants 8) is not scaled again inside its period.
    const last = Math.max(...before);
    assert.ok((await limitScaleUps()).includes(last), 'v0.1.0 kept the last scale-up');
    const upsLater = await limitScaleUps();
    assert.ok(
      upsLater.every((u) => u <= last || u >= last + WINDOW_S * 1000),
      `limit: no scale-up inside the period of this release's last one: ${upsLater} (last ${last})`,
    );
    assert.equal(await deploymentGeneration(N, 'hold'), gens.hold, 'hold: no action');
    assert.equal(await deploymentGeneration(N, 'fb'), gens.fb, 'fb: no action');
  });

  // The operator's pods do not run in the sandbox (KWOK), so through Helm the upgrade is the
  // CRD's: a v0.1.0 installed with kubectl, moved to the chart with `helm upgrade --install
  // --take-ownership` (docs/helm.md), keeps its policies and gains v1beta1.
  it('the CRD upgrade through Helm: a kubectl-installed v0.1.0 adopted by the chart', async () => {
    await Promise.all(ops.filter((op) => op.proc.exitCode === null).map((op) => op.kill('SIGTERM')));
    await k(['delete', CRD, '--timeout=60s']);
    await k(['apply', '-f', join(release, 'crds')]);
    await k(['wait', '--for=condition=Established', CRD, '--timeout=60s']);
    crdChanged();
    await apply([
      e2e.scalingPolicy(N, 'kept', {
        metrics: [{ name: 'load', query: 'vector(1)', target: { type: 'AverageValue', value: '1' } }],
      }),
    ]);
    const alpha = await specsIn('v1alpha1');
    await helm([
      'upgrade',
      '--install',
      HELM_RELEASE,
      CHART,
      '-n',
      HELM_NS,
      '--create-namespace',
      '--take-ownership',
    ]);
    helmInstalled = true;
    crdChanged();
    const crd = JSON.parse((await k(['get', CRD, '-o', 'json'])).stdout) as {
      metadata: { annotations?: Record<string, string> };
      spec: { versions: Array<{ name: string; storage: boolean }> };
    };
    assert.equal(
      crd.metadata.annotations?.['meta.helm.sh/release-name'],
      HELM_RELEASE,
      'the chart owns the CRD',
    );
    assert.deepEqual(
      crd.spec.versions.map((v) => [v.name, v.storage]),
      [
        ['v1alpha1', false],
        ['v1beta1', true],
      ],
    );
    assert.deepEqual(await storedVersions(), ['v1alpha1', 'v1beta1']);
    assert.deepEqual(await specsIn('v1alpha1'), alpha);
    assert.deepEqual(await specsIn('v1beta1'), alpha, 'read as v1beta1 through the conversion');
    await helm(['uninstall', HELM_RELEASE, '-n', HELM_NS, '--wait']);
    helmInstalled = false;
    assert.deepEqual(
      Object.keys(await specsIn('v1beta1')),
      ['kept'],
      'helm uninstall keeps the CRD and policies',
    );
  });
});
