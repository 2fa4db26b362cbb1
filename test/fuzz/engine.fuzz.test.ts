// Bad input (issue 7, item 2): every spec the validator accepts, run through the policy engine
// with fuzzed observations, replica counts and tick sequences. Each test is named after the
// fault it injects; all of them check the same invariants after every tick (see check()):
// no throw; desiredReplicas a finite integer in [minReplicas, maxReplicas] (the engine sends an
// out-of-bounds current count to the nearest bound, see engine.ts); a non-empty reason; a
// state that survives JSON and stays bounded by the stabilization windows and rate periods;
// the same input gives the same output; and a hostile ok:true value (NaN, ±Infinity, negative,
// above 1e15) is treated exactly as a failed observation, so it never lowers the replica count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { PolicyValidator } from '../../src/crd/validate.ts';
import { decide, effectiveScaleDownWindow, MAX_METRIC_VALUE } from '../../src/policy/engine.ts';
import type {
  EngineInput,
  EngineOutput,
  EngineState,
  MetricObservation,
  ObservationErrorKind,
  PolicySpec,
} from '../../src/policy/types.ts';
import { FUZZ_SEED, validBetaPolicy, validPolicy } from './arbitraries.ts';

// TIDEMARK_FUZZ_RUNS raises the count for a longer hunt (make test-fuzz); the default keeps `make test` fast.
const RUNS = Number(process.env.TIDEMARK_FUZZ_RUNS ?? 200);
fc.configureGlobal({ seed: FUZZ_SEED });
const T0 = 1_700_000_000_000;
const validator = new PolicyValidator();

const ERROR_KINDS: ObservationErrorKind[] = [
  'timeout',
  'unreachable',
  'http-error',
  'bad-query',
  'empty',
  'multiple-series',
  'not-scalar',
  'nan',
  'infinite',
  'negative',
  'stale',
  'too-large',
];

/** What one metric's observation is this tick, before it gets the metric's name. */
type Draw =
  | { t: 'ok'; value: number }
  | { t: 'failed'; kind: ObservationErrorKind }
  | { t: 'hostile'; value: number }
  | { t: 'missing' };

const okValue = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 1e4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, Number.MIN_VALUE, 1e-300, 1e-9, 1e-3) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: MAX_METRIC_VALUE, noNaN: true }) },
  { weight: 1, arbitrary: fc.constant(MAX_METRIC_VALUE) },
);
const okDraw: fc.Arbitrary<Draw> = okValue.map((value) => ({ t: 'ok', value }));
const failedDraw: fc.Arbitrary<Draw> = fc.constantFrom(...ERROR_KINDS).map((kind) => ({ t: 'failed', kind }));
const missingDraw: fc.Arbitrary<Draw> = fc.constant({ t: 'missing' });
const hostileDraw: fc.Arbitrary<Draw> = fc
  .oneof(
    fc.constantFrom(
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -1,
      -1e-300,
      -Number.MAX_VALUE,
      1e308,
      Number.MAX_VALUE,
      MAX_METRIC_VALUE * 1.5,
    ),
    fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
    fc.double({ min: MAX_METRIC_VALUE * 2, noNaN: true }),
  )
  .map((value) => ({ t: 'hostile', value }));

function isHostile(v: number): boolean {
  return !Number.isFinite(v) || v < 0 || v > MAX_METRIC_VALUE;
}

function hostileKind(v: number): ObservationErrorKind {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return 'infinite';
  return v < 0 ? 'negative' : 'too-large';
}

function observe(name: string, d: Draw): MetricObservation | undefined {
  switch (d.t) {
    case 'ok':
    case 'hostile':
      return { name, ok: true, value: d.value };
    case 'failed':
      return { name, ok: false, error: { kind: d.kind, message: `injected ${d.kind}` } };
    case 'missing':
      return undefined;
  }
}

interface Tick {
  /** ms since the previous tick, always > 0 */
  dt: number;
  draws: Draw[];
  /** Someone else set the target's replicas (0..2×max, as a fraction of 2×max) before this tick. */
  external: number | undefined;
  /** readyReplicas as a fraction of current, when known */
  ready: number | undefined;
  /** An observation for a metric the policy does not have, with a hostile value. */
  stray: boolean;
}

const tickArb = (draw: fc.Arbitrary<Draw>, external: boolean): fc.Arbitrary<Tick> =>
  fc.record({
    dt: fc.oneof(
      fc.integer({ min: 1, max: 1000 }),
      fc.constant(15_000),
      fc.integer({ min: 1, max: 900_000 }),
    ),
    draws: fc.array(draw, { minLength: 16, maxLength: 16 }),
    external: external
      ? fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined, freq: 3 })
      : fc.constant(undefined),
    ready: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    stray: fc.boolean(),
  });

/**
 * A spec the validator accepted (so defaults are applied), written as v1alpha1 or as v1beta1
 * (per-direction tolerances, per-metric capacities).
 */
const specArb = fc.oneof(validPolicy, validBetaPolicy).map((p) => {
  const r = validator.validate(p);
  if (!r.ok) throw new Error(`generator made an invalid policy: ${JSON.stringify(r.issues)}`);
  return r.policy.spec as PolicySpec;
});

function longestPeriodSeconds(spec: PolicySpec): number {
  const all = [...spec.behavior.scaleUp.policies, ...spec.behavior.scaleDown.policies];
  return Math.max(0, ...all.map((p) => p.periodSeconds));
}

function roundTrips(v: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(v)), v);
}

/** The invariants every tick must satisfy; `tickTimes` are the times of the ticks so far, this one last. */
function check(input: EngineInput, tickTimes: number[]): EngineOutput {
  const { spec, now, currentReplicas: current } = input;
  let out: ReturnType<typeof decide>;
  try {
    out = decide(input);
  } catch (err) {
    assert.fail(`decide threw: ${(err as Error).stack}`);
  }
  const d = out.decision;
  const at = `at current ${current}, [${spec.minReplicas}, ${spec.maxReplicas}]: ${d.reason}`;
  assert.ok(Number.isSafeInteger(d.desiredReplicas), `desired ${d.desiredReplicas} ${at}`);
  assert.ok(
    d.desiredReplicas >= spec.minReplicas && d.desiredReplicas <= spec.maxReplicas,
    `desired ${d.desiredReplicas} ${at}`,
  );
  assert.equal(typeof d.reason, 'string');
  assert.ok(d.reason.trim().length > 0, 'empty reason');
  assert.ok(d.limitedBy.length > 0);
  assert.equal(
    d.direction,
    d.desiredReplicas > current ? 'Up' : d.desiredReplicas < current ? 'Down' : 'None',
  );
  assert.ok(roundTrips(out.state), `state does not survive JSON: ${JSON.stringify(out.state)}`);
  assert.ok(roundTrips(d), 'decision does not survive JSON');
  assert.deepEqual(decide(input), out, 'the same input gave a different output');

  // Bounded: nothing older than the longest window or period survives, so the arrays hold at
  // most one entry per tick inside it.
  const window = Math.max(
    spec.behavior.scaleUp.stabilizationWindowSeconds,
    effectiveScaleDownWindow(spec, input.state),
  );
  const recCutoff = now - window * 1000;
  const eventCutoff = now - longestPeriodSeconds(spec) * 1000;
  // This tick's entries are kept even with a window of 0; the next tick prunes them.
  const counts = (t: number, cutoff: number) => t > cutoff || t === now;
  const ticksAfter = (cutoff: number) => tickTimes.filter((t) => counts(t, cutoff)).length;
  assert.ok(
    out.state.recommendations.every((r) => counts(r.t, recCutoff) && Number.isSafeInteger(r.replicas)),
  );
  // +1: a first tick holds the initial recommendation as well as its own.
  assert.ok(
    out.state.recommendations.length <= ticksAfter(recCutoff) + 1,
    'recommendations grow without bound',
  );
  for (const events of [out.state.scaleUpEvents, out.state.scaleDownEvents]) {
    assert.ok(
      events.every((e) => counts(e.t, eventCutoff) && Number.isSafeInteger(e.change) && e.change > 0),
    );
    assert.ok(events.length <= ticksAfter(eventCutoff), 'scale events grow without bound');
  }
  assert.ok(
    Number.isSafeInteger(out.state.consecutiveFailures) && out.state.consecutiveFailures <= tickTimes.length,
  );

  // A hostile ok:true value is a failure: the same decision and state as the failure itself.
  const hostile = input.observations.filter(
    (o) => o.ok && isHostile(o.value) && spec.metrics.some((m) => m.name === o.name),
  );
  if (hostile.length > 0) {
    const asFailures = input.observations.map(
      (o): MetricObservation =>
        o.ok && isHostile(o.value)
          ? { name: o.name, ok: false, error: { kind: hostileKind(o.value), message: 'x' } }
          : o,
    );
    const ref = decide({ ...input, observations: asFailures });
    assert.equal(
      d.desiredReplicas,
      ref.decision.desiredReplicas,
      `hostile value not treated as a failure ${at}`,
    );
    assert.deepEqual(d.limitedBy, ref.decision.limitedBy);
    assert.deepEqual(out.state, ref.state);
    for (const o of hostile) {
      const m = d.metrics.find((r) => r.name === o.name);
      assert.ok(
        m?.error !== undefined && m.value === undefined,
        `${o.name}=${o.ok && o.value} became a value`,
      );
    }
    // Never lower: only the fallback the user configured, or a count above maxReplicas, goes down.
    if (current <= spec.maxReplicas && !d.fallbackActive) {
      assert.ok(d.desiredReplicas >= current, `hostile value lowered ${current}→${d.desiredReplicas} ${at}`);
    }
  }
  return out;
}

/** Runs the ticks, carrying out each decision unless someone else changes the count first. */
function run(spec: PolicySpec, start: number, ticks: Tick[], viaJson: boolean): void {
  let state: EngineState | undefined;
  let current = start;
  let now = T0;
  const tickTimes: number[] = [];
  for (const tick of ticks) {
    now += tick.dt;
    tickTimes.push(now);
    if (tick.external !== undefined) current = Math.round(tick.external * 2 * spec.maxReplicas);
    const observations: MetricObservation[] = [];
    spec.metrics.forEach((m, i) => {
      const o = observe(m.name, tick.draws[i % tick.draws.length] as Draw);
      if (o !== undefined) observations.push(o);
    });
    if (tick.stray) observations.push({ name: 'not-a-metric-of-this-policy', ok: true, value: Number.NaN });
    const input: EngineInput = { spec, state, observations, currentReplicas: current, now };
    if (tick.ready !== undefined) input.readyReplicas = Math.round(tick.ready * current);
    const out = check(input, tickTimes);
    // The operator persists the state in the status; a restarted one reads it back as JSON.
    state = viaJson ? (JSON.parse(JSON.stringify(out.state)) as EngineState) : out.state;
    current = out.decision.desiredReplicas;
  }
}

const startArb = fc.double({ min: 0, max: 1, noNaN: true });

function property(draw: fc.Arbitrary<Draw>, opts: { external?: boolean; outOfBoundsStart?: boolean } = {}) {
  return fc.property(
    specArb,
    startArb,
    fc.array(tickArb(draw, opts.external ?? false), { minLength: 1, maxLength: 20 }),
    fc.boolean(),
    (spec, s, ticks, viaJson) => {
      const start = opts.outOfBoundsStart
        ? Math.round(s * 2 * spec.maxReplicas)
        : spec.minReplicas + Math.round(s * (spec.maxReplicas - spec.minReplicas));
      run(spec, start, ticks, viaJson);
    },
  );
}

describe('engine fuzzing: accepted specs through decide()', () => {
  it('ok observations of 0, tiny values and up to 1e15', () => {
    fc.assert(property(okDraw), { numRuns: RUNS });
  });

  it('failed observations of every ObservationErrorKind, and missing ones, on some or all metrics', () => {
    fc.assert(
      property(fc.oneof({ weight: 2, arbitrary: okDraw }, { weight: 3, arbitrary: failedDraw }, missingDraw)),
      { numRuns: RUNS },
    );
  });

  it('hostile ok:true values (NaN, ±Infinity, negative, 1e308) are failures and never lower replicas', () => {
    fc.assert(
      property(fc.oneof({ weight: 2, arbitrary: okDraw }, { weight: 2, arbitrary: hostileDraw }, failedDraw)),
      {
        numRuns: RUNS,
      },
    );
  });

  it('current replicas out of bounds (0..2×max), changed by someone else between ticks', () => {
    fc.assert(
      property(fc.oneof({ weight: 4, arbitrary: okDraw }, hostileDraw, failedDraw, missingDraw), {
        external: true,
        outOfBoundsStart: true,
      }),
      { numRuns: RUNS },
    );
  });

  it('regression: an ok:true value of 1e308 holds the count instead of scaling to maxReplicas', () => {
    const r = validator.validate({
      spec: {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        maxReplicas: 50,
        prometheus: { address: 'http://prometheus:9090' },
        metrics: [{ name: 'rps', query: 'q', target: { type: 'AverageValue', value: '0.001' } }],
      },
    });
    assert.ok(r.ok);
    const out = decide({
      spec: r.policy.spec,
      state: undefined,
      observations: [{ name: 'rps', ok: true, value: 1e308 }],
      currentReplicas: 3,
      now: T0,
    });
    assert.equal(out.decision.desiredReplicas, 3);
    assert.equal(out.decision.metrics[0]?.error?.kind, 'too-large');
    assert.deepEqual(out.decision.limitedBy, ['MetricsUnavailable']);
  });
});
