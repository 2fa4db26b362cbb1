// Where a miss starts (issue 19, build item 1): with a metric's capacity the shadow evaluation
// scores misses against it, and Level 5 may run at an operating point between the target and
// the capacity while that point beats the reactive path; without one nothing runs hotter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overloaded } from '../../src/level5/shadow.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineOutput, EngineState, MetricResult, PolicySpec } from '../../src/policy/types.ts';
import { autopilotSpec } from '../support/autopilot.ts';

const T0 = 1_700_000_000_000;
const TICK = 15_000;

/** Target 10 per replica; with `capacity`, users feel it above that per replica. */
function spec(capacity: string | undefined, extra: Record<string, unknown> = {}): PolicySpec {
  const s = autopilotSpec(extra);
  if (capacity !== undefined) (s.metrics[0]?.target as Record<string, unknown>).capacity = capacity;
  return s;
}

function run(s: PolicySpec, values: number[], start: number): EngineOutput[] {
  let current = start;
  let state: EngineState | undefined;
  return values.map((value, i) => {
    const out = decide({
      spec: s,
      state,
      observations: [{ name: 'rps', ok: true, value }],
      currentReplicas: current,
      readyReplicas: current,
      now: T0 + i * TICK,
    });
    state = out.state;
    current = out.decision.desiredReplicas;
    return out;
  });
}

const metric = (value: number, capacity?: number): MetricResult => ({
  name: 'rps',
  value,
  target: 10,
  targetType: 'AverageValue',
  ...(capacity === undefined ? {} : { capacity }),
});

describe('capacity: where a miss starts', () => {
  it('scores a miss above the capacity where one is stated, else above the target and its tolerance', () => {
    // 10 ready replicas: 115 is above 10 × 10 × 1.1 but not above 10 × 15.
    assert.equal(overloaded([metric(115)], 10, 10, 0.1), true);
    assert.equal(overloaded([metric(115, 15)], 10, 10, 0.1), false);
    assert.equal(overloaded([metric(151, 15)], 10, 10, 0.1), true);
    assert.equal(overloaded([metric(110)], 10, 10, 0.1), false);
  });

  it('runs hotter than the target, with fewer replicas, once its shadow score beats the reactive path', () => {
    // A steady load of 200 (20 replicas at the target 10): an operating point nearer the
    // capacity 15 serves it with fewer replicas and misses nothing.
    const ticks = 2 * 240;
    const outs = run(
      spec('15', { predictive: { enabled: true, evaluationWindowSeconds: 3600 } }),
      Array<number>(ticks).fill(200),
      20,
    );
    const last = outs.at(-1)?.decision;
    assert.equal(last?.evaluation?.acting, true, JSON.stringify(last?.evaluation));
    assert.ok((last?.desiredReplicas ?? 20) < 20, `still at ${last?.desiredReplicas}`);
    // Never above the capacity: 200 on the replicas kept is at most 15 each.
    for (const o of outs) assert.ok(200 / o.decision.desiredReplicas <= 15, o.decision.reason);
    assert.match(last?.reason ?? '', /Level 5 \(forecast@\d+%\): rps sized at [\d.]+\/replica/);
    assert.equal(last?.evaluation?.level5.missTicks, 0);
    assert.ok(
      (last?.evaluation?.level5.replicaSeconds ?? 0) < (last?.evaluation?.reactive.replicaSeconds ?? 0),
      JSON.stringify(last?.evaluation),
    );
  });

  it('stops running hotter once the shadow score shows the operating point missing more', () => {
    // A burst to 1.4 × the steady load every 8 minutes, past the 5-minute scale-down window:
    // at 10/replica 20 ready replicas carry it (14 each, under the capacity); a hotter point
    // has scaled back down by then and runs over the capacity in each burst.
    const values = Array.from({ length: 4 * 240 }, (_, i) => (i % 32 === 0 ? 280 : 200));
    const s = spec('15', {
      predictive: { enabled: true, evaluationWindowSeconds: 3600 },
      behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
    });
    const later = run(s, values, 20).slice(2 * 240);
    // Points from 75 % of the capacity up (11.25/replica and more) are back at 18 replicas or
    // fewer by each burst, 280 / 18 > 15; the lowest one (10.8, 19 replicas) carries it.
    const pointOf = (v: string | undefined) => Number(/@(\d+)%$/.exec(v ?? '')?.[1] ?? 0);
    for (const o of later) {
      const e = o.decision.evaluation;
      assert.ok(
        !(e?.acting && pointOf(e.variant) >= 75),
        `tick acting with ${e?.variant}: ${o.decision.reason}`,
      );
      assert.ok(o.decision.desiredReplicas >= 19, o.decision.reason);
    }
  });

  it('without a capacity nothing runs hotter than the target', () => {
    const values = Array<number>(2 * 240).fill(200);
    const outs = run(
      spec(undefined, { predictive: { enabled: true, evaluationWindowSeconds: 3600 } }),
      values,
      20,
    );
    for (const o of outs) assert.ok(o.decision.desiredReplicas >= 20, o.decision.reason);
    assert.ok(outs.every((o) => o.decision.evaluation?.acting === false));
  });
});
