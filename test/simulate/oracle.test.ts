import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decide } from '../../src/policy/engine.ts';
import type { EngineInput } from '../../src/policy/types.ts';
import { foresightEngine, loadAhead } from '../../src/simulate/foresight.ts';
import { oraclePlan, requiredReplicas } from '../../src/simulate/oracle.ts';
import { replayPlan, simulate, TICK_SECONDS } from '../../src/simulate/simulate.ts';
import { policySpec } from './helpers.ts';

const cfg = (capacity: number, startupSeconds: number, minReplicas = 0, maxReplicas = 1000) => ({
  capacity,
  startupSeconds,
  tickSeconds: TICK_SECONDS,
  minReplicas,
  maxReplicas,
});

test('requirement per minute is ceil(requests / capacity) within [min, max]', () => {
  const r = requiredReplicas(Float64Array.from([0, 1, 20, 21, 1000]), cfg(20, 0, 1, 10));
  assert.deepEqual([...r], [1, 1, 1, 2, 10]);
});

test('the plan looks ahead by tick + start-up (hand-computed)', () => {
  // need [1, 1, 3, 3, 1], start-up 60: tick t needs max over [t, t+75).
  const plan = oraclePlan(Float64Array.from([10, 10, 30, 30, 10]), cfg(10, 60));
  assert.deepEqual([...plan], [1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
  // Start-up 20: [t, t+35) reaches the next minute from t=30.
  const plan20 = oraclePlan(Float64Array.from([10, 30, 10]), cfg(10, 20));
  assert.deepEqual([...plan20], [1, 1, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
});

const small = fc.record({
  requests: fc.array(fc.integer({ min: 0, max: 90 }), { minLength: 1, maxLength: 12 }),
  capacity: fc.integer({ min: 5, max: 30 }),
  startup: fc.constantFrom(0, 10, 15, 45, 60, 100, 200),
});

test('the oracle is never under-provisioned within maxReplicas', () => {
  fc.assert(
    fc.property(small, ({ requests, capacity, startup }) => {
      const load = Float64Array.from(requests);
      const c = cfg(capacity, startup);
      const plan = oraclePlan(load, c);
      const r = replayPlan(load, plan, { capacity, startupSeconds: startup, initial: plan[0]! });
      assert.equal(r.underProvisionedMinutes, 0);
      assert.equal(r.unservedRequests, 0);
    }),
    { seed: 4103, numRuns: 200 },
  );
});

test('the oracle is minimal: one replica fewer at any single tick under-provisions', () => {
  fc.assert(
    fc.property(small, ({ requests, capacity, startup }) => {
      const load = Float64Array.from(requests);
      const c = cfg(capacity, startup);
      const plan = oraclePlan(load, c);
      const initial = plan[0]!;
      for (let i = 0; i < plan.length; i++) {
        if (plan[i] === 0) continue;
        const lower = Int32Array.from(plan);
        lower[i]! -= 1;
        const r = replayPlan(load, lower, { capacity, startupSeconds: startup, initial });
        assert.ok(r.underProvisionedMinutes > 0, `tick ${i} could be lowered: ${[...plan]}`);
      }
    }),
    { seed: 4104, numRuns: 100 },
  );
});

test('no schedule serving every minute uses fewer replica-minutes (exhaustive, 2 minutes)', () => {
  // The first minute needs nothing, so an empty start is fair to every schedule.
  for (const [requests, startup] of [
    [[0, 30], 30],
    [[0, 25], 45],
    [[0, 18], 15],
    [[20, 30], 0],
  ] as Array<[number[], number]>) {
    const load = Float64Array.from(requests);
    const c = cfg(10, startup);
    const best = replayPlan(load, oraclePlan(load, c), { capacity: 10, startupSeconds: startup, initial: 0 });
    const ticks = 8;
    const plan = new Int32Array(ticks);
    for (let code = 0; code < 4 ** ticks; code++) {
      let x = code;
      for (let i = 0; i < ticks; i++) {
        plan[i] = x % 4;
        x = Math.floor(x / 4);
      }
      const r = replayPlan(load, plan, { capacity: 10, startupSeconds: startup, initial: 0 });
      if (r.underProvisionedMinutes === 0) {
        assert.ok(r.replicaMinutes >= best.replicaMinutes, `${[...plan]} beats the oracle on ${requests}`);
      }
    }
  }
});

// Perfect foresight (src/simulate/foresight.ts): the engine with Level 5 off fed the true load
// over the lead, the ceiling of forecasting in `make bench`.

test('loadAhead is the highest minute from t to t + lead (hand-computed)', () => {
  const r = [10, 50, 20, 30];
  assert.equal(loadAhead(r, 0, 0), 10);
  assert.equal(loadAhead(r, 0, 60), 50);
  assert.equal(loadAhead(r, 70, 45), 50);
  assert.equal(loadAhead(r, 120, 60), 30);
  assert.equal(loadAhead(r, 150, 600), 30, 'the trace end bounds the look-ahead');
});

test('foresightEngine hands the engine the load ahead in place of the metric; a failed query stays failed', () => {
  const seen: EngineInput[] = [];
  const stub = (input: EngineInput) => {
    seen.push(input);
    return decide(input);
  };
  const engine = foresightEngine({ requests: [10, 50, 20], leadSeconds: 75, startTime: 1000, engine: stub });
  const spec = policySpec();
  engine({
    spec,
    state: undefined,
    observations: [{ name: 'requests', ok: true, value: 3, sampledAt: 1000 }],
    currentReplicas: 1,
    now: 1000 + 15_000,
  });
  engine({
    spec,
    state: undefined,
    observations: [{ name: 'requests', ok: false, error: { kind: 'empty', message: 'none' } }],
    currentReplicas: 1,
    now: 1000 + 60_000,
  });
  assert.deepEqual(seen[0]?.observations, [{ name: 'requests', ok: true, value: 50, sampledAt: 16_000 }]);
  assert.equal(seen[1]?.observations[0]?.ok, false);
});

test('fed the load ahead, the engine with Level 5 off misses none of a step the HPA misses', () => {
  const requests = Float64Array.from([...new Array(10).fill(14), ...new Array(10).fill(140)]);
  const opts = { trace: { requests, firstMinute: 0 }, traceName: 'step', spec: policySpec(), capacity: 20 };
  const ahead = simulate({
    ...opts,
    startupSeconds: 60,
    engine: foresightEngine({ requests, leadSeconds: 60 + 15 + 37.5 }),
  });
  const get = (name: string) => ahead.report.results.find((x) => x.strategy === name);
  assert.ok((get('hpa-default')?.underProvisionedMinutes ?? 0) >= 1, 'the HPA misses the step');
  assert.equal(get('tidemark')?.underProvisionedMinutes, 0);
});
