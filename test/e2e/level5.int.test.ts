// End-to-end Level 5: one real operator process against the sandbox. The forecast shows in
// the status (standing aside on a fresh workload's short history; ready at once on a metric
// whose history Prometheus already has); Level 5 acts through the shadow gate on a repeating
// load it learns (the target scales up ahead of each rise) and stands aside on a load where it
// gains nothing (the target gets the HPA's count), both shown in the status and /metrics; and
// an anomalous drop to zero raises AnomalyDetected, holds the replicas for the confirmation
// ticks, and clears.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import {
  kubectl,
  NO_SANDBOX,
  promQuery,
  sandboxAvailable,
  waitEstablished,
  waitFor,
} from '../support/sandbox.ts';
import {
  apply,
  condition,
  createNamespace,
  deleteNamespace,
  deployment,
  events,
  getPolicy,
  hasEvent,
  holdsReplicas,
  OperatorProcess,
  offeredQuery,
  REPO,
  replicas,
  scalingPolicy,
  setLoad,
  waitForReady,
  waitForReplicas,
} from './support.ts';

const RUN = `l5-${Date.now().toString(36)}`;
const ns = (s: string) => `${RUN}-${s}`;
const SCENARIOS = ['short', 'ready', 'acting', 'aside', 'confirmed', 'transient'] as const;
const skip = sandboxAvailable() ? false : NO_SANDBOX;
/**
 * A metric Prometheus can answer for any past time: a sine with a 4-minute season, held
 * constant within each minute (the forecaster's step), so a live tick sees exactly the value
 * the history had for its minute.
 */
const SINE = '20 + 10 * sin(2 * pi() * floor(vector(time()) / 60) / 4)';
const sineAt = (ms: number) => 20 + 10 * Math.sin((2 * Math.PI * Math.floor(ms / 60_000)) / 4);

/** A workload on the SINE metric (target 10) with predictive on, its history in Prometheus. */
async function applySine(n: string, predictive: Record<string, unknown>): Promise<void> {
  await apply([
    deployment(n, 'web', 1, 10),
    scalingPolicy(n, 'web', {
      metrics: [{ name: 'sine', query: SINE, target: { type: 'AverageValue', value: '10' } }],
      predictive: { enabled: true, seasonPeriod: '4m', history: '30m', ...predictive },
    }),
  ]);
}

/**
 * A square wave Prometheus can answer for any past time, so the forecaster loads its history at
 * once: 150 for two minutes of every four, else 30 (target 10: 15 replicas, then 3). `shift`
 * (0 to 3 minutes) places the rises, so a test can start shortly before one; past and future
 * are the same query's, so the history the forecaster learns is the load it is scored on.
 */
const square = (shift: number) => `30 + 120 * ((floor(vector(time()) / 60) + ${shift}) % 4 < bool 2)`;
const squareAt = (ms: number, shift: number) => ((Math.floor(ms / 60_000) + shift) % 4 < 2 ? 150 : 30);

/** The shift that puts a rise at the first minute boundary at least `ms` from now, and that rise. */
function riseIn(ms: number): { shift: number; rise: number } {
  const m = Math.ceil((Date.now() + ms) / 60_000);
  return { shift: (4 - (m % 4)) % 4, rise: m * 60_000 };
}

/**
 * Pods ready 30 s after they start; with the controllers' chain before that (a few seconds
 * here, more on a loaded machine) the 40 s from a scale request to ready that the policy states
 * (podStartupSeconds), so the shadow paths are modelled as the target behaves.
 */
const POD_READY = '30s';

/**
 * The policy on the square wave. The reactive path misses each rise for a start-up time (about
 * 21 ticks of 2 s); a forecast one lead (40 s + a tick) ahead raises the replicas in time for
 * about 12 × 42 replica-seconds, far less than one miss tick at the exchange rate (900), so
 * Level 5 passes the gate at the first rise it is scored on. The whole rise is one step (3 → 15:
 * 20 pods per 15 s), or the default rate limits (4 pods or 100 % per 15 s) would spend 30 s of
 * the lead on the ramp; the 30 s scale-down window brings both paths down in each low stretch,
 * 48 s before Level 5 raises them again.
 */
function squarePolicy(query: string): Record<string, unknown> & { metrics: unknown[] } {
  return {
    maxReplicas: 20,
    metrics: [{ name: 'sq', query, target: { type: 'AverageValue', value: '10' } }],
    behavior: {
      scaleUp: { policies: [{ type: 'Pods', value: 20, periodSeconds: 15 }] },
      scaleDown: { stabilizationWindowSeconds: 30 },
    },
    predictive: {
      enabled: true,
      seasonPeriod: '4m',
      history: '30m',
      evaluationWindowSeconds: 600,
      podStartupSeconds: 40,
      missCostReplicaSeconds: 900,
    },
  };
}

async function policyWhen(
  n: string,
  what: string,
  ok: (p: ScalingPolicy) => boolean,
  timeoutMs = 30_000,
): Promise<ScalingPolicy> {
  return waitFor(
    async () => {
      const p = await getPolicy(n, 'web');
      return p && ok(p) ? p : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `${n}/web: ${what}` },
  );
}

// The acting scenario is the long one (about five minutes): the pods' start-up, a minute or two
// to the first rise, where Level 5 earns the gate, then one 4-minute season to the next rise.
describe('Level 5 end to end', { skip, concurrency: true }, () => {
  let op: OperatorProcess;

  before(async () => {
    await kubectl(['apply', '-f', join(REPO, 'crds')]);
    await waitEstablished();
    await Promise.all(SCENARIOS.map((s) => createNamespace(ns(s))));
    op = await OperatorProcess.start('level5', [
      '--namespaces',
      SCENARIOS.map(ns).join(','),
      '--lease-name',
      `${RUN}-l5`,
    ]);
    await waitFor(() => op.isLeader(), { timeoutMs: 20_000, what: 'the operator to lead' });
  });

  after(async () => {
    if (op) {
      const exit = await op.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: graceful exit 0');
    }
    if (!process.env.TIDEMARK_E2E_KEEP) await Promise.all(SCENARIOS.map((s) => deleteNamespace(ns(s))));
  });

  it('forecast on a fresh workload: standing aside, and status, condition and Event say why', async () => {
    const n = ns('short');
    await apply([deployment(n, 'web', 1, 120)]);
    // Let Prometheus have the series first, so the history load finds the little there is.
    await waitFor(async () => (await promQuery(offeredQuery(n, 'web'))).length === 1, {
      timeoutMs: 30_000,
      what: 'the offered load in Prometheus',
    });
    await apply([
      scalingPolicy(n, 'web', {
        metrics: [
          { name: 'rps', query: offeredQuery(n, 'web'), target: { type: 'AverageValue', value: '50' } },
        ],
        predictive: { enabled: true, seasonPeriod: '1h', history: '1h' },
      }),
    ]);
    const p = await policyWhen(n, 'status.forecast', (p) => p.status?.forecast !== undefined);
    const f = p.status!.forecast!;
    assert.equal(f.standingAside, true, JSON.stringify(f));
    assert.equal(f.model, 'holt-winters');
    assert.ok(f.at && Date.parse(f.at) > Date.now(), `forecast for a future time: ${f.at}`);
    const c = condition(p, 'ForecastReady');
    assert.equal(c?.status, 'False');
    assert.equal(c?.reason, 'StandingAside');
    assert.match(c?.message ?? '', /^rps: history shorter than one season: \d+[sm] of 1h seen/);
    const loaded = await hasEvent(
      n,
      'web',
      'ForecastHistoryLoaded',
      /^forecast history of rps loaded: \d+ points/,
    );
    assert.equal(loaded.type, 'Normal');
    await hasEvent(n, 'web', 'ForecastStandingAside', /history shorter than one season/);
    // Standing aside changes nothing: the reactive decision alone (120 rps at 50/replica).
    await waitForReplicas(n, 'web', 3, 30_000);
    assert.equal(condition(await getPolicy(n, 'web'), 'Ready')?.status, 'True');
  });

  it('forecast with history in Prometheus: ready on the first tick, with its numbers in status and metrics', async () => {
    const n = ns('ready');
    await applySine(n, { mode: 'ForecastOnly' });
    const p = await policyWhen(n, 'a forecast', (p) => p.status?.forecast !== undefined);
    const c = condition(p, 'ForecastReady');
    // Ready from the loaded history; ForecastOnly's dry run is not scored yet, so it says so.
    assert.equal(c?.reason, 'NotBeneficial', JSON.stringify(c));
    assert.match(
      c?.message ?? '',
      /^standing aside until scored .*; ForecastOnly: sine [\d.]+ up to \+62s proposes \d+/,
    );
    const f = p.status!.forecast!;
    assert.equal(f.standingAside, false);
    const at = Date.parse(f.at!);
    // The forecast covers the whole lead horizon (now .. now+62s, see "up to" above):
    // its value is the sine's highest point over that stretch.
    let want = Number.NEGATIVE_INFINITY;
    for (let t = at - 62_000; t <= at; t += 1_000) want = Math.max(want, sineAt(t));
    const [value, lower, upper] = [Number(f.value), Number(f.lower), Number(f.upper)];
    assert.ok(Math.abs(value - want) <= 1, `forecast ${value} up to ${f.at}, the sine's highest is ${want}`);
    assert.ok(lower <= value && value <= upper, `bounds ${lower} ≤ ${value} ≤ ${upper}`);
    assert.ok(Number.isInteger(f.replicas) && (f.replicas ?? 0) >= 1, `replicas ${f.replicas}`);
    assert.ok(Number(f.errorPercent) < 5, `error ${f.errorPercent}%`);
    const loaded = await hasEvent(n, 'web', 'ForecastHistoryLoaded');
    assert.match(loaded.message, /: 31 points over 30m/);
    // The operator's metrics carry it too.
    const labels = { namespace: n, policy: 'web', metric: 'sine' };
    const point = await waitFor(() => op.sample('tidemark_forecast_value', { ...labels, bound: 'point' }), {
      timeoutMs: 10_000,
      what: 'tidemark_forecast_value',
    });
    // Published at a tick of the last few seconds, for the sine's highest point over
    // that tick's horizon (+62 s).
    const maxOver = (from: number) => {
      let m = Number.NEGATIVE_INFINITY;
      for (let t = from; t <= from + 62_000; t += 1_000) m = Math.max(m, sineAt(t));
      return m;
    };
    const now = Date.now();
    const candidates = Array.from({ length: 16 }, (_, i) => maxOver(now - i * 1_000));
    assert.ok(
      candidates.some((m) => Math.abs(point - m) <= 1),
      `point ${point}, the sine's highest over a horizon starting in the last 15 s: ${[...new Set(candidates)]}`,
    );
    assert.ok((await op.sample('tidemark_forecast_replicas', { namespace: n, policy: 'web' })) !== undefined);
    // ForecastOnly: recorded, never acted on (the reactive proposal alone decides).
    assert.ok(!(await events(n, 'web')).some((e) => /forecast sine/.test(e.message)));
  });

  it('Level 5 acts through the gate on a load it learns: the target scales up ahead of each rise', async () => {
    const n = ns('acting');
    await apply([deployment(n, 'web', 3, 10, { readyDelay: POD_READY })]);
    await waitForReady(n, 'web', 3, 120_000);
    // Settled at the low stretch's count; the first rise comes 50 to 110 s after the policy, so
    // the shadow Level 5 path can raise ahead of it (42 s) and the reactive path misses it.
    const { shift, rise } = riseIn(50_000);
    await apply([scalingPolicy(n, 'web', squarePolicy(square(shift)))]);
    const SEASON = 240_000;
    const acting = await policyWhen(
      n,
      'Level 5 acting',
      (p) => p.status?.forecast?.evaluation?.acting === true,
      rise + SEASON - Date.now(),
    );
    const e = acting.status!.forecast!.evaluation!;
    // The gate at the exchange rate: replica-seconds + 900 × miss ticks lower than the reactive path's.
    const cost = (x: { replicaSeconds?: number; missTicks?: number } | undefined) =>
      (x?.replicaSeconds ?? 0) + 900 * (x?.missTicks ?? 0);
    assert.ok(cost(e.level5) < cost(e.reactive), JSON.stringify(e));
    assert.ok((e.level5?.missTicks ?? 0) < (e.reactive?.missTicks ?? 0), JSON.stringify(e));
    assert.equal(condition(acting, 'ForecastReady')?.reason, 'Forecasting');
    // /metrics too (set on the tick that writes the status, so it may follow by a moment).
    await waitFor(
      async () => (await op.sample('tidemark_autopilot_acting', { namespace: n, policy: 'web' })) === 1,
      { timeoutMs: 30_000, what: 'tidemark_autopilot_acting 1' },
    );
    // From the target's replicas: in a low stretch, after it came down (to 3 for the load of
    // 30), the target is raised towards the high count (15, or 14 inside the tolerance)
    // before the load rises. Reacting to the load cannot do that. The time is read after the
    // count, so a count read in a low stretch was set in it.
    let lowSeen = false;
    const ahead = await waitFor(
      async () => {
        const r = (await replicas(n, 'web')) ?? 0;
        const at = Date.now();
        if (squareAt(at, shift) === 150) {
          lowSeen = false;
          return undefined;
        }
        if (r <= 5) lowSeen = true;
        return lowSeen && r >= 12 ? { r, at } : undefined;
      },
      { timeoutMs: SEASON + 60_000, intervalMs: 500, what: `${n}/web raised ahead of a rise` },
    );
    // The decision record says why: the forecast, taken in the low stretch. The status is
    // written after the scale (seconds after on a loaded machine), so it is waited for.
    const raiseIn = (p: ScalingPolicy) =>
      p.status?.recentDecisions?.find(
        (d) => (d.from ?? 0) <= 5 && (d.to ?? 0) >= 12 && squareAt(Date.parse(d.time ?? ''), shift) === 30,
      );
    const raise = raiseIn(
      await policyWhen(n, `a decision raising to ${ahead.r} in a low stretch`, (p) => !!raiseIn(p)),
    );
    assert.match(raise?.reason ?? '', /forecast sq /, JSON.stringify(raise));
    assert.ok(Date.parse(raise?.time ?? '') <= ahead.at, JSON.stringify(raise));
    await hasEvent(n, 'web', 'Scaled', /forecast sq /);
  });

  it('Level 5 stands aside where it gains nothing: the target gets the reactive count', async () => {
    const n = ns('aside');
    await apply([deployment(n, 'web', 1, 10), scalingPolicy(n, 'web', squarePolicy('vector(50)'))]);
    const scored = await policyWhen(
      n,
      'a scored window',
      (p) => (p.status?.forecast?.evaluation?.evidenceSeconds ?? 0) >= 50,
      120_000,
    );
    const e = scored.status!.forecast!.evaluation!;
    assert.equal(e.acting, false, JSON.stringify(e));
    const c = condition(scored, 'ForecastReady');
    assert.equal(c?.reason, 'NotBeneficial', JSON.stringify(c));
    assert.match(
      c?.message ?? '',
      /^standing aside: over the last 10m, Level 5 .*replica-minutes.*the reactive path/,
    );
    // 50 at 10 per replica: the HPA's 5, held.
    await waitForReplicas(n, 'web', 5, 30_000);
    await holdsReplicas(n, 'web', 5, 10_000);
    assert.equal(await op.sample('tidemark_autopilot_acting', { namespace: n, policy: 'web' }), 0);
    for (const path of ['level5', 'reactive'])
      assert.ok(
        (await op.sample('tidemark_autopilot_score', {
          namespace: n,
          policy: 'web',
          path,
          score: 'replica_seconds',
        })) !== undefined,
        `tidemark_autopilot_score{path="${path}"}`,
      );
    assert.ok(!(await events(n, 'web')).some((ev) => /forecast sq /.test(ev.message)));
  });

  /** A workload at 200 rps on 4 replicas (50/replica), anomaly handling on, settled. */
  async function settled(n: string, confirmationTicks: number): Promise<void> {
    await apply([
      deployment(n, 'web', 1, 200),
      scalingPolicy(n, 'web', {
        metrics: [
          { name: 'rps', query: offeredQuery(n, 'web'), target: { type: 'AverageValue', value: '50' } },
        ],
        anomaly: { enabled: true, confirmationTicks },
        behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
      }),
    ]);
    await waitForReplicas(n, 'web', 4, 60_000);
    const p = await policyWhen(
      n,
      'AnomalyDetected=False',
      (p) => condition(p, 'AnomalyDetected')?.status === 'False',
    );
    assert.equal(condition(p, 'AnomalyDetected')?.reason, 'InputNormal');
    // The detector judges against a window of at least 8 accepted ticks (2 s each).
    await new Promise((r) => setTimeout(r, 20_000));
  }

  it('a drop to zero: AnomalyDetected, replicas held for the confirmation ticks, then acted on; cleared when the load returns', async () => {
    const n = ns('confirmed');
    await settled(n, 5);
    await setLoad(n, 'web', 0);
    const raised = await policyWhen(
      n,
      'AnomalyDetected=True',
      (p) => condition(p, 'AnomalyDetected')?.status === 'True',
    );
    const detectedAt = Date.now();
    const c = condition(raised, 'AnomalyDetected');
    assert.equal(c?.reason, 'InputAnomalous');
    assert.match(c?.message ?? '', /rps 0 is [\d.]+ sigmas below its median 200\.0: held \d of 5 tick/);
    assert.equal(await replicas(n, 'web'), 4, 'held at the anomaly');
    const detected = await hasEvent(n, 'web', 'AnomalyDetected', /rps fell to 0 from a median of 200/);
    assert.equal(detected.type, 'Warning');
    // Held for 5 ticks of 2 s from the first: still 4 a few seconds on.
    await holdsReplicas(n, 'web', 4, 5_000);
    await waitForReplicas(n, 'web', 1, 30_000);
    const held = Date.now() - detectedAt;
    assert.ok(held >= 5_000, `scaled down ${held} ms after the detection`);
    await hasEvent(
      n,
      'web',
      'AnomalyCleared',
      /rps drop confirmed over 5 tick\(s\) \(200\.0 → 0\): now acted on/,
    );
    const scaled = (await events(n, 'web')).find((e) => e.reason === 'Scaled' && /4→1/.test(e.message));
    assert.ok(scaled, 'a Scaled Event for the confirmed drop');
    assert.ok(
      (await op.sample('tidemark_anomalies_total', {
        namespace: n,
        policy: 'web',
        metric: 'rps',
        kind: 'dropToZero',
      })) === 1,
    );

    // The load comes back: the collapse is over.
    await setLoad(n, 'web', 200);
    const cleared = await policyWhen(
      n,
      'AnomalyDetected=False',
      (p) => condition(p, 'AnomalyDetected')?.status === 'False',
    );
    assert.equal(condition(cleared, 'AnomalyDetected')?.reason, 'InputNormal');
    await hasEvent(n, 'web', 'AnomalyCleared', /rps back from near zero: 200/);
    await waitForReplicas(n, 'web', 4, 30_000);
  });

  it('a drop to zero that recovers before confirmation is never acted on', async () => {
    const n = ns('transient');
    await settled(n, 30);
    await setLoad(n, 'web', 0);
    await policyWhen(n, 'AnomalyDetected=True', (p) => condition(p, 'AnomalyDetected')?.status === 'True');
    await hasEvent(n, 'web', 'AnomalyDetected', /rps fell to 0/);
    await holdsReplicas(n, 'web', 4, 8_000);
    await setLoad(n, 'web', 200);
    await policyWhen(n, 'AnomalyDetected=False', (p) => condition(p, 'AnomalyDetected')?.status === 'False');
    await hasEvent(n, 'web', 'AnomalyCleared', /never acted on/);
    await holdsReplicas(n, 'web', 4, 4_000);
    assert.ok(!(await events(n, 'web')).some((e) => e.reason === 'Scaled' && /4→[123]:/.test(e.message)));
  });
});
