// The simulator with Level 5 switched on by the policy: the forecast is collected for the
// plot, and a metric outage never scales Tidemark down.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTable } from '../../src/simulate/render-report.ts';
import { simulate } from '../../src/simulate/simulate.ts';
import { policySpec } from './helpers.ts';

/** A 20-minute season repeated for 3 hours: long enough for the forecaster to become ready. */
function seasonal(minutes: number): Float64Array {
  return Float64Array.from({ length: minutes }, (_, m) => 100 + 80 * Math.sin((2 * Math.PI * m) / 20));
}

describe('simulate with Level 5', () => {
  it('collects the forecast per minute it was made for when predictive is on', () => {
    const requests = seasonal(180);
    const spec = policySpec({ predictive: { enabled: true, seasonPeriod: '20m' } });
    const { series } = simulate({
      trace: { requests, firstMinute: 0 },
      traceName: 't',
      spec,
      capacity: 20,
      startupSeconds: 60,
    });
    const f = series.forecast;
    assert.ok(f, 'a forecast series');
    assert.equal(f.point.length, requests.length);
    let seen = 0;
    for (let m = 0; m < requests.length; m++) {
      if (Number.isNaN(f.point[m]!)) continue;
      seen++;
      assert.ok(f.lower[m]! <= f.point[m]! + 1e-3 && f.point[m]! <= f.upper[m]! + 1e-3, `minute ${m}`);
    }
    assert.ok(seen > 100, `forecast present for ${seen} minutes`);
    const plain = simulate({
      trace: { requests, firstMinute: 0 },
      traceName: 't',
      spec: policySpec(),
      capacity: 20,
      startupSeconds: 60,
    });
    assert.equal(plain.series.forecast, undefined);
  });

  it('reports on how many ticks the shadow evaluation let Level 5 act: some where a sharp step repeats, none with predictive off', () => {
    // A 20-minute season: 10 minutes at 300, 10 at 40. The forecast foresees each step up; the
    // reactive path meets it a start-up late, so Level 5 misses less and earns its turns.
    const requests = Float64Array.from({ length: 8 * 60 }, (_, m) => (m % 20 < 10 ? 300 : 40));
    const run = (predictive: boolean) =>
      simulate({
        trace: { requests, firstMinute: 0 },
        traceName: 't',
        spec: policySpec(
          predictive
            ? { predictive: { enabled: true, seasonPeriod: '20m', evaluationWindowSeconds: 600 } }
            : {},
        ),
        capacity: 20,
        startupSeconds: 60,
      }).report;
    const on = run(true);
    const l5 = on.extra.tidemark as { ticks: number; autopilotActingTicks?: number };
    const acting = l5.autopilotActingTicks ?? 0;
    assert.ok(acting > 0 && acting < l5.ticks, JSON.stringify(l5));
    // The table a person reads says it too.
    const line = formatTable(on)
      .split('\n')
      .find((x) => x.startsWith('Level 5 acted on'));
    assert.equal(
      line,
      `Level 5 acted on ${acting} of ${l5.ticks} ticks (${((100 * acting) / l5.ticks).toFixed(1)} %); on the others the shadow evaluation kept it aside and tidemark made the HPA-compatible decision`,
    );
    const off = run(false);
    assert.equal((off.extra.tidemark as { autopilotActingTicks?: number }).autopilotActingTicks, undefined);
    assert.doesNotMatch(formatTable(off), /Level 5 acted/);
  });

  it('makes no scale-down while the metric is missing, with every mechanism on', () => {
    const requests = Float64Array.from({ length: 120 }, (_, m) => (m < 60 ? 300 : 20));
    const spec = policySpec({
      predictive: { enabled: true, seasonPeriod: '20m' },
      anomaly: { enabled: true },
      autotune: { enabled: true },
    });
    const { report } = simulate({
      trace: { requests, firstMinute: 0 },
      traceName: 't',
      spec,
      capacity: 20,
      startupSeconds: 60,
      outages: [{ startMinute: 55, lengthMinutes: 30 }],
    });
    const downs = report.extra.scaleDownsDuringOutage as Record<string, number>;
    assert.equal(downs.tidemark, 0);
    const summary = report.extra.tidemark as { failedMetricTicks: number };
    assert.equal(summary.failedMetricTicks, 30 * 4);
  });
});
