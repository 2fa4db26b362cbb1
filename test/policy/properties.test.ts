// Property tests (fast-check) over random policies, states and tick sequences.
//
// Out-of-bounds current counts: like the HPA, a count above maxReplicas goes to maxReplicas and
// one below minReplicas to minReplicas (Tidemark also raises 0 to a minReplicas > 0, where the
// HPA would leave it), so the output is within [min, max] for every current count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { RatePolicy } from '../../src/core/hpa-arithmetic.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineState, MetricObservation, PolicySpec } from '../../src/policy/types.ts';
import { FUZZ_SEED } from '../fuzz/arbitraries.ts';
import { makeSpec, T0 } from './helpers.ts';

// Fixed, so a failure reproduces (fast-check prints the seed with the counterexample).
fc.configureGlobal({ seed: FUZZ_SEED });

const RUNS = 300;

const policyArb = fc.record({
  type: fc.constantFrom('Pods' as const, 'Percent' as const),
  value: fc.integer({ min: 1, max: 200 }),
  periodSeconds: fc.integer({ min: 1, max: 600 }),
});

const directionArb = fc.record({
  stabilizationWindowSeconds: fc.integer({ min: 0, max: 600 }),
  cooldownSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })),
  selectPolicy: fc.constantFrom('Max' as const, 'Min' as const, 'Disabled' as const),
  policies: fc.array(policyArb, { minLength: 1, maxLength: 3 }),
});

const metricArb = (i: number) =>
  fc.record({
    name: fc.constant(`m${i}`),
    query: fc.constant('q'),
    target: fc.record({
      type: fc.constantFrom('AverageValue' as const, 'Value' as const),
      value: fc.integer({ min: 1, max: 500 }).map(String),
    }),
    activationThreshold: fc.integer({ min: 0, max: 20 }).map(String),
  });

interface SpecArbOptions {
  minAtLeast?: number;
  fallback?: boolean;
}

function specArb(o: SpecArbOptions = {}): fc.Arbitrary<PolicySpec> {
  return fc
    .record({
      min: fc.integer({ min: o.minAtLeast ?? 0, max: 5 }),
      span: fc.integer({ min: 0, max: 40 }),
      tolerance: fc.constantFrom(0, 0.05, 0.1, 0.3),
      up: directionArb,
      down: directionArb,
      nMetrics: fc.integer({ min: 1, max: 3 }),
      metrics: fc.tuple(metricArb(0), metricArb(1), metricArb(2)),
      fallback: o.fallback
        ? fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined })
        : fc.constant(undefined),
      fallbackReplicas: fc.integer({ min: 0, max: 45 }),
    })
    .map((r) => {
      const min = r.min;
      const max = Math.max(1, min + r.span);
      return makeSpec({
        minReplicas: min,
        maxReplicas: max,
        tolerance: r.tolerance,
        scaleUp: r.up,
        scaleDown: r.down,
        metrics: r.metrics.slice(0, r.nMetrics),
        ...(r.fallback !== undefined
          ? {
              fallback: {
                failureThreshold: r.fallback,
                replicas: Math.min(max, Math.max(min, r.fallbackReplicas)),
              },
            }
          : {}),
      });
    });
}

/** A value for one metric: usually fine, sometimes failed, sometimes garbage that slipped through as ok. */
const observationArb = (name: string, failures: boolean): fc.Arbitrary<MetricObservation> =>
  failures
    ? fc.oneof(
        {
          weight: 6,
          arbitrary: fc
            .double({ min: 0, max: 20000, noNaN: true })
            .map((value) => ({ name, ok: true as const, value })),
        },
        {
          weight: 2,
          arbitrary: fc.constant({
            name,
            ok: false as const,
            error: { kind: 'timeout' as const, message: 't' },
          }),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -3)
            .map((value) => ({ name, ok: true as const, value })),
        },
      )
    : fc.double({ min: 0, max: 20000, noNaN: true }).map((value) => ({ name, ok: true as const, value }));

const ticksArb = (failures: boolean) =>
  fc.array(
    fc.record({
      dt: fc.integer({ min: 1, max: 120 }),
      obs: fc.tuple(
        observationArb('m0', failures),
        observationArb('m1', failures),
        observationArb('m2', failures),
      ),
    }),
    { minLength: 1, maxLength: 40 },
  );

/** Runs ticks, carrying out every decision; calls `check` before each tick with the input. */
function run(
  spec: PolicySpec,
  start: number,
  ticks: Array<{ dt: number; obs: MetricObservation[] }>,
  check?: (
    input: { state: EngineState | undefined; current: number; now: number; obs: MetricObservation[] },
    desired: number,
  ) => void,
) {
  let state: EngineState | undefined;
  let current = start;
  let now = T0;
  for (const t of ticks) {
    now += t.dt * 1000;
    const obs = t.obs.slice(0, spec.metrics.length);
    const out = decide({ spec, state, observations: obs, currentReplicas: current, now });
    check?.({ state, current, now, obs }, out.decision.desiredReplicas);
    state = out.state;
    current = out.decision.desiredReplicas;
  }
  return { state, current, now };
}

describe('policy engine properties', () => {
  it('output is always within [minReplicas, maxReplicas], whatever the current count', () => {
    fc.assert(
      fc.property(
        specArb({ fallback: true }),
        ticksArb(true),
        fc.integer({ min: 0, max: 80 }),
        fc.integer({ min: 0, max: 80 }),
        (spec, ticks, start, poke) => {
          const { state, now } = run(
            spec,
            Math.min(spec.maxReplicas, Math.max(spec.minReplicas, start)),
            ticks,
            (_i, desired) => {
              assert.ok(desired >= spec.minReplicas && desired <= spec.maxReplicas, `desired ${desired}`);
            },
          );
          // And from an arbitrary (possibly out-of-bounds) current count.
          const out = decide({
            spec,
            state,
            observations: ticks[0]?.obs.slice(0, spec.metrics.length) ?? [],
            currentReplicas: poke,
            now: now + 15_000,
          });
          const d = out.decision.desiredReplicas;
          assert.ok(d >= spec.minReplicas && d <= spec.maxReplicas, `desired ${d} from ${poke}`);
          assert.ok(Number.isInteger(d));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a failed metric never scales down, and never gives fewer replicas than the other metrics alone', () => {
    fc.assert(
      fc.property(
        specArb({ minAtLeast: 0 }),
        ticksArb(false),
        fc.integer({ min: 0, max: 2 }),
        (spec0, ticks, which) => {
          // At least two metrics, so one can fail while another works.
          const spec: PolicySpec =
            spec0.metrics.length >= 2
              ? spec0
              : {
                  ...spec0,
                  metrics: [
                    ...spec0.metrics,
                    { ...(spec0.metrics[0] as PolicySpec['metrics'][number]), name: 'm1' },
                  ],
                };
          const failIdx = which % spec.metrics.length;
          const failName = spec.metrics[failIdx]?.name as string;
          const others: PolicySpec = { ...spec, metrics: spec.metrics.filter((_, i) => i !== failIdx) };
          const start = Math.min(spec.maxReplicas, Math.max(spec.minReplicas, 3));
          run(spec, start, ticks, (input) => {
            const obs = input.obs.map((o) =>
              o.name === failName
                ? { name: failName, ok: false as const, error: { kind: 'timeout' as const, message: 'x' } }
                : o,
            );
            const withFailure = decide({
              spec,
              state: input.state,
              observations: obs,
              currentReplicas: input.current,
              now: input.now,
            }).decision;
            const alone = decide({
              spec: others,
              state: input.state,
              observations: obs.filter((o) => o.name !== failName),
              currentReplicas: input.current,
              now: input.now,
            }).decision;
            assert.ok(
              withFailure.desiredReplicas >= input.current,
              `scaled down ${input.current}→${withFailure.desiredReplicas}`,
            );
            assert.ok(
              withFailure.desiredReplicas >= alone.desiredReplicas,
              `${withFailure.desiredReplicas} < ${alone.desiredReplicas} from the others alone`,
            );
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('rate limits are never exceeded within any period (replicas at each period start from the trace)', () => {
    fc.assert(
      fc.property(
        specArb({ minAtLeast: 1 }),
        ticksArb(false),
        fc.integer({ min: 1, max: 40 }),
        (spec, ticks, start0) => {
          const start = Math.min(spec.maxReplicas, Math.max(spec.minReplicas, start0));
          const history: Array<{ t: number; replicas: number }> = [
            { t: Number.NEGATIVE_INFINITY, replicas: start },
          ];
          // Replica count as of time t (after every decision at or before t), from the trace alone.
          const countAt = (t: number) => {
            let c = start;
            for (const h of history) if (h.t <= t) c = h.replicas;
            return c;
          };
          const bound = (policies: RatePolicy[], select: string, now: number, up: boolean) => {
            const each = policies.map((p) => {
              const s = countAt(now - p.periodSeconds * 1000);
              if (up) return p.type === 'Pods' ? s + p.value : Math.ceil(s * (1 + p.value / 100));
              return p.type === 'Pods' ? s - p.value : Math.trunc(s * (1 - p.value / 100));
            });
            const pickMax = up ? select === 'Max' : select === 'Min';
            return pickMax ? Math.max(...each) : Math.min(...each);
          };
          run(spec, start, ticks, (input, desired) => {
            const { current, now } = input;
            if (desired > current) {
              const { selectPolicy, policies } = spec.behavior.scaleUp;
              assert.notEqual(selectPolicy, 'Disabled');
              assert.ok(
                desired <= bound(policies, selectPolicy, now, true),
                `up ${current}→${desired} at ${now - T0}`,
              );
            } else if (desired < current) {
              const { selectPolicy, policies } = spec.behavior.scaleDown;
              assert.notEqual(selectPolicy, 'Disabled');
              assert.ok(
                desired >= Math.max(spec.minReplicas, bound(policies, selectPolicy, now, false)),
                `down ${current}→${desired}`,
              );
            }
            history.push({ t: now, replicas: desired });
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the same input gives the same decision, and the input is not mutated', () => {
    fc.assert(
      fc.property(specArb({ fallback: true }), ticksArb(true), (spec, ticks) => {
        run(spec, Math.max(spec.minReplicas, 1), ticks, (input) => {
          const payload = {
            spec,
            state: input.state,
            observations: input.obs,
            currentReplicas: input.current,
            now: input.now,
          };
          const before = JSON.stringify(payload.state);
          const a = decide(payload);
          const b = decide(payload);
          assert.deepEqual(a, b);
          assert.equal(JSON.stringify(payload.state), before);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('a state serialised to JSON and back gives the same next decision', () => {
    fc.assert(
      fc.property(specArb({ fallback: true }), ticksArb(true), (spec, ticks) => {
        let compared = 0;
        run(spec, Math.max(spec.minReplicas, 1), ticks, (input) => {
          // The first tick has no state yet; every later one must be compared.
          if (input.state === undefined) return;
          compared++;
          const revived = JSON.parse(JSON.stringify(input.state)) as EngineState;
          const base = { spec, observations: input.obs, currentReplicas: input.current, now: input.now };
          const a = decide({ ...base, state: input.state });
          const b = decide({ ...base, state: revived });
          assert.deepEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
        });
        assert.equal(compared, ticks.length - 1, 'every tick after the first carried a state');
      }),
      { numRuns: RUNS },
    );
  });

  it('state stays bounded: nothing older than the longest window or period is kept', () => {
    fc.assert(
      fc.property(specArb({ fallback: true }), ticksArb(true), (spec, ticks) => {
        const { state, now } = run(spec, Math.max(spec.minReplicas, 1), ticks);
        // At least one tick ran (ticksArb), so there is a state to check.
        assert.ok(state, 'a state after the ticks');
        const b = spec.behavior;
        const window =
          Math.max(b.scaleUp.stabilizationWindowSeconds, b.scaleDown.stabilizationWindowSeconds) * 1000;
        const period =
          Math.max(
            ...b.scaleUp.policies.map((p) => p.periodSeconds),
            ...b.scaleDown.policies.map((p) => p.periodSeconds),
          ) * 1000;
        const lastTick = now;
        const prevTick = lastTick - (ticks.at(-1)?.dt ?? 0) * 1000;
        for (const r of state.recommendations) assert.ok(r.t > prevTick - window || r.t === lastTick);
        for (const e of [...state.scaleUpEvents, ...state.scaleDownEvents])
          assert.ok(e.t > prevTick - period || e.t === lastTick);
      }),
      { numRuns: RUNS },
    );
  });
});
