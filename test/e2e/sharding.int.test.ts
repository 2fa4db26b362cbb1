// Active-active sharding end to end (docs/sharding.md): 300 policies on cheap
// targets (Widgets, a custom resource with a scale subresource: no pods), three
// replicas with --sharding=on. Two are real child processes (one is SIGKILLed);
// the third runs in this process because its Lease writes must fail while its
// other requests go through: a FAKE Lease transport refuses them (a partition a
// real network cannot make so selectively). A fourth process joins midway.
// Every tick is logged (`tick done`, debug) with its wall-clock start and end;
// all replicas run on this machine, so one clock orders them.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { KubeApiError, type KubeTransport } from '../../src/kube/api-client.ts';
import { Operator } from '../../src/operator/operator.ts';
import { ownerOf } from '../../src/operator/shards.ts';
import { sleep } from '../support/faults.ts';
import { kubeConfig, kubectl, sandboxEnv, waitFor } from '../support/sandbox.ts';
import * as e2e from './support.ts';

const { run: RUN, ns } = e2e.testRun('shard');
const NS = ns('p');
const N = 300;
const INTERVAL_S = 10;
// Longer than the other e2e tests' 6 s: four operators share 2 cores with the sandbox here, and a
// renewal or a list that lags past its deadline makes a replica wait a whole lease again.
const LEASE_S = 10;
const RENEW_S = 7;
/** How long any one step may take: generous, for a CI machine running the whole suite on 2 cores. */
const WAIT_MS = 150_000;
const NAMES = Array.from({ length: N }, (_, i) => `w-${String(i).padStart(3, '0')}`);
const T0 = Date.now();
/** Seconds since the file started, for the figures' log lines. */
const at = () => ((Date.now() - T0) / 1000).toFixed(0);
const WIDGETS = { plural: 'widgets', group: 'e2e.tidemark.dev/v1' };

interface Tick {
  replica: string;
  policy: string;
  startedAt: number;
  endedAt: number;
}

/** One replica, a child process or the in-process one, as the test sees it. */
interface Replica {
  name: string;
  lines(): e2e.LogLine[];
  sample(metric: string): Promise<number | undefined>;
}

function ticksOf(r: Replica): Tick[] {
  return r
    .lines()
    .filter((l) => l.msg === 'tick done' && l.namespace === NS)
    .map((l) => ({
      replica: r.name,
      policy: String(l.policy),
      startedAt: Number(l.startedAt),
      endedAt: Number(l.endedAt),
    }));
}

function child(op: e2e.OperatorProcess): Replica {
  return { name: op.name, lines: () => op.lines, sample: (m) => op.sample(m) };
}

/** The in-process replica: its Lease writes fail while `partitioned` (the fake). */
async function inProcessReplica(name: string) {
  const lines: e2e.LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as e2e.LogLine);
      done();
    },
  });
  const state = { partitioned: false };
  const refuseLeaseWrites =
    (t: KubeTransport): KubeTransport =>
    async (req) => {
      if (state.partitioned && req.method !== 'GET') {
        throw new KubeApiError(503, 'ServiceUnavailable', `${req.method} ${req.path}: refused by the test`);
      }
      return t(req);
    };
  const op = new Operator({
    kubeconfig: kubeConfig(),
    log: pino({ level: 'debug' }, sink),
    namespaces: [NS],
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    allowedPrometheus: [sandboxEnv().prometheusUrl],
    leaseNamespace: 'default',
    leaseName: RUN,
    identity: `${RUN}-${name}`,
    maxConcurrentTicks: 32,
    leaseDurationMs: LEASE_S * 1000,
    renewDeadlineMs: RENEW_S * 1000,
    retryPeriodMs: 1000,
    kubeApiQps: 200,
    kubeApiBurst: 400,
    sharding: true,
    wrapLeaseTransport: refuseLeaseWrites,
  });
  await op.start();
  const replica: Replica = {
    name: `${RUN}-${name}`,
    lines: () => lines,
    async sample(metric) {
      const text = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
      const m = new RegExp(`^${metric} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    },
  };
  return { op, replica, state };
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

async function forEach<T>(items: readonly T[], fn: (x: T) => Promise<void>, width = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

function policy(name: string, value: number) {
  return e2e.scalingPolicy(NS, name, {
    targetRef: { apiVersion: WIDGETS.group, kind: 'Widget', name },
    pollingIntervalSeconds: INTERVAL_S,
    metrics: [{ name: 'n', query: `vector(${value})`, target: { type: 'AverageValue', value: '1' } }],
    behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
  });
}

/** Every policy asks for `value` replicas now (a spec change: its owner ticks at once). */
async function setAll(value: number): Promise<void> {
  await forEach(NAMES, async (n) => {
    await e2e.api()({
      method: 'PATCH',
      path: `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies/${n}`,
      body: {
        spec: {
          metrics: [{ name: 'n', query: `vector(${value})`, target: { type: 'AverageValue', value: '1' } }],
        },
      },
    });
  });
}

async function allWidgetsAt(value: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const list = (await e2e.api()({
        method: 'GET',
        path: `/apis/${WIDGETS.group}/namespaces/${NS}/widgets`,
      })) as { items: Array<{ metadata: { name: string }; spec: { replicas: number } }> };
      const off = list.items.filter((w) => w.spec.replicas !== value).map((w) => w.metadata.name);
      if (off.length) throw new Error(`${off.length} not at ${value}, e.g. ${off.slice(0, 3)}`);
      return true;
    },
    { timeoutMs: WAIT_MS, intervalMs: 500, what },
  );
}

/** Per policy, the replica of its latest tick. */
function latestOwner(replicas: Replica[]): Map<string, string> {
  const last = new Map<string, Tick>();
  for (const r of replicas) {
    for (const t of ticksOf(r))
      if ((last.get(t.policy)?.startedAt ?? -1) < t.startedAt) last.set(t.policy, t);
  }
  return new Map([...last].map(([p, t]) => [p, t.replica]));
}

/** Waits until each policy has a tick started after `since` by a replica other than `not`; returns the latest first one. */
async function tickedAgain(policies: string[], since: number, by: Replica[], what: string): Promise<number> {
  return waitFor(
    () => {
      const first = new Map<string, number>();
      for (const r of by) {
        for (const t of ticksOf(r)) {
          if (t.startedAt > since && (first.get(t.policy) ?? Infinity) > t.startedAt)
            first.set(t.policy, t.startedAt);
        }
      }
      const missing = policies.filter((p) => !first.has(p));
      if (missing.length) throw new Error(`${missing.length} not ticked yet, e.g. ${missing.slice(0, 3)}`);
      return Math.max(...policies.map((p) => first.get(p)!));
    },
    { timeoutMs: WAIT_MS, intervalMs: 250, what },
  );
}

/**
 * The shares rendezvous hashing gives these replicas for the policies' real uids. The uids are
 * random, so the shares are binomial (σ ≈ 8 of 100): ±20 % holds in about 96 % of runs, ±30 %
 * in all but 1 of several thousand; test/operator/shards.test.ts checks ±20 % on fixed uids.
 */
async function expectedShares(replicas: Replica[]): Promise<number[]> {
  const list = (await e2e.api()({
    method: 'GET',
    path: `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies`,
  })) as { items: ScalingPolicy[] };
  const ids = replicas.map((r) => r.name);
  const counts = ids.map(() => 0);
  for (const p of list.items) counts[ids.indexOf(ownerOf(p.metadata.uid ?? '', ids)!)]! += 1;
  return counts;
}

async function shares(replicas: Replica[]): Promise<number[]> {
  return Promise.all(replicas.map(async (r) => (await r.sample('tidemark_shard_policies')) ?? -1));
}

// About 100 s on this machine when it is otherwise idle; the timeout leaves room for a busy one.
describe('sharding: 3 replicas, 300 policies', { skip: e2e.SANDBOX_SKIP, timeout: 900_000 }, () => {
  const children: e2e.OperatorProcess[] = [];
  let inProc: Awaited<ReturnType<typeof inProcessReplica>> | undefined;
  const all: Replica[] = [];
  const args = (id: string) => [
    '--namespaces',
    NS,
    '--lease-name',
    RUN,
    '--identity',
    `${RUN}-${id}`,
    '--sharding',
    'on',
    '--log-level',
    'debug',
    '--kube-api-qps',
    '200',
    '--kube-api-burst',
    '400',
    '--lease-duration-seconds',
    String(LEASE_S),
    '--renew-deadline-seconds',
    String(RENEW_S),
    '--retry-period-seconds',
    '1',
  ];
  const startChild = async (id: string) => {
    const op = await e2e.OperatorProcess.start(`${RUN}-${id}`, args(id));
    children.push(op);
    const r = child(op);
    all.push(r);
    return { op, r };
  };

  before(async () => {
    await e2e.prepareNamespaces([NS], { file: 'test/e2e/fixtures', crd: 'widgets.e2e.tidemark.dev' });
    await forEach(NAMES, async (n) => {
      await e2e.api()({
        method: 'POST',
        path: `/apis/${WIDGETS.group}/namespaces/${NS}/widgets`,
        body: {
          apiVersion: WIDGETS.group,
          kind: 'Widget',
          metadata: { name: n, namespace: NS },
          spec: { replicas: 1 },
        },
      });
      await e2e.api()({
        method: 'POST',
        path: `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies`,
        body: policy(n, 2),
      });
    });
    console.log(`# [+${at()} s] ${N} widgets and policies created`);
  });

  after(async () => {
    await Promise.all(children.map((o) => o.kill('SIGTERM')));
    await inProc?.op.stop(5_000);
    await e2e.cleanupNamespaces([NS]);
    // The member Leases (released by the SIGTERMs; b's expired).
    await kubectl(['delete', 'leases', '-n', 'default', '-l', `tidemark.dev/member-of=${RUN}`]).catch(
      () => {},
    );
  });

  it('balances, fails over after SIGKILL, rebalances on a join, and a partitioned replica stops first; no policy is ticked by two replicas at once, every action is accounted once', async () => {
    // --- three replicas share the policies
    const [a, b] = await Promise.all([startChild('a'), startChild('b')]);
    inProc = await inProcessReplica('p');
    const p = inProc.replica;
    all.push(p);
    const three = [a.r, b.r, p];
    const balanced = await waitFor(
      async () => {
        const s = await shares(three);
        return s.reduce((x, y) => x + y, 0) === N && s.every((k) => k > 0) ? s : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: 500, what: 'the three replicas to own every policy' },
    );
    console.log(`# [+${at()} s] balance over 3 replicas: ${balanced.join(' / ')} of ${N}`);
    assert.deepEqual(balanced, await expectedShares(three), 'each replica owns what the hash gives it');
    for (const k of balanced)
      assert.ok(Math.abs(k - N / 3) <= 0.3 * (N / 3), `a share of ${k} (about ${N / 3})`);
    await allWidgetsAt(2, 'every widget at 2 (the first action, 1→2)');
    // One interval more, so that every policy has a tick on record and so an owner.
    await sleep((INTERVAL_S + 1) * 1000);
    const owners1 = latestOwner(three);
    assert.equal(owners1.size, N, 'every policy ticked');

    // --- SIGKILL b: its policies tick again on a and p within a lease duration and an interval
    const ofB = NAMES.filter((n) => owners1.get(n) === b.r.name);
    const killedAt = Date.now();
    assert.equal((await b.op.kill('SIGKILL')).signal, 'SIGKILL');
    const backAt = await tickedAgain(ofB, killedAt, [a.r, p], "b's policies to tick on a or p");
    const failover = (backAt - killedAt) / 1000;
    console.log(
      `# failover after SIGKILL: ${ofB.length} policies ticked again within ${failover.toFixed(1)} s (lease ${LEASE_S} s, interval ${INTERVAL_S} s)`,
    );
    // No bound on the figure here: on a loaded 2-core CI machine a lagging list can add seconds
    // (a CI run failed this file once, under the full suite); the waitFor above bounds it.
    await setAll(3);
    await allWidgetsAt(3, 'every widget at 3 (the second action, 2→3)');
    await waitFor(async () => (await shares([a.r, p])).reduce((x, y) => x + y, 0) === N, {
      timeoutMs: WAIT_MS,
      what: 'a and p to own every policy',
    });

    // --- d joins: it waits a lease duration, then takes a third
    const d = await startChild('d');
    const joinedAt = Date.now();
    const rebalanced = await waitFor(
      async () => {
        const s = await shares([a.r, p, d.r]);
        if (s.reduce((x, y) => x + y, 0) !== N || s[2]! < 1) return undefined;
        // Every policy d owns has had its first tick on d.
        const mine = new Set(ticksOf(d.r).map((t) => t.policy));
        return mine.size >= s[2]! ? s : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: 250, what: 'd to take and tick its share' },
    );
    const rebalance = (Date.now() - joinedAt) / 1000;
    console.log(
      `# rebalance after a join: ${rebalanced.join(' / ')} in ${rebalance.toFixed(1)} s after d started (it waits ${LEASE_S} s)`,
    );
    assert.deepEqual(
      rebalanced,
      await expectedShares([a.r, p, d.r]),
      'each replica owns what the hash gives it',
    );
    for (const k of rebalanced)
      assert.ok(Math.abs(k - N / 3) <= 0.3 * (N / 3), `a share of ${k} after the join`);
    await setAll(2);
    // Each policy's latest tick is now its owner's: the spec change made its owner tick it.
    await allWidgetsAt(2, 'every widget at 2 (the third action, 3→2)');

    // --- p's Lease writes fail: it stops acting before a and d take its policies
    const ofP = NAMES.filter((n) => latestOwner([a.r, p, d.r]).get(n) === p.name);
    assert.ok(ofP.length > 0);
    const cutAt = Date.now();
    inProc.state.partitioned = true;
    await waitFor(async () => (await p.sample('tidemark_leader')) === 0, {
      timeoutMs: WAIT_MS,
      intervalMs: 100,
      what: 'p to stop acting',
    });
    const takenAt = await tickedAgain(ofP, cutAt, [a.r, d.r], "p's policies to tick on a or d");
    const lastOfP = Math.max(...ticksOf(p).map((t) => t.endedAt));
    const firstAfter = Math.min(
      ...[a.r, d.r]
        .flatMap((r) => ticksOf(r).filter((t) => t.startedAt > cutAt && ofP.includes(t.policy)))
        .map((t) => t.startedAt),
    );
    console.log(
      `# partition: p's last tick ended ${((lastOfP - cutAt) / 1000).toFixed(1)} s after its Lease writes began to fail; its policies ticked elsewhere from ${((firstAfter - cutAt) / 1000).toFixed(1)} s, all by ${((takenAt - cutAt) / 1000).toFixed(1)} s`,
    );
    assert.ok(lastOfP < firstAfter, 'p stopped before its policies moved');
    await setAll(3);
    await allWidgetsAt(3, 'every widget at 3 (the fourth action, 2→3)');

    // --- the books: stop everyone, then read them
    await Promise.all(children.map((o) => o.kill('SIGTERM')));
    await inProc.op.stop(5_000);
    const ticks = all.flatMap(ticksOf);
    const overlaps: string[] = [];
    const interleaved: string[] = [];
    const byPolicy = groupBy(ticks, (t) => t.policy);
    for (const [name, ts] of byPolicy) {
      // In this run no policy ever goes back to a replica it left (a kill, a join, a partition:
      // each moves a policy once), so each replica's ticks of it form one run. A replica that
      // kept acting after another started (x, y, x) breaks that, even when no two ticks overlap.
      const runs = [...ts].sort((x, y) => x.startedAt - y.startedAt).map((t) => t.replica);
      const order = runs.filter((r, i) => r !== runs[i - 1]);
      if (new Set(order).size !== order.length) interleaved.push(`${name}: ${order.join(' → ')}`);
      for (const x of ts) {
        for (const y of ts) {
          if (x.replica < y.replica && x.startedAt < y.endedAt && y.startedAt < x.endedAt) {
            overlaps.push(
              `${name}: ${x.replica} [${x.startedAt}, ${x.endedAt}] and ${y.replica} [${y.startedAt}, ${y.endedAt}]`,
            );
          }
        }
      }
    }
    console.log(
      `# [+${at()} s] ${ticks.length} ticks logged over ${byPolicy.size} policies by ${all.length} replicas`,
    );
    assert.deepEqual(
      overlaps.slice(0, 5),
      [],
      `${overlaps.length} ticks of one policy overlapped on two replicas`,
    );
    assert.deepEqual(
      interleaved.slice(0, 5),
      [],
      `${interleaved.length} policies went back to a replica they had left`,
    );
    await accountedOnce();
  });
});

/** Each widget changed exactly 4 times (1→2→3→2→3): one Scaled Event and one recorded decision per change. */
async function accountedOnce(): Promise<void> {
  const want = JSON.stringify([
    [1, 2],
    [2, 3],
    [3, 2],
    [2, 3],
  ]);
  // Three lists for all 300: Events are folded (count) when they repeat.
  const scaled = groupBy(
    (await e2e.events(NS)).filter((e) => e.reason === 'Scaled'),
    (e) => e.involvedObject.name,
  );
  const list = async <T>(plural: string, group: string) =>
    (
      (await e2e.api()({ method: 'GET', path: `/apis/${group}/namespaces/${NS}/${plural}` })) as {
        items: T[];
      }
    ).items;
  type Widget = { metadata: { name: string; generation: number } };
  const widgets = new Map(
    (await list<Widget>('widgets', WIDGETS.group)).map((w) => [w.metadata.name, w.metadata.generation]),
  );
  const policies = await list<ScalingPolicy>('scalingpolicies', 'tidemark.dev/v1alpha1');
  assert.equal(policies.length, N);
  const changesOff: string[] = [];
  const eventsOff: string[] = [];
  const decisionsOff: string[] = [];
  for (const pol of policies) {
    const n = pol.metadata.name ?? '';
    const changes = (widgets.get(n) ?? 0) - 1;
    const decisions = JSON.stringify(
      [...(pol.status?.recentDecisions ?? [])].reverse().map((d) => [d.from, d.to]),
    );
    const events = (scaled.get(n) ?? []).reduce((k, e) => k + (e.count ?? 1), 0);
    // The books, each exactly: the target's changes (an action lost or doubled), the Scaled
    // Events (a doubled Event is one too many, a dropped one one too few: both are wrong) and
    // the status's decisions, in order.
    if (changes !== 4) changesOff.push(`${n}: ${changes} changes`);
    if (events !== 4)
      eventsOff.push(`${n}: ${events} Scaled Events (${events > 4 ? 'too many' : 'too few'})`);
    if (decisions !== want) decisionsOff.push(`${n}: decisions ${decisions}`);
  }
  console.log(
    `# [+${at()} s] books: changes off ${changesOff.length}, Scaled Events off ${eventsOff.length}, decisions off ${decisionsOff.length} (of ${N})`,
  );
  assert.deepEqual(changesOff.slice(0, 5), [], `${changesOff.length} widgets did not change exactly 4 times`);
  assert.deepEqual(eventsOff.slice(0, 5), [], `${eventsOff.length} policies without exactly 4 Scaled Events`);
  assert.deepEqual(
    decisionsOff.slice(0, 5),
    [],
    `${decisionsOff.length} policies whose decisions are not ${want}`,
  );
}
