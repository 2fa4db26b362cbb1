// The smoke test of make bench-live's harness: Tidemark alone on a 5-minute step, through the
// benchmark's own Deployment, policy, operator, watch and measuring code, in make test's
// shared sandbox. It checks that the harness measures what happened (the measures agree with
// the replica history the API server and the policy's status hold), never how fast.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { tidemarkPolicy } from '../../bench/live/arms.ts';
import {
  deploymentManifest,
  type OperatorRun,
  offeredQuery,
  promRange,
  type ReplicaWatch,
  servedQuery,
  sleep,
  startOperator,
  watchReplicas,
} from '../../bench/live/cluster.ts';
import { measure, reaction, scaleWrites, stateAt } from '../../bench/live/measure.ts';
import {
  api,
  apply,
  cleanupNamespaces,
  getPolicy,
  prepareNamespaces,
  SANDBOX_SKIP,
  testRun,
} from '../e2e/support.ts';
import { sandboxEnv, waitFor } from '../support/sandbox.ts';

const { ns } = testRun('live-smoke');
const NS = ns('step');
const NAME = 'web';
const CAPACITY = 10;
const TARGET = 7;
const STEP_AT_S = 60;
const LENGTH_S = 300;

let watch: ReplicaWatch | undefined;
let operator: OperatorRun | undefined;

before(async () => {
  if (SANDBOX_SKIP) return;
  await prepareNamespaces([NS]);
});

after(async () => {
  await operator?.stop();
  await watch?.stop();
  if (!SANDBOX_SKIP) await cleanupNamespaces([NS]);
});

test('bench-live smoke: Tidemark alone on a 5-minute step, measured by the harness', {
  skip: SANDBOX_SKIP,
}, async () => {
  const env = sandboxEnv();
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  watch = watchReplicas(kc, NS);
  const loadStart = Date.now();
  await apply([
    deploymentManifest({
      namespace: NS,
      name: NAME,
      replicas: 3,
      capacityRps: CAPACITY,
      startupSeconds: 2,
      profile: 'step',
      load: `before=20,after=60,atSeconds=${STEP_AT_S}`,
      loadStart,
    }),
    tidemarkPolicy(
      {
        namespace: NS,
        deployment: NAME,
        prometheusUrl: env.prometheusUrl,
        query: servedQuery(NS, NAME, 20),
        targetRps: TARGET,
        minReplicas: 1,
        maxReplicas: 20,
        speedup: 1,
      },
      2,
    ),
  ]);
  operator = startOperator({
    kubeconfig: env.kubeconfig,
    prometheusUrl: env.prometheusUrl,
    namespace: NS,
    logFile: `${env.dir}/logs/live-smoke-operator.log`,
  });
  // The step plays out; then (however slow the machine) until Tidemark has answered it.
  await sleep(loadStart + LENGTH_S * 1000 - Date.now());
  const stepAt = loadStart + STEP_AT_S * 1000;
  await waitFor(
    () => scaleWrites(watch!.histories.get(NAME) ?? [], { from: stepAt, to: Infinity }).length > 0,
    {
      timeoutMs: 120_000,
      what: 'a scale write after the step',
    },
  );
  const end = Date.now();
  const history = watch.histories.get(NAME) ?? [];
  const load = await promRange(
    env.prometheusUrl,
    offeredQuery(NS, NAME),
    loadStart,
    end,
    env.scrapeIntervalMs / 1000,
  );
  const window = { from: loadStart, to: end };
  const m = measure(history, load, window, CAPACITY);
  const writes = scaleWrites(history, window);

  // Tidemark scaled up after the step, to what 60 rps at 7 per replica needs within the HPA's
  // 10 % tolerance: the served rate climbs as pods become ready, so the climb can stop at 8
  // (7.5 per replica, 1.07 x the target), short of ceil(60 / 7) = 9 (seen in a CI rehearsal).
  const up = writes.filter((w) => w.t >= stepAt && w.to > w.from);
  assert.ok(up.length > 0, `no scale-up after the step: ${JSON.stringify(writes)}`);
  assert.ok(Math.max(...up.map((w) => w.to)) >= Math.ceil(60 / (TARGET * 1.1)), JSON.stringify(up));
  const r = reaction(history, load, { t: stepAt, before: 20, after: 60 }, end);
  assert.ok(r.visibleAt !== undefined && r.firstWriteAt !== undefined, JSON.stringify(r));
  assert.ok(r.firstWriteAt! >= r.visibleAt!, 'the first write is after the load was visible');

  // The watch's history ends where the API server is now.
  const d = (await api()({ method: 'GET', path: `/apis/apps/v1/namespaces/${NS}/deployments/${NAME}` })) as {
    spec: { replicas: number };
    status: { readyReplicas?: number };
  };
  await waitFor(
    () => stateAt(watch!.histories.get(NAME) ?? [], Date.now())?.ready === d.status.readyReplicas,
    {
      timeoutMs: 30_000,
      what: 'the watch to catch up with readyReplicas',
    },
  );
  assert.equal(stateAt(history, end)?.replicas, d.spec.replicas);

  // Every scale write the harness counted is a decision Tidemark recorded, in order (the
  // status holds the newest first, the last 10: more than a step makes, as the check below says
  // status), after the status write that follows each scale write.
  const decided = await waitFor(
    async () => {
      const d = ((await getPolicy(NS, NAME))?.status?.recentDecisions ?? []).map((x) => `${x.from}→${x.to}`);
      return d.length >= Math.min(writes.length, 10) && d.reverse();
    },
    { timeoutMs: 30_000, what: 'the policy status to hold every scale write' },
  );
  assert.deepEqual(
    writes.map((w) => `${w.from}→${w.to}`),
    decided.slice(-writes.length),
  );
  assert.ok(writes.length <= 10, `${writes.length} scale writes on one step`);
  assert.equal(m.scaleWrites, writes.length);

  // The figures bound what happened: at least the starting replicas throughout, at most the
  // peak; the step left ready capacity (3 × 10 rps) under 60 rps for at least one minute.
  const minutes = (end - loadStart) / 60_000;
  assert.ok(
    m.replicaMinutes >= 3 * minutes - 0.01 && m.replicaMinutes <= m.peakReplicas * minutes + 0.01,
    JSON.stringify(m),
  );
  assert.ok(m.underProvisionedMinutes >= 1, JSON.stringify(m));
  assert.equal(m.reversals, 0, `no scale-down on a step up: ${JSON.stringify(writes)}`);
});
