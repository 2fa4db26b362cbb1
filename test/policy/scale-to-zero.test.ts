// behavior.scaleToZeroDelaySeconds (issue 18): with minReplicas 0, the step to 0 waits its own
// delay (KEDA's cooldownPeriod) while the scale-down window governs N → 1, as in KEDA, where
// the HPA scales 1..N and KEDA alone takes the last replica away.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from '../../src/policy/engine.ts';
import type { EngineState, PolicySpec } from '../../src/policy/types.ts';
import { persistState, readStoredState } from '../../src/reconciler/engine-state.ts';
import { makeSpec, ok, T0 } from './helpers.ts';

function zeroSpec(delay?: number, window = 300): PolicySpec {
  const spec = makeSpec({
    minReplicas: 0,
    maxReplicas: 10,
    metrics: [
      { name: 'queue', query: 'q', target: { type: 'AverageValue', value: '10' }, activationThreshold: '5' },
    ],
    scaleDown: { stabilizationWindowSeconds: window },
  });
  if (delay !== undefined) spec.behavior.scaleToZeroDelaySeconds = delay;
  return spec;
}

interface Step {
  /** Seconds after the load dropped. */
  s: number;
  from: number;
  to: number;
  limitedBy: string[];
}

/**
 * Runs the engine every 15 s, the decision carried out each tick: 5 minutes at 100 (10
 * replicas), then `after(s)` (0 by default) from second 0 on. Returns each change of count.
 */
function run(spec: PolicySpec, seconds: number, after: (s: number) => number = () => 0) {
  let state: EngineState | undefined;
  let current = 10;
  const steps: Step[] = [];
  const states: EngineState[] = [];
  for (let s = -300; s <= seconds; s += 15) {
    const value = s < 0 ? 100 : after(s);
    const out = decide({
      spec,
      state,
      observations: [ok('queue', value)],
      currentReplicas: current,
      now: T0 + s * 1000,
    });
    const d = out.decision;
    if (d.desiredReplicas !== current)
      steps.push({ s, from: current, to: d.desiredReplicas, limitedBy: d.limitedBy });
    current = d.desiredReplicas;
    state = out.state;
    states.push(out.state);
  }
  return { steps: steps.map(({ s, from, to }) => ({ s, from, to })), raw: steps, states, current };
}

describe('behavior.scaleToZeroDelaySeconds', () => {
  it("unset: today's behaviour, 10 → 0 in one step once the 300 s window passes (at 285 s: the last 10 was at -15 s), and no new state", () => {
    const r = run(zeroSpec(), 900);
    assert.deepEqual(r.steps, [{ s: 285, from: 10, to: 0 }]);
    for (const st of r.states) assert.equal(Object.hasOwn(st, 'belowActivationSince'), false);
  });

  it('600 s: 10 → 1 on the 300 s scale-down window, and only 1 → 0 waits the delay', () => {
    const r = run(zeroSpec(600), 1200);
    assert.deepEqual(r.steps, [
      { s: 285, from: 10, to: 1 },
      { s: 600, from: 1, to: 0 },
    ]);
  });

  it('60 s, shorter than the window: 10 → 0 at 60 s, as KEDA scales to 0 past its HPA', () => {
    const r = run(zeroSpec(60), 600);
    assert.deepEqual(r.steps, [{ s: 60, from: 10, to: 0 }]);
  });

  it('names the delay while it holds, and counts it from the first tick below activation', () => {
    const spec = zeroSpec(600);
    const r = run(spec, 450);
    const last = r.states[r.states.length - 1] as EngineState;
    assert.equal(last.belowActivationSince, T0);
    const d = decide({
      spec,
      state: last,
      observations: [ok('queue', 0)],
      currentReplicas: 1,
      now: T0 + 465_000,
    }).decision;
    assert.equal(d.desiredReplicas, 1);
    assert.equal(d.limitedBy[0], 'ScaleToZeroDelay');
    assert.match(d.reason, /600s scaleToZeroDelaySeconds \(465s so far\)/);
  });

  it('a metric above its activation threshold during the delay starts it again', () => {
    // Active again at 450 s (6 > 5, proposing 1), idle from 465 s: 0 at 465 + 600 s.
    const r = run(zeroSpec(600), 1200, (s) => (s === 450 ? 6 : 0));
    assert.deepEqual(r.steps, [
      { s: 285, from: 10, to: 1 },
      { s: 1065, from: 1, to: 0 },
    ]);
  });

  it('forgets the time at 0, so waking and going idle again waits the whole delay', () => {
    const r = run(zeroSpec(600), 1200);
    const last = r.states[r.states.length - 1] as EngineState;
    assert.equal(r.current, 0);
    assert.equal(Object.hasOwn(last, 'belowActivationSince'), false);
  });

  it('does nothing with minReplicas > 0 (the CRD rejects it there; the engine ignores it)', () => {
    const spec = { ...zeroSpec(600), minReplicas: 1 };
    const r = run(spec, 900);
    assert.deepEqual(r.steps, [{ s: 285, from: 10, to: 1 }]);
    for (const st of r.states) assert.equal(Object.hasOwn(st, 'belowActivationSince'), false);
  });
});

describe('belowActivationSince in the stored state', () => {
  it('is stored, read back, and shown in RFC 3339 in `times` like the other epoch ms times', () => {
    const r = run(zeroSpec(600), 120);
    const state = r.states[r.states.length - 1] as EngineState;
    const stored = JSON.parse(JSON.stringify(persistState(state)));
    assert.equal(stored.belowActivationSince, T0);
    assert.equal(stored.version, 1, 'an optional field an older release ignores keeps the version');
    assert.equal(stored.times.belowActivationSince, new Date(T0).toISOString());
    const read = readStoredState(stored);
    assert.equal(read.kind, 'read');
    assert.equal((read as { state: EngineState }).state.belowActivationSince, T0);
  });
});
