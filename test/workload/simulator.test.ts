import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DeploymentView,
  type PodView,
  Simulator,
  selectorMatches,
} from '../../src/workload/simulator.ts';

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} ≉ ${b}`);

const T0 = Date.UTC(2030, 0, 1);
const sec = (s: number) => T0 + s * 1000;

function deploy(annotations: Record<string, string>, profile = 'constant', name = 'web'): DeploymentView {
  return { namespace: 'shop', name, profile, annotations, selector: { matchLabels: { app: name } } };
}
function pod(name: string, ready = true, app = 'web', namespace = 'shop'): PodView {
  return { namespace, name, labels: { app }, ready };
}

describe('selectorMatches', () => {
  test('matchLabels and every expression operator', () => {
    const labels = { app: 'web', tier: 'front' };
    assert.ok(selectorMatches({ matchLabels: { app: 'web' } }, labels));
    assert.ok(!selectorMatches({ matchLabels: { app: 'api' } }, labels));
    assert.ok(
      selectorMatches(
        { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'x'] }] },
        labels,
      ),
    );
    assert.ok(
      !selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels),
    );
    assert.ok(
      selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels),
    );
    assert.ok(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels));
    assert.ok(!selectorMatches({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels));
    assert.ok(!selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Weird' }] }, labels));
  });
  test('a missing or empty selector matches nothing', () => {
    assert.ok(!selectorMatches(undefined, { app: 'web' }));
    assert.ok(!selectorMatches({}, { app: 'web' }));
  });
});

describe('Simulator accounting', () => {
  test('splits a constant rate evenly among ready pods, tick by tick', () => {
    const sim = new Simulator();
    const world = {
      deployments: [deploy({ 'tidemark.dev/load': 'rps=60' })],
      pods: [pod('a'), pod('b'), pod('c', false)],
    };
    const events = sim.tick(world, sec(0));
    assert.deepEqual(events, [
      {
        type: 'configured',
        namespace: 'shop',
        name: 'web',
        description: 'constant 60 rps',
        restarted: false,
      },
    ]);
    for (let s = 1; s <= 10; s++) assert.deepEqual(sim.tick(world, sec(s)), []);
    const st = sim.deployments.get('shop/web')!;
    close(st.pods.get('a')!.requests, 300);
    close(st.pods.get('b')!.requests, 300);
    assert.equal(st.pods.get('c')!.requests, 0); // present as a series, serving nothing
    assert.equal(st.offeredRps, 60);
    assert.equal(st.readyPods, 2);
    assert.equal(st.dropped, 0);
    close(st.pods.get('a')!.latency.count, 300);
  });

  test('ticks of any length account the same requests (rate × dt)', () => {
    const world = { deployments: [deploy({ 'tidemark.dev/load': 'rps=37' })], pods: [pod('a')] };
    const fine = new Simulator();
    const coarse = new Simulator();
    for (let ms = 0; ms <= 20_000; ms += 250) fine.tick(world, T0 + ms);
    coarse.tick(world, T0);
    coarse.tick(world, sec(7));
    coarse.tick(world, sec(20));
    close(fine.deployments.get('shop/web')!.pods.get('a')!.requests, 740);
    close(coarse.deployments.get('shop/web')!.pods.get('a')!.requests, 740);
  });

  test('a ramp integrates exactly with mid-interval rates', () => {
    const sim = new Simulator();
    const world = {
      deployments: [deploy({ 'tidemark.dev/load': 'from=0,to=100,seconds=100' }, 'ramp')],
      pods: [pod('a')],
    };
    // Ticks land on the ramp's end; a tick across the end would be off by a fraction of a request.
    for (let s = 0; s <= 150; s += 5) sim.tick(world, sec(s));
    // ∫0..100 t dt + 50 s × 100 rps = 5000 + 5000
    close(sim.deployments.get('shop/web')!.pods.get('a')!.requests, 10_000);
  });

  test('requests offered with no ready pod are dropped and counted', () => {
    const sim = new Simulator();
    const d = deploy({ 'tidemark.dev/load': 'rps=10' });
    sim.tick({ deployments: [d], pods: [pod('a', false)] }, sec(0));
    sim.tick({ deployments: [d], pods: [pod('a', false)] }, sec(5));
    sim.tick({ deployments: [d], pods: [pod('a', true)] }, sec(8));
    const st = sim.deployments.get('shop/web')!;
    close(st.dropped, 50);
    close(st.pods.get('a')!.requests, 30);
  });

  test('pods that disappear leave the accounts; others keep counting', () => {
    const sim = new Simulator();
    const d = deploy({ 'tidemark.dev/load': 'rps=20' });
    sim.tick({ deployments: [d], pods: [pod('a'), pod('b')] }, sec(0));
    sim.tick({ deployments: [d], pods: [pod('a'), pod('b')] }, sec(10));
    sim.tick({ deployments: [d], pods: [pod('a')] }, sec(20));
    const st = sim.deployments.get('shop/web')!;
    assert.deepEqual([...st.pods.keys()], ['a']);
    close(st.pods.get('a')!.requests, 100 + 200);
  });

  test('pods are mapped through the selector within the namespace only', () => {
    const sim = new Simulator();
    const world = {
      deployments: [deploy({ 'tidemark.dev/load': 'rps=10' })],
      pods: [pod('a'), pod('other', true, 'api'), pod('elsewhere', true, 'web', 'prod')],
    };
    sim.tick(world, sec(0));
    sim.tick(world, sec(1));
    assert.deepEqual([...sim.deployments.get('shop/web')!.pods.keys()], ['a']);
  });

  test('a changed annotation restarts the clock and keeps the counters', () => {
    const sim = new Simulator();
    const pods = [pod('a')];
    const step = (at: number) =>
      deploy({ 'tidemark.dev/load': `before=0,after=100,atSeconds=${at}` }, 'step');
    sim.tick({ deployments: [step(10)], pods }, sec(0));
    sim.tick({ deployments: [step(10)], pods }, sec(20));
    const before = sim.deployments.get('shop/web')!.pods.get('a')!.requests;
    assert.ok(before > 0);
    const events = sim.tick({ deployments: [step(5)], pods }, sec(100));
    assert.equal(events[0]!.type, 'configured');
    assert.equal((events[0] as { restarted: boolean }).restarted, true);
    const st = sim.deployments.get('shop/web')!;
    assert.equal(st.startedAt, sec(100));
    assert.equal(st.pods.get('a')!.requests, before, 'the interval of the change is not accounted');
    assert.equal(st.offeredRps, 0, 'the new step starts from "before" again');
    sim.tick({ deployments: [step(5)], pods }, sec(104));
    assert.equal(sim.deployments.get('shop/web')!.offeredRps, 0);
    sim.tick({ deployments: [step(5)], pods }, sec(106));
    assert.equal(sim.deployments.get('shop/web')!.offeredRps, 100);
  });

  test('unrelated annotations (rollout revision) do not restart the clock', () => {
    const sim = new Simulator();
    const pods = [pod('a')];
    sim.tick(
      {
        deployments: [deploy({ 'tidemark.dev/load': 'rps=1', 'deployment.kubernetes.io/revision': '1' })],
        pods,
      },
      sec(0),
    );
    const events = sim.tick(
      {
        deployments: [deploy({ 'tidemark.dev/load': 'rps=1', 'deployment.kubernetes.io/revision': '2' })],
        pods,
      },
      sec(5),
    );
    assert.deepEqual(events, []);
    assert.equal(sim.deployments.get('shop/web')!.startedAt, sec(0));
  });

  test('tidemark.dev/load-start pins the clock', () => {
    const sim = new Simulator();
    const d = deploy(
      {
        'tidemark.dev/load': 'from=0,to=100,seconds=100',
        'tidemark.dev/load-start': new Date(sec(-50)).toISOString(),
      },
      'ramp',
    );
    sim.tick({ deployments: [d], pods: [pod('a')] }, sec(0));
    assert.equal(sim.deployments.get('shop/web')!.offeredRps, 50);
  });

  test('a bad annotation is reported once and offers no load; fixing it resumes', () => {
    const sim = new Simulator();
    const bad = deploy({ 'tidemark.dev/load': 'rps=lots' });
    const e1 = sim.tick({ deployments: [bad], pods: [pod('a')] }, sec(0));
    assert.equal(e1.length, 1);
    assert.equal(e1[0]!.type, 'invalid');
    assert.match((e1[0] as { error: string }).error, /rps: "lots" is not a finite number/);
    assert.deepEqual(sim.tick({ deployments: [bad], pods: [pod('a')] }, sec(10)), []);
    const st = sim.deployments.get('shop/web')!;
    assert.equal(st.offeredRps, 0);
    assert.equal(st.pods.get('a')!.requests, 0);
    assert.equal(st.dropped, 0);
    const good = deploy({ 'tidemark.dev/load': 'rps=5' });
    assert.equal(sim.tick({ deployments: [good], pods: [pod('a')] }, sec(11))[0]!.type, 'configured');
    sim.tick({ deployments: [good], pods: [pod('a')] }, sec(13));
    close(sim.deployments.get('shop/web')!.pods.get('a')!.requests, 10);
  });

  test('bad capacity, service time, start time and unreadable traces are errors too', () => {
    const cases: Array<[DeploymentView, RegExp]> = [
      [
        deploy({ 'tidemark.dev/load': 'rps=1', 'tidemark.dev/capacity-rps': '0' }),
        /capacity-rps: must be > 0/,
      ],
      [deploy({ 'tidemark.dev/load': 'rps=1', 'tidemark.dev/service-time-ms': 'x' }), /service-time-ms: "x"/],
      [deploy({ 'tidemark.dev/load': 'rps=1', 'tidemark.dev/load-start': 'soon' }), /load-start: "soon"/],
      [
        deploy({ 'tidemark.dev/load': 'file=/nope.csv' }, 'trace'),
        /trace \/nope.csv: trace files are not available/,
      ],
    ];
    for (const [d, re] of cases) {
      const sim = new Simulator();
      const [e] = sim.tick({ deployments: [d], pods: [] }, sec(0));
      assert.equal(e!.type, 'invalid');
      assert.match((e as { error: string }).error, re);
    }
  });

  test('traces come through the injected loader', () => {
    const files: string[] = [];
    const sim = new Simulator({
      loadTrace: (file) => {
        files.push(file);
        return { ok: true, value: [600, 1200] };
      },
    });
    const d = deploy({ 'tidemark.dev/load': 'file=/t.csv,speedup=60' }, 'trace');
    sim.tick({ deployments: [d], pods: [pod('a')] }, sec(0));
    assert.equal(sim.deployments.get('shop/web')!.offeredRps, 10);
    sim.tick({ deployments: [d], pods: [pod('a')] }, sec(1.5));
    assert.equal(sim.deployments.get('shop/web')!.offeredRps, 20);
    assert.deepEqual(files, ['/t.csv']);
  });

  test('latency follows utilisation: capacity and service-time annotations', () => {
    const sim = new Simulator({ buckets: [0.1, 10] });
    const world = {
      deployments: [
        deploy({
          'tidemark.dev/load': 'rps=80',
          'tidemark.dev/capacity-rps': '100',
          'tidemark.dev/service-time-ms': '50',
        }),
      ],
      pods: [pod('a')],
    };
    sim.tick(world, sec(0));
    sim.tick(world, sec(10));
    const h = sim.deployments.get('shop/web')!.pods.get('a')!.latency;
    const mean = 0.05 / (1 - 0.8); // 250 ms
    close(h.count, 800);
    close(h.cumulative[0]!, 800 * (1 - Math.exp(-0.1 / mean)));
    close(h.sum, 800 * mean * (1 - Math.exp(-10 / mean)));
  });

  test('default service time is 1/capacity (M/M/1)', () => {
    const sim = new Simulator({ defaultCapacityRps: 40 });
    sim.tick({ deployments: [deploy({ 'tidemark.dev/load': 'rps=1' })], pods: [] }, sec(0));
    const m = sim.deployments.get('shop/web')!.model;
    assert.equal(m.capacityRps, 40);
    close(m.serviceTimeSeconds, 0.025);
  });

  test('a Deployment that loses its label is removed with its series', () => {
    const sim = new Simulator();
    sim.tick({ deployments: [deploy({ 'tidemark.dev/load': 'rps=1' })], pods: [pod('a')] }, sec(0));
    const events = sim.tick({ deployments: [], pods: [pod('a')] }, sec(1));
    assert.deepEqual(events, [{ type: 'removed', namespace: 'shop', name: 'web' }]);
    assert.equal(sim.deployments.size, 0);
  });

  test('counters never decrease over any sequence of ticks', () => {
    const sim = new Simulator();
    const d = deploy({ 'tidemark.dev/load': 'base=50,amplitude=60,periodSeconds=30' }, 'sine');
    const last = new Map<string, number>();
    let lastDropped = 0;
    for (let s = 0; s < 200; s++) {
      const ready = s % 7;
      const pods = ['a', 'b', 'c', 'd', 'e', 'f'].map((n, i) => pod(n, i < ready));
      sim.tick({ deployments: [d], pods }, sec(s));
      const st = sim.deployments.get('shop/web')!;
      for (const [n, acc] of st.pods) {
        assert.ok(acc.requests >= (last.get(n) ?? 0));
        last.set(n, acc.requests);
      }
      assert.ok(st.dropped >= lastDropped);
      lastDropped = st.dropped;
    }
    const served = [...last.values()].reduce((a, b) => a + b, 0);
    assert.ok(served > 0 && lastDropped > 0);
  });
});
