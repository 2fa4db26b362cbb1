import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SloConfig, type SloResult, type SloState, sloStage } from '../../../src/level5/autotune/slo.ts';

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Latency grows slowly with load up to a knee, then steeply: a saturating service. */
function learn(cfg: SloConfig, knee: number, samples = 3000): SloResult {
  const u = lcg(42);
  let state: SloState | undefined;
  let result: SloResult = { reason: '' };
  for (let i = 0; i < samples; i++) {
    const load = 2 + u() * 98;
    const latency = (load < knee ? 0.05 + 0.002 * load : 0.2 + 0.02 * (load - knee)) * (0.9 + 0.2 * u());
    const out = sloStage(cfg, state, { loadPerReplica: load, latencySeconds: latency }, i * 15_000);
    state = out.state;
    result = out.result;
  }
  return result;
}

describe('SLO target learning', () => {
  const cfg: SloConfig = { objectiveSeconds: 0.15, minTarget: 5, maxTarget: 80 };

  it('learns the load where latency crosses the objective, with a margin, within bounds', () => {
    const r = learn(cfg, 40);
    assert.ok(r.target !== undefined, r.reason);
    assert.ok(r.target > 40 * 0.7 && r.target < 40, `target ${r.target}`);
    assert.match(r.reason, /breaks above .* per replica .* 10% margin/);
  });

  it('clamps to the bounds', () => {
    assert.equal(learn({ ...cfg, minTarget: 45, maxTarget: 80 }, 40).target, 45);
    assert.equal(learn({ ...cfg, minTarget: 5, maxTarget: 20 }, 40).target, 20);
  });

  it('says it is still learning without enough samples', () => {
    const r = learn(cfg, 40, 20);
    assert.equal(r.target, undefined);
    assert.match(r.reason, /^learning/);
  });

  it('ignores ticks without a load or a latency', () => {
    const out = sloStage(cfg, undefined, { loadPerReplica: 10 }, 0);
    assert.ok(out.state.samples.every((n) => n === 0));
  });
});
