// A seasonal forecaster for one metric: additive Holt-Winters (level, damped trend, a daily
// season and an optional weekly one) on a fixed step, with online updates and JSON state.
// Beside them it keeps candidate sub-daily seasons (by default half-hourly and hourly: jobs
// on the hour and the half hour), each a table learned on what the daily model leaves, and
// publishes the candidate with the lowest held-back error at the lead horizon, as Crane's
// predictor chooses among its estimators: a trace without such surges keeps the plain model.
//
// Why by hand: the JavaScript Holt-Winters packages fit offline on a complete, evenly spaced
// series and keep one number per step of the season (1,440 per day at one minute). Here the
// state is persisted in the ScalingPolicy status every tick, samples arrive with gaps, and
// outage samples must be skipped without breaking the recursion. So the season is a coarse
// table (144 buckets per season, 168 per week) read and updated with linear interpolation,
// and each update is robust (residuals clipped to a few mean absolute deviations, as in
// Gelper, Fried & Croux, "Robust forecasting with exponential and Holt-Winters smoothing",
// J. Forecasting 2010), so a burst moves the model by a bounded amount.
//
// Pure: every function takes `now` (epoch ms) from the caller; no clock, no randomness.
import { quantile } from 'simple-statistics';
import { fmtNumber } from '../../core/format.ts';
import type { EngineEvent } from '../../core/types.ts';
import { type HeadroomState, newHeadroom, updateHeadroom } from './headroom.ts';

export interface ForecastConfig {
  /** Samples are averaged into buckets of this many seconds; the model steps once per bucket. */
  stepSeconds: number;
  /** The (daily) season's length in seconds. */
  seasonSeconds: number;
  /** Also model a weekly season (7 × seasonSeconds) on top of the daily one. */
  weekly: boolean;
  /** How far ahead the forecast looks (pod start-up + one polling interval). */
  leadSeconds: number;
  /**
   * How far the metric trails the load it measures (a rate over a range window reports the
   * window's mean, about half the window old, read up to a scrape interval late). The model
   * learns the metric, so a forecast of the load `leadSeconds` ahead is a forecast of the
   * metric `leadSeconds + lagSeconds` ahead. Default 0.
   */
  lagSeconds?: number;
  /**
   * 'point' (default): the forecast is the model at now + lead (+ lag). 'max': the highest the
   * model goes from now to then, for sizing replicas that must serve the whole stretch until a
   * replacement could be ready (a scale-down acts at once, a scale-up only after start-up).
   */
  horizon?: 'point' | 'max';
  /** Stand aside while the recent error is above this. */
  maxErrorPercent: number;
  /**
   * The share of checked forecasts the load may exceed the forecast plus headroom (0.05 = 5 %):
   * the headroom is calibrated online towards it (headroom.ts). Default 0.05.
   */
  missBudget?: number;
  /**
   * Time constant of the level's exponential smoothing. Expressed in time rather than as a
   * per-step alpha so the behaviour does not change with the step. Default 300 s.
   */
  levelTimeConstantSeconds?: number;
  /** Share of the gap between the seasonal table and the data closed per season. Default 0.2. */
  seasonAdaptPerCycle?: number;
  /** Half-life of the exponentially weighted error. Default 2 h. */
  errorHalfLifeSeconds?: number;
  /** Stand aside when nothing was learned for this long. Default season / 24, at least 15 min. */
  maxGapSeconds?: number;
  /** Checked forecasts needed before the error means anything. Default 10. */
  minCheckedForecasts?: number;
  /**
   * Periods (seconds) of the candidate sub-daily seasons, each tried on top of the daily (and
   * weekly) model and used only while its held-back error beats the others'. Periods shorter
   * than four steps or not dividing the season are left out. Default [1800, 3600]; [] for none.
   */
  subSeasonsSeconds?: number[];
}

/** A candidate sub-daily season: offsets learned on the daily model's residual, and its error. */
export interface SubSeasonState {
  /** Period in seconds. */
  p: number;
  /** One offset per step of the period. */
  t: number[];
  /** Exponentially weighted |actual − forecast| at the lead horizon with this season added. */
  e: number;
}

/** JSON-serialisable model state; arrays are plain numbers so it persists in the CR status. */
export interface ForecastState {
  /** The config shape this state belongs to (step/season/weekly); a mismatch starts afresh. */
  key: string;
  /** First and last step index learned (index = floor(epoch seconds / step)). */
  firstIdx?: number;
  lastIdx?: number;
  /** The bucket being filled: [step index, sum, count]. */
  open?: [number, number, number];
  /** First-season accumulation per daily bucket, until the model is initialised. */
  warmSum?: number[];
  warmN?: number[];
  level: number;
  trend: number;
  /** A level with a week's time constant, the reference the weekly table learns against. */
  slowLevel?: number;
  /** Daily seasonal offsets (empty until initialised) and weekly ones (empty unless weekly). */
  daily: number[];
  weekly: number[];
  /**
   * Forecasts waiting for their actual: [target step index, forecast published, then (when
   * sub-daily candidates are kept) the plain model's and each candidate's, in `sub` order].
   */
  pending: Array<[number, number, ...number[]]>;
  /** Recent lead-time errors (actual − forecast), oldest first, for the bounds. */
  errs: number[];
  /** The 0.1 and 0.9 quantiles of errs, kept with them so a tick need not sort them. */
  errQ?: [number, number];
  /** The headroom calibrated on errs towards the miss budget (headroom.ts). */
  hr?: HeadroomState;
  ewAbsErr: number;
  ewAbsActual: number;
  checked: number;
  /** Mean absolute one-step residual: the scale for clipping and the outage guard. */
  resid: number;
  learned: number;
  skipped: number;
  outageSteps: number;
  /** Last published readiness ('ready' or the stand-aside category), for transition events. */
  published?: string;
  /** Candidate sub-daily seasons (absent in states from before they existed: added when learning). */
  sub?: SubSeasonState[];
  /** The plain model's held-back error, on the same forecasts as the candidates'. */
  baseErr?: number;
  /** Forecasts the candidates have been scored on. */
  subChecked?: number;
  /** The period of the candidate in use; 0 or absent: the plain model. */
  pick?: number;
}

export interface ForecastPoint {
  value: number;
  lower: number;
  upper: number;
}

export interface ForecastResult {
  ready: boolean;
  /** Why the forecaster stands aside, when it does. */
  standAsideReason?: string;
  /** epoch ms the forecast is for (now + lead). */
  at: number;
  /** The forecast at `at`, once the model is initialised (also while standing aside, for status). */
  forecast?: ForecastPoint;
  /** The model's estimate for now, with bounds: lets a caller see the forecast is wrong right now. */
  nowcast?: ForecastPoint;
  /** Recent error: exponentially weighted sum |actual − forecast| over sum |actual|, in percent. */
  errorPercent?: number;
  checked: number;
  /** What to add to the forecast to meet the miss budget, in the metric's units (0 until calibrated). */
  headroom: number;
  /** The sub-daily season in use (seconds), when one beats the plain model on held-back error. */
  subSeasonSeconds?: number;
}

export interface ForecastInput {
  /** This tick's value; undefined when the metric has none. */
  value?: number;
  /** False for samples flagged anomalous or missing: they are not learned. */
  trusted: boolean;
}

export interface StageOutput<R, S> {
  result: R;
  state: S;
  events: EngineEvent[];
}

const DAILY_BUCKETS = 144;
const WEEKLY_BUCKETS = 168;
const DAMPING = 0.9;
const TREND_RATE = 0.02;
const ERR_RING = 120;
/** Learned steps before the residual scale is trusted for clipping and the outage guard. */
const SCALE_WARMUP = 30;
/** Residuals are clipped at this many (mean-absolute-deviation based) sigmas. */
const CLIP_SIGMAS = 3;
/**
 * A value at most OUTAGE_FRACTION × forecast, while the forecast sits at least this many
 * sigmas above zero, is an outage: the model was sure of real load and saw next to none.
 */
const OUTAGE_SIGMAS = 3;
/** After this many seasons without anything learned, the old pattern is stale: start afresh. */
const STALE_SEASONS = 7;
const OUTAGE_FRACTION = 0.1;
/** Mean absolute deviation × 1.25 ≈ standard deviation for a normal distribution. */
const MAD_TO_SIGMA = 1.25;
const DEFAULT_SUB_SEASONS = [1800, 3600];
/**
 * Share of the gap a sub-daily table closes per day. Faster than the daily table's 0.2 per
 * cycle because a surge pattern should be in use within days; each cell still averages about
 * 2 / (1 − 0.5^(period/day)) cycles (70 for an hour), so it does not learn one hour's noise.
 */
const SUB_ADAPT_PER_DAY = 0.5;
/** A candidate replaces the one in use only when its held-back error is this much lower. */
const SWITCH_MARGIN = 0.95;

interface Resolved {
  step: number;
  season: number;
  weekly: boolean;
  lead: number;
  maxError: number;
  alpha: number;
  gammaDaily: number;
  gammaWeekly: number;
  errRate: number;
  residRate: number;
  slowRate: number;
  maxGap: number;
  minChecked: number;
  nDaily: number;
  nWeekly: number;
  /** Steps ahead of the last learned step the scored forecasts look (lead + lag). */
  horizon: number;
  lag: number;
  horizonMax: boolean;
  missBudget: number;
  /** Candidate sub-daily periods (seconds) and their per-step adaptation rates. */
  subPeriods: number[];
  subRates: number[];
  /** Per-step rate of the candidates' error average (a day's half-life: choosing needs many hours). */
  subErrRate: number;
}

/** The candidate periods that fit: at least four steps, dividing the season, shorter than it. */
export function subSeasonPeriods(cfg: ForecastConfig, step: number, season: number): number[] {
  const periods = cfg.subSeasonsSeconds ?? DEFAULT_SUB_SEASONS;
  return [...new Set(periods)]
    .filter((p) => p >= 4 * step && p < season && season % p === 0 && p % step === 0)
    .sort((a, b) => a - b);
}

function resolve(cfg: ForecastConfig): Resolved {
  const step = Math.max(1, cfg.stepSeconds);
  const season = Math.max(step * 2, cfg.seasonSeconds);
  const nDaily = Math.max(2, Math.min(DAILY_BUCKETS, Math.floor(season / step)));
  const nWeekly = cfg.weekly ? Math.max(2, Math.min(WEEKLY_BUCKETS, Math.floor((7 * season) / step))) : 0;
  const adapt = cfg.seasonAdaptPerCycle ?? 0.2;
  // Each step hands a total weight of 1 to the table, so a bucket gets about
  // (bucket length / step) weight per cycle; pick the per-weight rate that closes `adapt`
  // of the gap per cycle.
  const perCycleRate = (buckets: number, period: number) => 1 - (1 - adapt) ** (step / (period / buckets));
  return {
    step,
    season,
    weekly: cfg.weekly,
    lead: Math.max(0, cfg.leadSeconds),
    maxError: cfg.maxErrorPercent,
    alpha: 1 - Math.exp(-step / (cfg.levelTimeConstantSeconds ?? 300)),
    gammaDaily: perCycleRate(nDaily, season),
    // A week comes round seven times more slowly than a day, so it adapts faster per cycle
    // (half the gap per week) or a few weeks of history would teach it next to nothing.
    gammaWeekly: nWeekly > 0 ? 1 - 0.5 ** (step / ((7 * season) / nWeekly)) : 0,
    errRate: 1 - 2 ** (-step / (cfg.errorHalfLifeSeconds ?? 7200)),
    residRate: 1 - 2 ** (-step / 3600),
    slowRate: step / (7 * season),
    maxGap: cfg.maxGapSeconds ?? Math.max(900, season / 24),
    minChecked: cfg.minCheckedForecasts ?? 10,
    nDaily,
    nWeekly,
    horizon: Math.max(
      1,
      Math.round((Math.max(0, cfg.leadSeconds) + Math.max(0, cfg.lagSeconds ?? 0)) / step),
    ),
    lag: Math.max(0, cfg.lagSeconds ?? 0),
    horizonMax: cfg.horizon === 'max',
    missBudget: cfg.missBudget ?? 0.05,
    ...subResolved(cfg, step, season),
  };
}

function subResolved(cfg: ForecastConfig, step: number, season: number) {
  const subPeriods = subSeasonPeriods(cfg, step, season);
  return {
    subPeriods,
    // Each cell is updated once per cycle; this rate closes SUB_ADAPT_PER_DAY of the gap per season.
    subRates: subPeriods.map((p) => 1 - (1 - SUB_ADAPT_PER_DAY) ** (p / season)),
    subErrRate: 1 - 2 ** (-step / season),
  };
}

function keyOf(r: Resolved): string {
  return `${r.step}/${r.season}/${r.weekly ? 'w' : '-'}`;
}

export function newForecastState(cfg: ForecastConfig): ForecastState {
  return newForecastStateFor(resolve(cfg));
}

function newForecastStateFor(r: Resolved): ForecastState {
  return {
    key: keyOf(r),
    level: 0,
    trend: 0,
    daily: [],
    weekly: [],
    pending: [],
    errs: [],
    ewAbsErr: 0,
    ewAbsActual: 0,
    checked: 0,
    resid: 0,
    learned: 0,
    skipped: 0,
    outageSteps: 0,
  };
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** The two table cells around time t (seconds) and the weight of the second. */
function cells(n: number, period: number, t: number): [number, number, number] {
  const x = (mod(t, period) / period) * n - 0.5;
  const f = Math.floor(x);
  return [mod(f, n), mod(f + 1, n), x - f];
}

function readTable(table: number[], period: number, t: number): number {
  if (table.length === 0) return 0;
  const [i0, i1, w1] = cells(table.length, period, t);
  return (table[i0] as number) * (1 - w1) + (table[i1] as number) * w1;
}

function nudgeTable(table: number[], period: number, t: number, rate: number, err: number): void {
  if (table.length === 0) return;
  const [i0, i1, w1] = cells(table.length, period, t);
  table[i0] = (table[i0] as number) + rate * (1 - w1) * err;
  table[i1] = (table[i1] as number) + rate * w1 * err;
}

/** Sum of DAMPING^i for i = 1..d: how many trend steps a damped trend adds over d steps. */
function dampedSteps(d: number): number {
  return (DAMPING * (1 - DAMPING ** d)) / (1 - DAMPING);
}

/** Middle of step idx, in seconds: the time the season is read at. */
function stepTime(r: Resolved, idx: number): number {
  return (idx + 0.5) * r.step;
}

function seasonal(r: Resolved, s: ForecastState, idx: number): number {
  const t = stepTime(r, idx);
  return readTable(s.daily, r.season, t) + readTable(s.weekly, 7 * r.season, t);
}

function pointAt(r: Resolved, s: ForecastState, idx: number): number {
  const d = Math.max(0, idx - (s.lastIdx as number));
  return s.level + dampedSteps(d) * s.trend + seasonal(r, s, idx);
}

/** The sub-daily offset of the candidate in use at step idx (0 for the plain model). */
function subOffset(r: Resolved, s: ForecastState, idx: number): number {
  if (!s.pick || !s.sub) return 0;
  const c = s.sub.find((x) => x.p === s.pick);
  return c ? readTable(c.t, c.p, stepTime(r, idx)) : 0;
}

/** The forecast published for step idx: the plain model plus the chosen sub-daily season. */
function publishedAt(r: Resolved, s: ForecastState, idx: number): number {
  return pointAt(r, s, idx) + subOffset(r, s, idx);
}

/** Candidate tables for the configured periods: kept when present, fresh (zeros) when not. */
function ensureSub(r: Resolved, s: ForecastState): void {
  const have = s.sub ?? [];
  if (have.length === r.subPeriods.length && have.every((c, i) => c.p === r.subPeriods[i])) return;
  s.sub = r.subPeriods.map(
    (p) => have.find((c) => c.p === p) ?? { p, t: new Array(p / r.step).fill(0), e: 0 },
  );
  if (s.pick && !r.subPeriods.includes(s.pick)) s.pick = 0;
}

function initialised(s: ForecastState): boolean {
  return s.daily.length > 0;
}

function initialiseFromWarmup(r: Resolved, s: ForecastState): void {
  const sums = s.warmSum as number[];
  const ns = s.warmN as number[];
  const means: Array<number | undefined> = sums.map((sum, i) =>
    (ns[i] as number) > 0 ? sum / (ns[i] as number) : undefined,
  );
  const known = means.filter((m): m is number => m !== undefined);
  const level = known.reduce((a, b) => a + b, 0) / known.length;
  // Buckets never seen (gaps in the first season) take the nearest seen neighbour's value.
  const filled = means.map((m, i) => {
    if (m !== undefined) return m;
    for (let k = 1; k < means.length; k++) {
      const v = means[mod(i - k, means.length)] ?? means[mod(i + k, means.length)];
      if (v !== undefined) return v;
    }
    return level;
  });
  s.level = level;
  s.trend = 0;
  s.daily = filled.map((m) => m - level);
  s.weekly = new Array(r.nWeekly).fill(0);
  delete s.warmSum;
  delete s.warmN;
}

/** Scores the forecast made `horizon` steps ago for this step: the error, its bounds and the headroom. */
function score(r: Resolved, s: ForecastState, y: number, forecast: number): void {
  const err = y - forecast;
  s.checked++;
  const rate = Math.max(r.errRate, 1 / s.checked);
  s.ewAbsErr += rate * (Math.abs(err) - s.ewAbsErr);
  s.ewAbsActual += rate * (Math.abs(y) - s.ewAbsActual);
  s.errs.push(err);
  if (s.errs.length > ERR_RING) s.errs.splice(0, s.errs.length - ERR_RING);
  if (s.errs.length >= 10) s.errQ = [quantile(s.errs, 0.1), quantile(s.errs, 0.9)];
  else delete s.errQ;
  s.hr = updateHeadroom(s.hr ?? newHeadroom(r.missBudget), r.missBudget, err, s.errs);
}

/**
 * Scores the plain model and each candidate on the same due forecast, and picks the one with
 * the lowest error: another candidate replaces the one in use only when clearly better, so a
 * tie does not make the forecast switch back and forth.
 */
function scoreCandidates(r: Resolved, s: ForecastState, y: number, due: readonly number[]): void {
  const sub = s.sub ?? [];
  if (due.length !== 3 + sub.length) return;
  const n = (s.subChecked ?? 0) + 1;
  s.subChecked = n;
  const rate = Math.max(r.subErrRate, 1 / n);
  const base = s.baseErr ?? 0;
  s.baseErr = base + rate * (Math.abs(y - (due[2] as number)) - base);
  for (const [i, c] of sub.entries()) c.e += rate * (Math.abs(y - (due[3 + i] as number)) - c.e);
  if (n < r.minChecked) return;
  const errOf = (p: number) =>
    p === 0 ? (s.baseErr as number) : (sub.find((c) => c.p === p)?.e ?? Infinity);
  const best = [0, ...sub.map((c) => c.p)].reduce((a, b) => (errOf(b) < errOf(a) ? b : a));
  if (errOf(best) < SWITCH_MARGIN * errOf(s.pick ?? 0)) s.pick = best;
}

/** Nudges each candidate table towards what the daily model (and the other tables' absence) leaves at t. */
function learnSub(
  r: Resolved,
  s: ForecastState,
  t: number,
  residual: number,
  sigma: number | undefined,
): void {
  for (const [i, c] of (s.sub ?? []).entries()) {
    const own = residual - readTable(c.t, c.p, t);
    // Clipped on its own residual, so a recurring surge is learned in full (its residual
    // shrinks as the table learns it) while a one-off burst moves a cell by a bounded amount.
    const clipped =
      sigma === undefined ? own : Math.max(-CLIP_SIGMAS * sigma, Math.min(CLIP_SIGMAS * sigma, own));
    nudgeTable(c.t, c.p, t, r.subRates[i] as number, clipped);
  }
}

/** The pending entry for step idx: the published forecast, the plain model's and each candidate's. */
function pendingFor(r: Resolved, s: ForecastState, idx: number): [number, number, ...number[]] {
  const base = pointAt(r, s, idx);
  const published = Math.max(0, publishedAt(r, s, idx));
  const sub = s.sub ?? [];
  if (sub.length === 0) return [idx, published];
  const t = stepTime(r, idx);
  return [idx, published, Math.max(0, base), ...sub.map((c) => Math.max(0, base + readTable(c.t, c.p, t)))];
}

/** Learn one closed bucket. Mutates s (callers pass a private copy). */
function learn(r: Resolved, s: ForecastState, idx: number, y: number): void {
  if (!initialised(s)) {
    if (s.firstIdx === undefined) {
      s.firstIdx = idx;
      s.warmSum = new Array(r.nDaily).fill(0);
      s.warmN = new Array(r.nDaily).fill(0);
    }
    const b = Math.min(r.nDaily - 1, Math.floor((mod(stepTime(r, idx), r.season) / r.season) * r.nDaily));
    (s.warmSum as number[])[b] = ((s.warmSum as number[])[b] as number) + y;
    (s.warmN as number[])[b] = ((s.warmN as number[])[b] as number) + 1;
    s.lastIdx = idx;
    s.learned++;
    if ((idx - s.firstIdx + 1) * r.step >= r.season) initialiseFromWarmup(r, s);
    return;
  }
  const last = s.lastIdx as number;
  const d = idx - last;
  if (d <= 0) return;
  if (d * r.step > STALE_SEASONS * r.season) {
    // A week of silence (or of collapse): whatever comes now is a new regime.
    const keep = {
      skipped: s.skipped,
      outageSteps: s.outageSteps,
      ...(s.published === undefined ? {} : { published: s.published }),
    };
    for (const k of Object.keys(s)) delete (s as unknown as Record<string, unknown>)[k];
    Object.assign(s, newForecastStateFor(r), keep);
    learn(r, s, idx, y);
    return;
  }
  const levelPrior = s.level + dampedSteps(d) * s.trend;
  const trendPrior = DAMPING ** d * s.trend;
  const t = stepTime(r, idx);
  const sd = readTable(s.daily, r.season, t);
  const sw = readTable(s.weekly, 7 * r.season, t);
  const yhat = levelPrior + sd + sw;
  const sigma = s.resid * MAD_TO_SIGMA;
  const scaleKnown = s.learned >= SCALE_WARMUP && sigma > 0;

  // A collapse far below anything the model has seen (an outage's zeros) is not a pattern.
  // Pending forecasts are in target order: the ones due now or missed are at the front.
  let due: [number, number, ...number[]] | undefined;
  while (s.pending.length > 0 && s.pending[0]![0] <= idx) {
    const p = s.pending.shift() as [number, number, ...number[]];
    if (p[0] === idx) due = p;
  }
  if (scaleKnown && yhat >= OUTAGE_SIGMAS * sigma && y <= OUTAGE_FRACTION * yhat) {
    s.outageSteps++;
    return;
  }

  if (due) {
    score(r, s, y, due[1]);
    scoreCandidates(r, s, y, due);
  }

  const residual = y - yhat;
  const clipped = scaleKnown
    ? Math.max(-CLIP_SIGMAS * sigma, Math.min(CLIP_SIGMAS * sigma, residual))
    : residual;
  const yc = yhat + clipped;
  ensureSub(r, s);
  learnSub(r, s, t, residual, scaleKnown ? sigma : undefined);
  const level = r.alpha * (yc - sd - sw) + (1 - r.alpha) * levelPrior;
  s.trend = TREND_RATE * ((level - s.level) / d) + (1 - TREND_RATE) * trendPrior;
  s.level = level;
  nudgeTable(s.daily, r.season, t, r.gammaDaily, yc - level - sw - sd);
  if (r.nWeekly > 0) {
    // The fast level soaks up a weekend within minutes, so the weekly table would never see
    // it; it learns against a slow level (a week's time constant) instead.
    const sdNew = readTable(s.daily, r.season, t);
    const slowPrior = s.slowLevel ?? level;
    s.slowLevel = slowPrior + r.slowRate * d * (yc - sdNew - sw - slowPrior);
    nudgeTable(s.weekly, 7 * r.season, t, r.gammaWeekly, yc - s.slowLevel - sdNew - sw);
  }
  const residRate = s.learned < SCALE_WARMUP ? 1 / (s.learned + 1) : r.residRate;
  const bounded = scaleKnown ? Math.min(Math.abs(residual), 2 * CLIP_SIGMAS * sigma) : Math.abs(residual);
  s.resid += residRate * (bounded - s.resid);
  s.lastIdx = idx;
  s.learned++;
  s.pending.push(pendingFor(r, s, idx + r.horizon));
}

/**
 * A copy that shares the season tables and rings with `state`: a tick only adds to the open
 * bucket, and the arrays are copied (ownArrays) just before a closed bucket is learned, about
 * once a minute. Copying all of them every tick was most of the engine's cost in the simulator.
 */
function shallowCopy(state: ForecastState): ForecastState {
  const s = { ...state };
  if (state.open) s.open = [...state.open];
  return s;
}

function ownArrays(s: ForecastState): void {
  s.daily = s.daily.slice();
  s.weekly = s.weekly.slice();
  s.pending = s.pending.map((p) => [...p] as [number, number, ...number[]]);
  if (s.sub) s.sub = s.sub.map((c) => ({ ...c, t: c.t.slice() }));
  s.errs = s.errs.slice();
  if (s.errQ) s.errQ = [s.errQ[0], s.errQ[1]];
  if (s.warmSum) s.warmSum = s.warmSum.slice();
  if (s.warmN) s.warmN = s.warmN.slice();
}

function ingest(r: Resolved, s: ForecastState, t: number, value: number | undefined, trusted: boolean): void {
  const idx = Math.floor(t / 1000 / r.step);
  if (s.open && s.open[0] < idx) {
    ownArrays(s);
    learn(r, s, s.open[0], s.open[1] / s.open[2]);
    delete s.open;
  }
  if (value === undefined) return;
  if (!trusted || !Number.isFinite(value) || value < 0) {
    s.skipped++;
    return;
  }
  if (s.open && s.open[0] === idx) {
    s.open[1] += value;
    s.open[2]++;
  } else if (!s.open && (s.lastIdx === undefined || idx > s.lastIdx)) {
    s.open = [idx, value, 1];
  }
}

function bounds(s: ForecastState, value: number): ForecastPoint {
  let lo: number;
  let hi: number;
  if (s.errs.length >= 10) {
    const q = s.errQ ?? [quantile(s.errs, 0.1), quantile(s.errs, 0.9)];
    lo = value + q[0];
    hi = value + q[1];
  } else {
    const spread = 2 * MAD_TO_SIGMA * s.resid;
    lo = value - spread;
    hi = value + spread;
  }
  const v = Math.max(0, value);
  return { value: v, lower: Math.max(0, Math.min(lo, v)), upper: Math.max(hi, v) };
}

function errorPercent(s: ForecastState): number | undefined {
  if (s.checked === 0) return undefined;
  if (s.ewAbsActual > 0) return (100 * s.ewAbsErr) / s.ewAbsActual;
  return s.ewAbsErr > 0 ? 1000 : 0;
}

/** What the model says at `now`, and whether it should be listened to. */
export function forecastResult(cfg: ForecastConfig, state: ForecastState, now: number): ForecastResult {
  const r = resolve(cfg);
  const at = now + r.lead * 1000;
  const err = errorPercent(state);
  const base = {
    at,
    checked: state.checked,
    headroom: state.hr?.q ?? 0,
    ...(err === undefined ? {} : { errorPercent: err }),
    ...(state.pick ? { subSeasonSeconds: state.pick } : {}),
  };
  if (!initialised(state) || state.lastIdx === undefined) {
    const seen =
      state.firstIdx === undefined || state.lastIdx === undefined
        ? 0
        : (state.lastIdx - state.firstIdx + 1) * r.step;
    return {
      ...base,
      ready: false,
      standAsideReason: `history shorter than one season: ${fmtDuration(seen)} of ${fmtDuration(r.season)} seen`,
    };
  }
  const nowIdx = Math.floor(now / 1000 / r.step);
  const atIdx = Math.floor((at / 1000 + r.lag) / r.step);
  let point = publishedAt(r, state, atIdx);
  // The bounds are the error quantiles of forecasts made `horizon` steps ahead, the farthest
  // step looked at, so they are at least as wide as the nearer steps' would be.
  if (r.horizonMax) for (let i = nowIdx; i < atIdx; i++) point = Math.max(point, publishedAt(r, state, i));
  const forecast = bounds(state, point);
  const nowcast = bounds(state, publishedAt(r, state, nowIdx));
  const out = { ...base, forecast, nowcast };
  const silentFor = now / 1000 - (state.lastIdx + 1) * r.step;
  if (silentFor > r.maxGap) {
    return {
      ...out,
      ready: false,
      standAsideReason: `no usable input for ${fmtDuration(silentFor)} (missing or anomalous samples are not learned)`,
    };
  }
  if (state.checked < r.minChecked) {
    return {
      ...out,
      ready: false,
      standAsideReason: `calibrating: ${state.checked} of ${r.minChecked} forecasts checked`,
    };
  }
  if (err !== undefined && err > r.maxError) {
    return {
      ...out,
      ready: false,
      standAsideReason: `recent error ${fmtNumber(err)}% is above maxErrorPercent ${r.maxError}%`,
    };
  }
  return { ...out, ready: true };
}

function category(res: ForecastResult): string {
  if (res.ready) return 'ready';
  const reason = res.standAsideReason ?? '';
  return reason.split(/[ :]/)[0] ?? 'aside';
}

/**
 * One tick: feed this tick's value (bucketed by step), learn the bucket that closed, and
 * forecast at now + lead. Events mark changes between ready and standing aside.
 */
export function forecastStage(
  cfg: ForecastConfig,
  state: ForecastState | undefined,
  input: ForecastInput,
  now: number,
): StageOutput<ForecastResult, ForecastState> {
  const r = resolve(cfg);
  const s: ForecastState = state && state.key === keyOf(r) ? shallowCopy(state) : newForecastState(cfg);
  ingest(r, s, now, input.value, input.trusted);
  const result = forecastResult(cfg, s, now);
  const events: EngineEvent[] = [];
  const cat = category(result);
  if (cat !== s.published) {
    if (result.ready) {
      events.push({
        type: 'Normal',
        reason: 'ForecastReady',
        message: `forecast ready: recent error ${fmtNumber(result.errorPercent ?? 0)}% (max ${r.maxError}%)`,
      });
    } else {
      events.push({
        type: 'Normal',
        reason: 'ForecastStandingAside',
        message: `forecast standing aside: ${result.standAsideReason}`,
      });
    }
    s.published = cat;
  }
  return { result, state: s, events };
}

/**
 * Load history (e.g. a Prometheus range query: [epoch ms, value] pairs, with gaps) into the
 * model, oldest first. Non-finite and negative samples are skipped as missing.
 */
export function trainForecast(
  cfg: ForecastConfig,
  state: ForecastState | undefined,
  history: ReadonlyArray<readonly [number, number]>,
): ForecastState {
  const r = resolve(cfg);
  const s: ForecastState = state && state.key === keyOf(r) ? shallowCopy(state) : newForecastState(cfg);
  ownArrays(s);
  const sorted = [...history].sort((a, b) => a[0] - b[0]);
  for (const [t, v] of sorted) ingest(r, s, t, v, true);
  return s;
}

export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s % 86400 === 0 && s > 0) return `${s / 86400}d`;
  if (s >= 3600) return `${(s / 3600).toFixed(1).replace(/\.0$/, '')}h`;
  if (s >= 60) return `${Math.round(s / 60)}m`;
  return `${s}s`;
}
