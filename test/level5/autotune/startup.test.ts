// Learned start-up time (startup.ts): from the target's replicas and ready replicas per tick.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  learnedStartupSeconds,
  type StartupState,
  startupStage,
} from '../../../src/level5/autotune/startup.ts';
import { decide } from '../../../src/policy/engine.ts';
import { simulate } from '../../../src/simulate/simulate.ts';
import { autopilotSpec } from '../../support/autopilot.ts';

const T0 = 1_700_000_000_000;
const TICK = 15_000;

/** Scale-ups every 10 minutes whose new replicas are ready `startup(i)` seconds after the tick that asked. */
function learn(startup: (i: number) => number, scaleUps: number): StartupState | undefined {
  let state: StartupState | undefined;
  let replicas = 2;
  let readyAt = 0;
  let ready = 2;
  for (let k = 0; k < scaleUps * 40; k++) {
    const now = T0 + k * TICK;
    if (now >= readyAt) ready = replicas;
    state = startupStage(state, { currentReplicas: replicas, readyReplicas: ready, now });
    if (k % 40 === 5) {
      // The engine decides at this tick; the patch lands right after it.
      replicas += 2;
      readyAt = now + startup(Math.floor(k / 40)) * 1000;
    }
  }
  return state;
}

describe('learned start-up', () => {
  it('converges to the time new replicas take to become ready', () => {
    assert.equal(learnedStartupSeconds(learn(() => 45, 6)), 45);
    assert.equal(learnedStartupSeconds(learn(() => 180, 6)), 180);
  });

  it('is not moved far by one slow start (median of recent measurements)', () => {
    assert.equal(learnedStartupSeconds(learn((i) => (i === 2 ? 600 : 60), 7)), 60);
  });

  it('knows nothing before the first scale-up, and drops a scale-up cut short', () => {
    assert.equal(
      learnedStartupSeconds(startupStage(undefined, { currentReplicas: 3, readyReplicas: 3, now: T0 })),
      undefined,
    );
    let s = startupStage(undefined, { currentReplicas: 3, readyReplicas: 3, now: T0 });
    s = startupStage(s, { currentReplicas: 6, readyReplicas: 3, now: T0 + TICK });
    s = startupStage(s, { currentReplicas: 2, readyReplicas: 2, now: T0 + 2 * TICK });
    s = startupStage(s, { currentReplicas: 2, readyReplicas: 2, now: T0 + 3 * TICK });
    assert.equal(learnedStartupSeconds(s), undefined);
  });

  it('reaches the engine: the forecast lead and status use it when podStartupSeconds is unset', () => {
    const spec = autopilotSpec({ predictive: { enabled: true, seasonPeriod: '1h' } });
    const loads = Array.from({ length: 120 }, (_, m) => (m % 20 < 10 ? 40 : 120));
    let learned: number | undefined;
    let lead: number | undefined;
    simulate({
      trace: { requests: Float64Array.from(loads), firstMinute: 0 },
      traceName: 'steps',
      spec,
      capacity: 11,
      startupSeconds: 30,
      engine: (input) => {
        const out = decide(input);
        learned = out.decision.status?.forecast?.learnedStartupSeconds ?? learned;
        lead = out.decision.status?.forecast?.leadSeconds ?? lead;
        return out;
      },
    });
    assert.equal(learned, 30);
    assert.equal(lead, 45, 'lead = learned start-up + one polling interval');
  });
});
