import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRegistry, formatLe } from '../../src/workload/exposition.ts';
import { type DeploymentView, type PodView, Simulator } from '../../src/workload/simulator.ts';

const T0 = Date.UTC(2030, 0, 1);
const d: DeploymentView = {
  namespace: 'shop',
  name: 'web',
  profile: 'constant',
  annotations: { 'tidemark.dev/load': 'rps=20', 'tidemark.dev/capacity-rps': '50' },
  selector: { matchLabels: { app: 'web' } },
};
const pod = (name: string, ready = true): PodView => ({
  namespace: 'shop',
  name,
  labels: { app: 'web' },
  ready,
});

/** Parses the text exposition into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test('exposes per-pod counters, a well-formed histogram and per-deployment gauges', async () => {
  const sim = new Simulator({ buckets: [0.01, 0.1, 10] });
  const world = { deployments: [d], pods: [pod('web-1'), pod('web-2'), pod('web-3', false)] };
  sim.tick(world, T0);
  sim.tick(world, T0 + 10_000);
  const text = await buildRegistry(sim).metrics();
  assert.match(text, /# TYPE http_requests_total counter/);
  assert.match(text, /# TYPE http_request_duration_seconds histogram/);
  const s = samples(text);
  const pl = (pod: string) => `namespace="shop",deployment="web",pod="${pod}"`;
  assert.equal(s.get(`http_requests_total{${pl('web-1')}}`), 100);
  assert.equal(s.get(`http_requests_total{${pl('web-2')}}`), 100);
  assert.equal(s.get(`http_requests_total{${pl('web-3')}}`), 0);
  const b = (le: string) => s.get(`http_request_duration_seconds_bucket{${pl('web-1')},le="${le}"}`)!;
  // 10 rps on a 50 rps pod: mean 0.02 / (1 - 0.2) = 25 ms.
  assert.ok(Math.abs(b('0.01') - 100 * (1 - Math.exp(-0.01 / 0.025))) < 1e-9);
  assert.ok(b('0.01') < b('0.1') && b('0.1') < b('10'));
  assert.equal(b('10'), 100);
  assert.equal(b('+Inf'), 100);
  assert.equal(s.get(`http_request_duration_seconds_count{${pl('web-1')}}`), 100);
  assert.ok(Math.abs(s.get(`http_request_duration_seconds_sum{${pl('web-1')}}`)! - 2.5) < 1e-6);
  assert.equal(s.get('tidemark_workload_offered_rps{namespace="shop",deployment="web"}'), 20);
  assert.equal(s.get('tidemark_workload_ready_pods{namespace="shop",deployment="web"}'), 2);
  assert.equal(s.get('tidemark_workload_dropped_requests_total{namespace="shop",deployment="web"}'), 0);
  assert.equal(s.get('tidemark_workload_capacity_rps{namespace="shop",deployment="web"}'), 50);
  assert.equal(s.get('tidemark_workload_profile_valid{namespace="shop",deployment="web"}'), 1);
  // Bucket lines come in increasing le order, +Inf last, as Prometheus expects.
  const les = [...text.matchAll(/http_request_duration_seconds_bucket\{[^}]*pod="web-1",le="([^"]+)"/g)].map(
    (m) => m[1],
  );
  assert.deepEqual(les, ['0.01', '0.1', '10', '+Inf']);
});

test('series of a deleted pod and of an unlabelled Deployment leave the exposition', async () => {
  const sim = new Simulator();
  const registry = buildRegistry(sim);
  sim.tick({ deployments: [d], pods: [pod('web-1'), pod('web-2')] }, T0);
  sim.tick({ deployments: [d], pods: [pod('web-1')] }, T0 + 1000);
  const text = await registry.metrics();
  assert.match(text, /pod="web-1"/);
  assert.doesNotMatch(text, /pod="web-2"/);
  sim.tick({ deployments: [], pods: [pod('web-1')] }, T0 + 2000);
  const after = await registry.metrics();
  assert.doesNotMatch(after, /deployment="web"/);
});

test('an invalid profile shows as profile_valid 0 with zero offered load', async () => {
  const sim = new Simulator();
  const bad = { ...d, annotations: { 'tidemark.dev/load': 'rps=-3' } };
  sim.tick({ deployments: [bad], pods: [pod('web-1')] }, T0);
  const s = samples(await buildRegistry(sim).metrics());
  assert.equal(s.get('tidemark_workload_profile_valid{namespace="shop",deployment="web"}'), 0);
  assert.equal(s.get('tidemark_workload_offered_rps{namespace="shop",deployment="web"}'), 0);
});

test('formatLe', () => {
  assert.equal(formatLe(0.005), '0.005');
  assert.equal(formatLe(10), '10');
  assert.equal(formatLe(Number.POSITIVE_INFINITY), '+Inf');
});
