// Synthetic per-minute request traces: `tidemark trace synth`, the README's quick start and
// the benchmark's traces nothing was tuned on. Real traces are public datasets with their own
// terms and stay outside the repository; these need nothing beside a clone.
//
// Each trace comes from a seed, so the same options give the same minutes on every machine.
// The shapes are the ones a platform engineer meets: a daily and weekly rhythm, a workload
// that grows, a flat noisy one, and a daily rhythm hit by flash crowds (a match, a news
// story), a daily rhythm with recurring surges on the hour and the half hour (cron jobs,
// scheduled releases: what a sub-daily season forecasts), and batches every 9–15 minutes that
// make the HPA's default five-minute scale-down window flap. Each has counting noise (requests are Poisson counts around the rate),
// minute-to-minute multiplicative noise and slow multiplicative drift (log-space AR(1)).
//
// Hand-written PRNG (mulberry32) and samplers rather than a package: a dozen lines, and a
// trace must not change when a dependency changes its stream. Pure: no clock, no I/O, no
// Math.random.

export const SHAPES = ['seasonal', 'trending', 'flat', 'flash-crowd', 'surges', 'batches'] as const;
export type Shape = (typeof SHAPES)[number];

export interface SynthOptions {
  shape: Shape;
  /** Whole days of one-minute samples, 1 to MAX_DAYS. */
  days: number;
  /** 0 to 2^32 − 1. */
  seed: number;
  /**
   * The highest noise-free rate (requests/minute) of the shape's rhythm, before drift, noise,
   * bursts and surges; each shape has its own default (seasonal 190, trending about 200,
   * flat 70, flash-crowd 120, surges 150, batches 60).
   */
  peak?: number;
}

/** A flash crowd: ramps up to `factor` × the baseline, holds, and ramps back down. */
export interface Surge {
  startMinute: number;
  rampMinutes: number;
  plateauMinutes: number;
  decayMinutes: number;
  factor: number;
}

export interface SynthResult {
  /** Requests in each minute. */
  requests: number[];
  /** The noise-free rate of each minute without surges (what a surge multiplies). */
  baseline: number[];
  /** The flash crowds, jobs or batches, in order (flash-crowd, surges and batches). */
  surges: Surge[];
}

export const MAX_DAYS = 366;
const MAX_PEAK = 1e9;
const DAY = 1440;

/** Options that cannot make a trace; the message names the option and what it accepts. */
export class SynthOptionsError extends Error {}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  readonly #u: () => number;
  #spare: number | undefined;
  constructor(seed: number) {
    this.#u = mulberry32(seed);
  }
  uniform(): number {
    return this.#u();
  }
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.#u();
    const v = this.#u();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.#u());
  }
  /** Poisson count: Knuth's method for small means, a rounded normal for large ones. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const l = Math.exp(-mean);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.#u();
    } while (p > l);
    return k - 1;
  }
}

/** A smooth daily profile in [0, 1]: quiet at night, a morning ramp, an afternoon peak. */
function dailyShape(minute: number, peakHour: number): number {
  const h = (minute % DAY) / 60;
  const d = Math.cos(((h - peakHour) / 24) * 2 * Math.PI); // 1 at the peak, -1 twelve hours away
  return ((d + 1) / 2) ** 2;
}

interface Knobs {
  /** The noise-free rate (requests/minute) at minute m. */
  rate: (m: number) => number;
  /** Std-dev of the log-space AR(1) drift, and its per-minute persistence. */
  driftSigma: number;
  driftPersistence: number;
  /** Std-dev of independent per-minute log-space noise (overdispersion beyond Poisson). */
  whiteSigma: number;
  /** Mean minutes between bursts; burst peak factor range; mean decay time in minutes. */
  burstEvery: number;
  burstFactor: [number, number];
  burstDecay: number;
}

/** The noise-free rhythm and the noise of each shape; `minutes` is the trace's length. */
function knobs(shape: Shape, minutes: number): Knobs {
  switch (shape) {
    case 'seasonal':
      // Weekdays peak at ~190/min in the afternoon, nights ~15/min, weekends at 45%.
      return {
        rate: (m) => 15 + 175 * (Math.floor(m / DAY) % 7 >= 5 ? 0.45 : 1) * dailyShape(m, 15),
        ...{ driftSigma: 0.12, driftPersistence: 0.97, whiteSigma: 0.15 },
        ...{ burstEvery: 360, burstFactor: [1.5, 4], burstDecay: 8 },
      };
    case 'trending': {
      // Grows threefold over the trace (a product taking off), with a launch 10/21 of the way
      // in that adds 40% at once, and a daily rhythm peaking in the evening.
      const launch = Math.floor(((minutes / DAY) * 10) / 21) * DAY + 9 * 60;
      return {
        rate: (m) => (8 + 40 * dailyShape(m, 20)) * (1 + (2 * m) / minutes) * (m >= launch ? 1.4 : 1),
        ...{ driftSigma: 0.15, driftPersistence: 0.95, whiteSigma: 0.2 },
        ...{ burstEvery: 240, burstFactor: [1.3, 3], burstDecay: 5 },
      };
    }
    case 'flat':
      // No rhythm at all: a forecaster has nothing to learn but the level.
      return {
        rate: () => 70,
        ...{ driftSigma: 0.25, driftPersistence: 0.99, whiteSigma: 0.1 },
        ...{ burstEvery: 180, burstFactor: [1.5, 3], burstDecay: 4 },
      };
    case 'surges':
      // A weekday/weekend daily rhythm; the jobs on the hour and the half hour come on top
      // (recurringJobs), with mild noise so the pattern is there to be learned.
      return {
        rate: (m) => 20 + 130 * (Math.floor(m / DAY) % 7 >= 5 ? 0.6 : 1) * dailyShape(m, 14),
        ...{ driftSigma: 0.08, driftPersistence: 0.97, whiteSigma: 0.1 },
        ...{ burstEvery: 720, burstFactor: [1.3, 2], burstDecay: 5 },
      };
    case 'batches':
      // A mild daily rhythm; the batches (batchArrivals) come on top.
      return {
        rate: (m) => 30 + 30 * dailyShape(m, 12),
        ...{ driftSigma: 0.08, driftPersistence: 0.97, whiteSigma: 0.08 },
        ...{ burstEvery: Number.POSITIVE_INFINITY, burstFactor: [1, 1], burstDecay: 1 },
      };
    case 'flash-crowd':
      // A daily rhythm peaking early afternoon; the surges come on top (flashCrowds), so
      // there are no small bursts and only mild drift to blur them.
      return {
        rate: (m) => 10 + 110 * dailyShape(m, 13),
        ...{ driftSigma: 0.08, driftPersistence: 0.97, whiteSigma: 0.08 },
        ...{ burstEvery: Number.POSITIVE_INFINITY, burstFactor: [1, 1], burstDecay: 1 },
      };
  }
}

/**
 * One flash crowd a day at a seeded time: 5–20× the baseline within 1–5 minutes, held for
 * 10 minutes to 4 hours (log-uniform: most are short), back down over 5–30 minutes. Each
 * starts at least an hour into its day and ends before the day does, so surges never
 * overlap and each has an hour of plain baseline before it. A separate stream from the
 * noise's, so that the surges of a seed do not depend on the noise.
 */
function flashCrowds(seed: number, days: number): Surge[] {
  const rng = new Rng((seed ^ 0x9e3779b9) >>> 0);
  const surges: Surge[] = [];
  for (let d = 0; d < days; d++) {
    const rampMinutes = 1 + Math.floor(rng.uniform() * 5);
    const plateauMinutes = Math.round(10 * 24 ** rng.uniform());
    const decayMinutes = 5 + Math.floor(rng.uniform() * 26);
    const factor = 5 + 15 * rng.uniform();
    const length = rampMinutes + plateauMinutes + decayMinutes;
    const latest = DAY - length - 60;
    const startMinute = d * DAY + 60 + Math.floor(rng.uniform() * latest);
    surges.push({ startMinute, rampMinutes, plateauMinutes, decayMinutes, factor });
  }
  return surges;
}

/**
 * Jobs on the hour (2.5–3.5× the baseline for 4 minutes after a one-minute ramp) and on the
 * half hour (1.6–2.2× for 2 minutes), each back down over two minutes; the factor of each is
 * seeded around its mean, as real jobs vary a little from run to run.
 */
function recurringJobs(seed: number, days: number): Surge[] {
  const rng = new Rng((seed ^ 0x85ebca6b) >>> 0);
  const surges: Surge[] = [];
  for (let start = 0; start < days * DAY; start += 30) {
    const onTheHour = start % 60 === 0;
    surges.push({
      startMinute: start,
      rampMinutes: 1,
      plateauMinutes: onTheHour ? 4 : 2,
      decayMinutes: 2,
      factor: onTheHour ? 2.5 + rng.uniform() : 1.6 + 0.6 * rng.uniform(),
    });
  }
  return surges;
}

/**
 * Batches every 9 to 15 minutes, each 2.5–4× the baseline for 2 to 5 minutes: the load drops
 * back just long enough for a five-minute scale-down window to expire before the next one.
 */
function batchArrivals(seed: number, days: number): Surge[] {
  const rng = new Rng((seed ^ 0xc2b2ae35) >>> 0);
  const surges: Surge[] = [];
  for (let start = 5; ; ) {
    const plateauMinutes = 2 + Math.floor(rng.uniform() * 4);
    if (start + 1 + plateauMinutes + 1 > days * DAY) break;
    surges.push({
      startMinute: start,
      rampMinutes: 1,
      plateauMinutes,
      decayMinutes: 1,
      factor: 2.5 + 1.5 * rng.uniform(),
    });
    start += 9 + Math.floor(rng.uniform() * 7);
  }
  return surges;
}

function surgesOf(shape: Shape, seed: number, days: number): Surge[] {
  if (shape === 'flash-crowd') return flashCrowds(seed, days);
  if (shape === 'surges') return recurringJobs(seed, days);
  if (shape === 'batches') return batchArrivals(seed, days);
  return [];
}

/** The multiplier the surges put on each minute's rate (1 outside them). */
function surgeFactors(surges: readonly Surge[], minutes: number): Float64Array {
  const out = new Float64Array(minutes).fill(1);
  for (const s of surges) {
    const up = s.startMinute + s.rampMinutes;
    const down = up + s.plateauMinutes;
    // Bounded by the trace's end: the last day's jobs may run past midnight.
    const set = (m: number, f: number) => {
      if (m < minutes) out[m] = f;
    };
    for (let i = 0; i < s.rampMinutes; i++)
      set(s.startMinute + i, 1 + ((s.factor - 1) * (i + 1)) / s.rampMinutes);
    for (let m = up; m < down; m++) set(m, s.factor);
    for (let i = 0; i < s.decayMinutes; i++)
      set(down + i, s.factor - ((s.factor - 1) * (i + 1)) / (s.decayMinutes + 1));
  }
  return out;
}

function generate(seed: number, k: Knobs, baseline: number[], surge: Float64Array): number[] {
  const rng = new Rng(seed);
  const out = new Array<number>(baseline.length);
  let drift = 0;
  const innovation = k.driftSigma * Math.sqrt(1 - k.driftPersistence ** 2);
  let burst = 0; // extra multiplicative factor - 1, decaying
  let burstDecayPerMin = 1;
  let nextBurst = rng.exponential(k.burstEvery);
  for (let m = 0; m < baseline.length; m++) {
    drift = k.driftPersistence * drift + innovation * rng.normal();
    if (m >= nextBurst) {
      const [lo, hi] = k.burstFactor;
      burst = Math.max(burst, lo + (hi - lo) * rng.uniform() - 1);
      burstDecayPerMin = Math.exp(-1 / Math.max(1, rng.exponential(k.burstDecay)));
      nextBurst = m + rng.exponential(k.burstEvery);
    }
    const rate = baseline[m]! * surge[m]! * Math.exp(drift + k.whiteSigma * rng.normal()) * (1 + burst);
    out[m] = rng.poisson(rate);
    burst *= burstDecayPerMin;
  }
  return out;
}

/** Throws SynthOptionsError naming the first option that cannot make a trace. */
export function checkSynthOptions(opts: SynthOptions): void {
  if (!SHAPES.includes(opts.shape))
    throw new SynthOptionsError(`shape must be one of ${SHAPES.join(', ')}, got "${String(opts.shape)}"`);
  if (!Number.isInteger(opts.days) || opts.days < 1 || opts.days > MAX_DAYS)
    throw new SynthOptionsError(`days must be a whole number from 1 to ${MAX_DAYS}, got ${opts.days}`);
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff)
    throw new SynthOptionsError(`seed must be a whole number from 0 to 4294967295, got ${opts.seed}`);
  if (opts.peak !== undefined && !(Number.isFinite(opts.peak) && opts.peak > 0 && opts.peak <= MAX_PEAK))
    throw new SynthOptionsError(
      `peak must be a positive number of requests/minute up to 1e9, got ${opts.peak}`,
    );
}

/** The trace with what made it: the noise-free baseline and the surges. */
export function synthTraceDetailed(opts: SynthOptions): SynthResult {
  checkSynthOptions(opts);
  const minutes = opts.days * DAY;
  const k = knobs(opts.shape, minutes);
  let baseline = Array.from({ length: minutes }, (_, m) => k.rate(m));
  if (opts.peak !== undefined) {
    const scale = opts.peak / baseline.reduce((a, b) => Math.max(a, b), 0);
    baseline = baseline.map((r) => r * scale);
  }
  const surges = surgesOf(opts.shape, opts.seed, opts.days);
  const requests = generate(opts.seed, k, baseline, surgeFactors(surges, minutes));
  return { requests, baseline, surges };
}

/** Requests per minute for `days` days of `shape`, the same for the same options. */
export function synthTrace(opts: SynthOptions): number[] {
  return synthTraceDetailed(opts).requests;
}

/** The `minute,requests` CSV that `tidemark simulate --trace` and the workload simulator read. */
export function traceCsv(requests: ArrayLike<number>): string {
  const lines = ['minute,requests'];
  for (let m = 0; m < requests.length; m++) lines.push(`${m},${requests[m]}`);
  return `${lines.join('\n')}\n`;
}
