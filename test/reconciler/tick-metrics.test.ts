// The anomaly counter from the engine's running totals (src/reconciler/tick-metrics.ts): the
// baseline lives in the policy's own memory, so it goes with the policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';
import type { Decision } from '../../src/policy/types.ts';
import { type AnomalyBaseline, TickMetrics } from '../../src/reconciler/tick-metrics.ts';
import { emptyState } from '../policy/helpers.ts';

const labels = { namespace: 'shop', policy: 'web' };

function decision(anomalyCounts?: Record<string, Record<string, number>>): Decision {
  return {
    direction: 'None',
    desiredReplicas: 2,
    limitedBy: [],
    fallbackActive: false,
    metrics: [],
    ...(anomalyCounts ? { anomalyCounts } : {}),
  } as unknown as Decision;
}

function setup() {
  const metrics = createOperatorMetrics(new Registry(), 'basic');
  const tm = new TickMetrics(metrics);
  const tick = (baseline: AnomalyBaseline, counts?: Record<string, Record<string, number>>) =>
    tm.decision(labels, {
      spec: { minReplicas: 1, maxReplicas: 10 },
      decision: decision(counts),
      state: emptyState(),
      observations: [],
      replicas: 2,
      scaled: false,
      tickSeconds: 0,
      baseline,
    });
  const counted = async () =>
    Object.fromEntries(
      (await metrics.anomalies.get()).values.map((v) => [`${v.labels.metric}/${v.labels.kind}`, v.value]),
    );
  return { tick, counted };
}

describe('TickMetrics anomalies', () => {
  it('takes the first counts as a baseline, then counts increases and new kinds from 0', async () => {
    const { tick, counted } = setup();
    const mem: AnomalyBaseline = {};
    tick(mem, { rps: { spike: 3 } });
    assert.deepEqual(await counted(), {});
    tick(mem, { rps: { spike: 5, drop: 1 } });
    assert.deepEqual(await counted(), { 'rps/spike': 2, 'rps/drop': 1 });
  });

  it('a policy counting no anomalies holds no table of its own, and its first anomaly counts', async () => {
    const { tick, counted } = setup();
    const a: AnomalyBaseline = {};
    const b: AnomalyBaseline = {};
    tick(a);
    tick(b, {});
    assert.deepEqual(a.anomaliesSeen, {});
    assert.equal(a.anomaliesSeen, b.anomaliesSeen, 'one shared marker');
    tick(a, { rps: { spike: 1 } });
    assert.deepEqual(await counted(), { 'rps/spike': 1 });
    assert.notEqual(a.anomaliesSeen, b.anomaliesSeen);
  });

  it('a policy whose memory was forgotten (deleted and created again, or moved back) starts a new baseline', async () => {
    const { tick, counted } = setup();
    tick({}, { rps: { spike: 4 } });
    // Same namespace and name, fresh memory: its restored totals are not increases.
    tick({}, { rps: { spike: 9 } });
    assert.deepEqual(await counted(), {});
  });
});
