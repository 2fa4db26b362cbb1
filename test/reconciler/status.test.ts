import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusNumber as formatNumber } from '../../src/core/format.ts';
import type { ScalingPolicyStatus } from '../../src/crd/types.generated.ts';
import type { EngineState } from '../../src/policy/types.ts';
import {
  compactState,
  pushDecision,
  restoreState,
  setCondition,
  stateProjection,
  statusChanged,
} from '../../src/reconciler/status.ts';

const T = 1_700_000_000_000;
const spec = { fallback: { failureThreshold: 3 } };

function state(recs: Array<[number, number]>, extra: Partial<EngineState> = {}): EngineState {
  return {
    version: 1,
    recommendations: recs.map(([t, replicas]) => ({ t: T + t * 1000, replicas })),
    scaleUpEvents: [],
    scaleDownEvents: [],
    consecutiveFailures: 0,
    ...extra,
  };
}

describe('conditions', () => {
  it('lastTransitionTime changes only when the status flips', () => {
    let c = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, 't1', 1);
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'B', message: 'b' }, 't2', 1);
    assert.equal(c[0]!.lastTransitionTime, 't1');
    assert.equal(c[0]!.reason, 'B');
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'C', message: 'c' }, 't3', 2);
    assert.equal(c[0]!.lastTransitionTime, 't3');
    assert.equal(c[0]!.observedGeneration, 2);
    c = setCondition(c, { type: 'Active', status: 'True', reason: 'Active', message: '' }, 't4');
    assert.deepEqual(
      c.map((x) => x.type),
      ['Ready', 'Active'],
    );
  });

  it('the decisions ring is newest first and bounded', () => {
    let ring: ReturnType<typeof pushDecision> = [];
    for (let i = 0; i < 15; i++) ring = pushDecision(ring, { from: i, to: i + 1 });
    assert.equal(ring.length, 10);
    assert.equal(ring[0]!.from, 14);
  });

  it('formats numbers the way status shows them', () => {
    assert.equal(formatNumber(431.2345), '431.23');
    assert.equal(formatNumber(9), '9');
    assert.equal(formatNumber(0.012345), '0.0123');
    assert.equal(formatNumber(123456.78), '123456.8');
    assert.equal(formatNumber(Number.NaN), undefined);
  });
});

describe('engine state persistence', () => {
  it('compaction keeps the newest of each run of equal recommendations', () => {
    const c = compactState(
      state([
        [0, 5],
        [5, 5],
        [10, 8],
        [15, 8],
        [20, 8],
        [25, 5],
      ]),
    );
    assert.deepEqual(
      c.recommendations.map((r) => [(r.t - T) / 1000, r.replicas]),
      [
        [5, 5],
        [20, 8],
        [25, 5],
      ],
    );
  });

  it('an idle tick (same recommendation, new time) does not change the projection', () => {
    const a = state([
      [0, 8],
      [30, 5],
    ]);
    const b = state([
      [0, 8],
      [30, 5],
      [35, 5],
      [40, 5],
    ]);
    assert.deepEqual(stateProjection(a, spec), stateProjection(b, spec));
  });

  it('a new recommendation value, a scale event or a tuned window changes the projection', () => {
    const recs: Array<[number, number]> = [
      [0, 8],
      [30, 5],
    ];
    const a = stateProjection(state(recs), spec);
    assert.notDeepEqual(a, stateProjection(state([...recs, [35, 6]]), spec));
    assert.notDeepEqual(a, stateProjection(state(recs, { scaleDownEvents: [{ t: T, change: 3 }] }), spec));
    assert.notDeepEqual(a, stateProjection(state(recs, { tunedScaleDownStabilizationSeconds: 600 }), spec));
  });

  it('failures past the fallback threshold are all alike', () => {
    const f = (n: number) => stateProjection(state([[0, 5]], { consecutiveFailures: n }), spec);
    assert.notDeepEqual(f(1), f(2));
    assert.deepEqual(f(3), f(30));
  });

  it('restore assumes the newest recommendation held until the tick before the restart', () => {
    const persisted = state([
      [0, 8],
      [30, 5],
    ]);
    const r = restoreState(structuredClone(persisted), T + 100_000, 5);
    assert.equal(r?.recommendations[0]?.t, T);
    assert.equal(r?.recommendations[1]?.t, T + 95_000);
    assert.equal(restoreState({ version: 2 }, T, 5), undefined);
    assert.equal(restoreState(undefined, T, 5), undefined);
  });
});

describe('statusChanged', () => {
  const base: ScalingPolicyStatus = {
    observedGeneration: 1,
    targetDisplay: 'Deployment/x',
    currentReplicas: 5,
    desiredReplicas: 5,
    currentMetrics: [{ name: 'rps', value: '250', target: '50', proposedReplicas: 5 }],
    conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: 'm', lastTransitionTime: 't1' }],
    engineState: state([[0, 5]]),
  };
  const changed = (patch: Partial<ScalingPolicyStatus>) => statusChanged(base, { ...base, ...patch }, spec);

  it('ignores what moves every tick without meaning anything new', () => {
    assert.equal(changed({}), false);
    assert.equal(
      changed({ currentMetrics: [{ name: 'rps', value: '255', target: '50', proposedReplicas: 5 }] }),
      false,
    );
    assert.equal(
      changed({
        engineState: state([
          [0, 5],
          [5, 5],
        ]),
      }),
      false,
    );
    assert.equal(
      changed({
        conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: 'm', lastTransitionTime: 't9' }],
      }),
      false,
    );
    assert.equal(changed({ forecast: undefined }), false);
  });

  it('sees what matters', () => {
    assert.equal(changed({ desiredReplicas: 6 }), true);
    assert.equal(changed({ observedGeneration: 2 }), true);
    assert.equal(
      changed({ currentMetrics: [{ name: 'rps', value: '300', target: '50', proposedReplicas: 5 }] }),
      true,
    );
    assert.equal(changed({ currentMetrics: [{ name: 'rps', target: '50', error: 'timeout: x' }] }), true);
    assert.equal(
      changed({ conditions: [{ type: 'Ready', status: 'False', reason: 'R', message: 'm' }] }),
      true,
    );
    assert.equal(
      changed({ conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: 'other' }] }),
      true,
    );
    assert.equal(
      changed({
        engineState: state([
          [0, 5],
          [5, 6],
        ]),
      }),
      true,
    );
    assert.equal(changed({ recentDecisions: [{ from: 5, to: 6 }] }), true);
    assert.equal(statusChanged(undefined, base, spec), true);
  });

  // Seen in the upgrade e2e: a policy held in fallback was written again only because the
  // scale-up it made had left the rate limit's period (one write per action, long after it).
  it('does not write only because old entries left their window or period', () => {
    const up = (t: number) => ({ t: T + t * 1000, change: 2 });
    const withEvents = (events: Array<{ t: number; change: number }>, recs: Array<[number, number]>) => ({
      ...base,
      engineState: state(recs, { scaleUpEvents: events }),
    });
    const prev = withEvents(
      [up(0), up(30)],
      [
        [0, 3],
        [30, 5],
      ],
    );
    const expired = withEvents([up(30)], [[30, 5]]);
    assert.equal(statusChanged(prev, expired, spec), false, 'the oldest event and recommendation dropped');
    assert.equal(statusChanged(prev, withEvents([], [[30, 5]]), spec), false, 'every event dropped');
    assert.equal(statusChanged(prev, withEvents([up(30), up(60)], [[30, 5]]), spec), true, 'a new event');
    assert.equal(
      statusChanged(
        prev,
        withEvents(
          [up(30)],
          [
            [30, 5],
            [60, 6],
          ],
        ),
        spec,
      ),
      true,
      'dropped and a new recommendation',
    );
    assert.equal(statusChanged(prev, withEvents([up(0)], [[30, 5]]), spec), true, 'not an old entry dropped');
  });
});
