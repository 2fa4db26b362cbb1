import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type IneffectiveConfig,
  type IneffectiveResult,
  type IneffectiveState,
  ineffectiveStage,
} from '../../../src/level5/anomaly/ineffective.ts';
import type { EngineEvent } from '../../../src/policy/types.ts';

const T0 = 1_700_000_000_000;
const cfg: IneffectiveConfig = { maxIneffectiveScaleUps: 1, settleSeconds: 60 };

interface Tick {
  replicas: number;
  /** total load; utilisation = load / (replicas × 10) */
  load: number;
}

/** One tick per 30 s; the target is 10 per replica and every replica is ready. */
function run(ticks: Tick[]) {
  let state: IneffectiveState | undefined;
  const results: IneffectiveResult[] = [];
  const events: EngineEvent[] = [];
  for (const [i, t] of ticks.entries()) {
    const out = ineffectiveStage(
      cfg,
      state,
      {
        currentReplicas: t.replicas,
        readyReplicas: t.replicas,
        utilisation: t.load / (t.replicas * 10),
        tolerance: 0.1,
      },
      T0 + i * 30_000,
    );
    state = out.state;
    results.push(out.result);
    events.push(...out.events);
  }
  return { results, events, state: state as IneffectiveState };
}

/** `n` ticks at `replicas` with a per-replica load of `perReplica`. */
const hold = (n: number, replicas: number, perReplica: number): Tick[] =>
  Array.from({ length: n }, () => ({ replicas, load: replicas * perReplica }));

describe('ineffective scaling', () => {
  it('is raised when load per replica does not fall across two scale-ups, caps further ones, and clears', () => {
    // The bottleneck is elsewhere: per-replica load stays at 20 (twice the target) however many replicas.
    const ticks = [
      ...hold(3, 2, 20),
      ...hold(3, 4, 20),
      ...hold(3, 6, 20),
      ...hold(3, 8, 20),
      ...hold(3, 8, 8),
    ];
    const { results, events, state } = run(ticks);
    assert.equal(results[5]?.raised, false, 'one flat scale-up is not enough');
    assert.equal(results[8]?.raised, true, 'raised after the second');
    assert.equal(results[8]?.capAt, undefined, 'one more scale-up is still allowed');
    assert.equal(results[9]?.raised, true);
    assert.equal(results[9]?.capAt, 8, 'after it, no further scale-ups');
    assert.equal(results[12]?.raised, false, 'clears when the load falls within target');
    assert.deepEqual(
      events.map((e) => e.reason),
      ['ScalingIneffective', 'AnomalyCleared'],
    );
    assert.match(events[0]?.message ?? '', /did not fall across 2 scale-up\(s\)/);
    assert.equal(state.count, 1);
  });

  it('clears when a scale-up lowers the load per replica again', () => {
    const ticks = [...hold(3, 2, 20), ...hold(3, 4, 20), ...hold(3, 6, 20), ...hold(3, 9, 15)];
    const { results, events } = run(ticks);
    assert.equal(results[8]?.raised, true);
    assert.equal(results[11]?.raised, false);
    assert.match(events[1]?.message ?? '', /load per replica fell from 2\.0 to 1\.5/);
  });

  it('is never raised while scale-ups work', () => {
    // Constant total load of 60: per-replica load falls with every scale-up.
    const ticks = [2, 3, 4, 6].flatMap((r) => Array.from({ length: 3 }, () => ({ replicas: r, load: 60 })));
    const { results, events } = run(ticks);
    assert.ok(results.every((r) => !r.raised));
    assert.deepEqual(events, []);
  });
});
