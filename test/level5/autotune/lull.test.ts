import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type LullConfig,
  type LullResult,
  type LullState,
  lullStage,
  quantile,
} from '../../../src/level5/autotune/lull.ts';

const T0 = 1_700_000_000_000;
const TICK = 15;
const cfg: LullConfig = {
  baseSeconds: 300,
  maxSeconds: 1200,
  minLullSeconds: 75,
  releaseSeconds: 150,
  minSamples: 3,
  horizonSeconds: 1800,
};

interface Tick {
  t: number;
  result: LullResult;
  state: LullState;
}

/**
 * Peaks every `periodSeconds`, `peakSeconds` long (proposal `high`, else `low`), with the count
 * the HPA's five-minute window would keep: the peak's replicas until 300 s after it ends.
 */
function peaks(periodSeconds: number, peakSeconds: number, cycles: number, high = 20, low = 5): Tick[] {
  let state: LullState | undefined;
  const out: Tick[] = [];
  for (let t = 0; t < periodSeconds * cycles; t += TICK) {
    const phase = t % periodSeconds;
    const proposal = phase < peakSeconds ? high : low;
    const current = phase < peakSeconds + 300 ? high : low;
    const r = lullStage(cfg, state, { proposal, currentReplicas: current }, T0 + t * 1000);
    state = r.state;
    out.push({ t, result: r.result, state: r.state });
  }
  return out;
}

function at(ticks: Tick[], t: number): Tick {
  return ticks.find((x) => x.t === t) as Tick;
}

describe('lull holding', () => {
  it('takes quantiles by nearest rank', () => {
    assert.equal(quantile([3, 1, 2, 4], 0.5), 2);
    assert.equal(quantile([3, 1, 2, 4], 0.75), 3);
    assert.equal(quantile([7], 0.9), 7);
  });

  it('learns the period between peaks and says nothing until it has enough of them', () => {
    const ticks = peaks(600, 180, 6);
    // Onsets at 600, 1200, 1800, 2400 s: the third period (at 2400 s) makes it trusted.
    assert.equal(at(ticks, 2385).result.windowSeconds, undefined);
    assert.equal(at(ticks, 2400).result.periodSeconds, 600);
    assert.deepEqual(at(ticks, 3585).state.periods, [600, 600, 600, 600]);
    assert.match(at(ticks, 3585).result.reason ?? '', /peaks every 600s/);
  });

  it('holds a lull the period says ends within the spec window, through the next peak', () => {
    // Peaks every 7 min, 3 min long: decided 75 s into the lull, the next is due in 165 s.
    const ticks = peaks(420, 180, 8);
    const lullStart = 6 * 420 + 180;
    assert.equal(
      at(ticks, lullStart + 60).result.windowSeconds,
      420 + 60 + 300,
      'not decided yet: the last held lull still reaches back',
    );
    assert.equal(at(ticks, lullStart + 180).result.windowSeconds, 180 + 300, 'reaches back to the peak');
    assert.equal(
      at(ticks, 7 * 420 + 60).result.windowSeconds,
      420 - 180 + 60 + 300,
      'still held while the next peak climbs',
    );
  });

  it('releases a lull the period says will last, after the short release window', () => {
    // Peaks every 15 min, 3 min long: 645 s to the next when decided.
    const ticks = peaks(900, 180, 6);
    const lullStart = 5 * 900 + 180;
    assert.equal(at(ticks, lullStart + 90).result.windowSeconds, 150);
    assert.equal(at(ticks, lullStart + 90).state.holdFrom, undefined);
  });

  it('lets a held lull go once the latest onset the period allows has passed', () => {
    let state: LullState | undefined;
    let last: LullResult = {};
    // Learned: peaks every 7 min; then the load stays low for an hour.
    for (let t = 0; t < 8 * 420 + 3600; t += TICK) {
      const phase = t % 420;
      const high = t < 8 * 420 ? phase < 180 : t < 8 * 420 + 180;
      const r = lullStage(cfg, state, { proposal: high ? 20 : 5, currentReplicas: 20 }, T0 + t * 1000);
      state = r.state;
      last = r.result;
    }
    assert.equal(last.windowSeconds, 150, 'released once the latest onset the period allows has passed');
  });

  it('does not take noise inside a peak for lulls', () => {
    let state: LullState | undefined;
    for (let t = 0; t < 3600; t += TICK) {
      const proposal = [20, 18, 19, 17][(t / TICK) % 4] as number;
      state = lullStage(cfg, state, { proposal, currentReplicas: 20 }, T0 + t * 1000).state;
    }
    assert.deepEqual(state?.periods, []);
  });

  it('takes no shallow swing for peaks and lulls (a quarter down is within what the window should smooth)', () => {
    const ticks = peaks(600, 180, 8, 20, 15);
    assert.ok(ticks.every((x) => x.result.windowSeconds === undefined));
    assert.deepEqual(ticks[ticks.length - 1]?.state.periods, []);
  });

  it('stands aside where peaks are further apart than the flap window', () => {
    const ticks = peaks(3600, 600, 5);
    assert.ok(ticks.every((x) => x.result.windowSeconds === undefined));
  });

  it('round-trips its state through JSON', () => {
    const ticks = peaks(420, 180, 8);
    const mid = ticks[ticks.length - 5] as Tick;
    const a = lullStage(cfg, mid.state, { proposal: 5, currentReplicas: 20 }, T0 + (mid.t + 15) * 1000);
    const b = lullStage(
      cfg,
      JSON.parse(JSON.stringify(mid.state)) as LullState,
      { proposal: 5, currentReplicas: 20 },
      T0 + (mid.t + 15) * 1000,
    );
    assert.deepEqual(b, a);
  });
});
