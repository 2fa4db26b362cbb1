import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type FlapConfig,
  type FlapResult,
  type FlapState,
  flapStage,
} from '../../../src/level5/autotune/flap.ts';

const T0 = 1_700_000_000_000;
const cfg: FlapConfig = { baseSeconds: 300, maxSeconds: 1200, reversalThreshold: 3, windowSeconds: 1800 };

function run(replicas: number[], tickSeconds = 60, start?: FlapState) {
  let state = start;
  const results: FlapResult[] = [];
  const reasons: string[] = [];
  for (const [i, r] of replicas.entries()) {
    const out = flapStage(cfg, state, { currentReplicas: r }, T0 + i * tickSeconds * 1000);
    state = out.state;
    results.push(out.result);
    reasons.push(...out.events.map((e) => e.message));
  }
  return { results, reasons, state: state as FlapState };
}

describe('flap detection', () => {
  it('widens the scale-down window on repeated reversals, up to the maximum', () => {
    // up, down, up, down ... every minute: a reversal per change after the first.
    const flapping = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 4 : 5));
    const { results, reasons } = run(flapping);
    const windows = results.map((r) => r.scaleDownStabilizationSeconds);
    assert.equal(windows[0], 300);
    assert.equal(windows[4], 600, 'doubled at the third reversal');
    assert.equal(windows[7], 1200, 'doubled again after three more');
    assert.equal(Math.max(...windows), 1200, 'never past the maximum');
    assert.match(reasons[0] ?? '', /300s → 600s: widened after 3 direction reversals within 1800s/);
    assert.match(results[15]?.reason ?? '', /widened/);
  });

  it('decays back toward the spec value when calm', () => {
    const flapping = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? 4 : 5));
    const calm = Array.from({ length: 100 }, () => 5);
    const { results, reasons } = run([...flapping, ...calm]);
    const windows = results.map((r) => r.scaleDownStabilizationSeconds);
    assert.equal(windows[7], 1200);
    const end = windows[windows.length - 1];
    assert.equal(end, 300, 'back to the spec value after calm windows');
    assert.ok(
      windows.slice(8).every((w, i, a) => i === 0 || w <= (a[i - 1] as number)),
      'monotone decay',
    );
    assert.ok(reasons.some((r) => /1200s → 600s: decayed: no direction reversal for 1800s/.test(r)));
  });

  it('does not count steady growth as flapping', () => {
    const { results } = run([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(results.every((r) => r.scaleDownStabilizationSeconds === 300));
  });

  it('round-trips its state through JSON', () => {
    const seq = [4, 5, 4, 5, 4, 5, 5, 5];
    const direct = run(seq);
    let state: FlapState | undefined;
    for (const [i, r] of seq.entries()) {
      const out = flapStage(
        cfg,
        state && JSON.parse(JSON.stringify(state)),
        { currentReplicas: r },
        T0 + i * 60_000,
      );
      assert.deepEqual(out.result, direct.results[i]);
      state = out.state;
    }
  });
});

describe('flap detection with regretSeconds', () => {
  it('counts only scale-ups soon after a scale-down', () => {
    const cfg = {
      baseSeconds: 300,
      maxSeconds: 1200,
      reversalThreshold: 2,
      windowSeconds: 3600,
      regretSeconds: 375,
    };
    // Up, then down 10 minutes later, repeatedly: each scale-down follows a fall, none is regretted.
    let state: Parameters<typeof flapStage>[1];
    const counts = [5, 8, 8, 5, 5, 8, 8, 5, 5, 8];
    counts.forEach((c, i) => {
      state = flapStage(cfg, state, { currentReplicas: c }, 1_700_000_000_000 + i * 600_000).state;
    });
    assert.equal(state?.tunedSeconds, 300, 'slow up/down cycles are not flapping');
    // A scale-up 60 s after a scale-down, twice: flapping.
    let s2: Parameters<typeof flapStage>[1];
    let out: ReturnType<typeof flapStage> | undefined;
    [5, 8, 5, 8, 5, 8].forEach((c, i) => {
      out = flapStage(cfg, s2, { currentReplicas: c }, 1_700_000_000_000 + i * 60_000);
      s2 = out.state;
    });
    assert.equal(out?.result.scaleDownStabilizationSeconds, 600);
  });
});
