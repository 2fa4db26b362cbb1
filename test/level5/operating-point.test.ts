// Operating points (src/level5/operating-point.ts): where between the target and the capacity a
// Level 5 variant sizes its reactive part and its forecast.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { operatingPoints } from '../../src/level5/operating-point.ts';
import { applyLevel5Plan, type Level5Plan } from '../../src/level5/stages.ts';

describe('operating points', () => {
  it('sizes every point between the target and the capacity, the forecast at or above the reactive part', () => {
    const points = operatingPoints([{ name: 'rps', target: 7, capacity: 10 }], {});
    assert.ok(points.length > 1);
    for (const p of points) {
      const r = p.targets.rps as number;
      const f = p.forecastTargets.rps as number;
      assert.ok(r > 7 && r < 10, `reactive part at ${r}`);
      assert.ok(f >= r && f < 10, `forecast at ${f}, reactive part at ${r}`);
    }
    // Some points size the forecast hotter than the reactive part, and say so in their label.
    const split = points.filter((p) => (p.forecastTargets.rps as number) > (p.targets.rps as number));
    assert.ok(split.length > 0);
    for (const p of split) assert.match(p.label, /^\d+\/\d+%$/);
    assert.equal(points[0]?.label, '75%', points.map((p) => p.label).join());
  });

  it('starts from the targets in use (SLO-tuned), keeps the other metrics', () => {
    const points = operatingPoints([{ name: 'rps', target: 7, capacity: 10 }], {
      rps: 8,
      cpu: 0.5,
    });
    for (const p of points) {
      assert.ok((p.targets.rps as number) > 8);
      assert.equal(p.targets.cpu, 0.5);
      assert.equal(p.forecastTargets.cpu, 0.5);
    }
  });

  it('has none without a metric whose capacity is stated', () => {
    assert.deepEqual(operatingPoints([], { rps: 7 }), []);
  });
});

describe('an operating point applied to a plan', () => {
  it('sizes the forecast at its forecast targets and everything else at its targets', () => {
    const plan: Level5Plan = {
      sizing: {
        metrics: [{ name: 'rps', targetType: 'AverageValue', target: 10 }],
        tolerance: 0.1,
      },
      loads: { rps: 100 },
      held: { rps: 120 },
      forecast: {
        loads: { rps: 200 },
        mode: 'ScaleUpOnly',
        surprised: false,
        line: 'forecast',
      },
    };
    // The forecast's 200 at 16 per replica: 13 (at the reactive part's 12 it would be 17).
    const at = {
      current: 10,
      ready: 10,
      targets: { rps: 12 },
      forecastTargets: { rps: 16 },
    };
    assert.equal(applyLevel5Plan(plan, 10, at).proposal, 13);
    // The held load is a guard, sized where the path's reactive part is: 120 at 12 per replica.
    const held = {
      ...plan,
      forecast: { ...plan.forecast!, loads: { rps: 50 } },
    };
    assert.equal(applyLevel5Plan(held, 1, at).proposal, 10);
  });
});
