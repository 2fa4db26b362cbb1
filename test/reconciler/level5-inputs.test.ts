import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyRef, RangeResult } from '../../src/collector/index.ts';
import type { Level5State } from '../../src/level5/stages.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineInput } from '../../src/policy/types.ts';
import {
  historyKey,
  historyRetryDelayMs,
  historyWindow,
  latencySpec,
  readyReplicasOf,
  wantsReadyReplicas,
} from '../../src/reconciler/level5-inputs.ts';
import { getCondition } from '../../src/reconciler/status.ts';
import { FakeCollector, harness, policy, T0 } from './helpers.ts';

const predictive = (extra: Record<string, unknown> = {}) =>
  policy({ predictive: { enabled: true, seasonPeriod: '4m', history: '30m', ...extra } });

describe('Level 5 inputs (pure parts)', () => {
  it('reads ready replicas from the target object; apps/v1 kinds omit 0', () => {
    assert.equal(readyReplicasOf('apps/v1', 'Deployment', { status: { readyReplicas: 3, replicas: 4 } }), 3);
    assert.equal(
      readyReplicasOf('apps/v1', 'Deployment', { status: { replicas: 4, observedGeneration: 2 } }),
      0,
    );
    assert.equal(readyReplicasOf('apps/v1', 'StatefulSet', { status: { replicas: 1 } }), 0);
    assert.equal(
      readyReplicasOf('apps/v1', 'Deployment', { status: {} }),
      undefined,
      'no status written yet',
    );
    assert.equal(readyReplicasOf('apps/v1', 'Deployment', {}), undefined);
    assert.equal(readyReplicasOf('example.dev/v1', 'Widget', { status: { replicas: 2 } }), undefined);
    assert.equal(readyReplicasOf('example.dev/v1', 'Widget', { status: { readyReplicas: 2 } }), 2);
    assert.equal(readyReplicasOf('apps/v1', 'Deployment', { status: { readyReplicas: -1 } }), undefined);
    assert.equal(readyReplicasOf('apps/v1', 'Deployment', { status: { readyReplicas: '2' } }), undefined);
  });

  it('reads the target object only where the ready count is used', () => {
    assert.equal(wantsReadyReplicas(policy().spec), false, 'a plain AverageValue policy costs no extra GET');
    assert.equal(wantsReadyReplicas(policy({ anomaly: { enabled: true } }).spec), true);
    assert.equal(
      wantsReadyReplicas(
        policy({ metrics: [{ name: 'q', query: 'x', target: { type: 'Value', value: '10' } }] }).spec,
      ),
      true,
    );
  });

  it('the history key changes with what the history depends on, and only then', () => {
    const base = predictive().spec;
    const k = historyKey(base, 'rps');
    assert.ok(k);
    assert.equal(historyKey(predictive().spec, 'rps'), k);
    assert.equal(historyKey(policy().spec, 'rps'), undefined, 'predictive off: nothing to load');
    assert.equal(historyKey(base, 'nope'), undefined);
    assert.notEqual(historyKey(predictive({ seasonPeriod: '8m' }).spec, 'rps'), k);
    assert.notEqual(historyKey(predictive({ history: '1h' }).spec, 'rps'), k);
    const q = predictive().spec;
    q.metrics[0]!.query = 'sum(rate(other_total[1m]))';
    assert.notEqual(historyKey(q, 'rps'), k);
    // The mode does not change what was learned.
    assert.equal(historyKey(predictive({ mode: 'Full' }).spec, 'rps'), k);
  });

  it('the history window is spec.predictive.history on the forecaster step, aligned to it', () => {
    const now = T0 + 12_345;
    const w = historyWindow(predictive().spec, now);
    assert.ok(w);
    assert.equal(w.stepSeconds, 60);
    assert.equal(w.endMs % 60_000, 0);
    assert.equal(w.startMs % 60_000, 0);
    assert.ok(w.endMs <= now && now - w.endMs < 60_000);
    assert.equal(w.endMs - w.startMs, 30 * 60_000);
    // A polling interval above a minute is the step.
    const slow = historyWindow(
      policy({ pollingIntervalSeconds: 120, predictive: { enabled: true } }).spec,
      now,
    );
    assert.equal(slow?.stepSeconds, 120);
    assert.equal(slow?.endMs - (slow?.startMs ?? 0), 7 * 86400_000, 'default history 7d');
    assert.equal(historyWindow(policy().spec, now), undefined);
  });

  it('retries a failed history load with backoff, capped', () => {
    assert.equal(historyRetryDelayMs(1), 60_000);
    assert.equal(historyRetryDelayMs(2), 120_000);
    assert.equal(historyRetryDelayMs(20), 30 * 60_000);
  });

  it('the SLO latency query goes to the policy Prometheus as a one-metric spec', () => {
    assert.equal(latencySpec(policy().spec), undefined);
    const slo = {
      metric: 'rps',
      latencyQuery: 'histogram_quantile(0.9, x)',
      objectiveSeconds: 0.2,
      minTarget: 10,
      maxTarget: 100,
    };
    const p = policy({ autotune: { enabled: true, slo } }).spec;
    const s = latencySpec(p);
    assert.deepEqual(s?.metrics, [{ name: 'rps:latency', query: 'histogram_quantile(0.9, x)' }]);
    assert.equal(s?.prometheus, p.prometheus);
    assert.equal(latencySpec(policy({ autotune: { enabled: false, slo } }).spec), undefined);
  });
});

/** A collector with history: a constant series, or a failure; records each range query. */
class HistoryCollector extends FakeCollector {
  ranges: Array<{ query: string; startMs: number; endMs: number; step: number }> = [];
  fail: string | undefined;
  latency: number | undefined;
  override async observe(ref: PolicyRef) {
    if (ref.spec.metrics[0]?.name.endsWith(':latency')) {
      this.calls++;
      return {
        insecureTLS: false,
        observations: [
          this.latency === undefined
            ? {
                name: ref.spec.metrics[0].name,
                ok: false as const,
                error: { kind: 'empty' as const, message: 'none' },
              }
            : { name: ref.spec.metrics[0].name, ok: true as const, value: this.latency },
        ],
      };
    }
    return super.observe(ref);
  }
  async queryRange(
    _ref: PolicyRef,
    query: string,
    startMs: number,
    endMs: number,
    step: number,
  ): Promise<RangeResult> {
    this.ranges.push({ query, startMs, endMs, step });
    if (this.fail) return { ok: false, error: { kind: 'timeout', message: this.fail } };
    const points: Array<[number, number]> = [];
    for (let t = startMs; t <= endMs; t += step * 1000) points.push([t, 100]);
    return { ok: true, points };
  }
}

function wired(p = predictive(), replicas = 2) {
  const collector = new HistoryCollector();
  const inputs: EngineInput[] = [];
  const h = harness(p, replicas, {
    collector,
    decide: (input) => {
      inputs.push(structuredClone(input));
      return decide(input);
    },
  });
  collector.values.rps = 100;
  return { h, collector, inputs };
}

describe('PolicyReconciler: Level 5 inputs', () => {
  it('loads the forecast history once, before the first decision, and the forecaster uses it', async () => {
    const { h, collector, inputs } = wired();
    await h.tick();
    assert.equal(collector.ranges.length, 1);
    const r = collector.ranges[0]!;
    assert.equal(r.query, 'sum(rate(http_requests_total[1m]))');
    assert.equal(r.step, 60);
    assert.equal(r.endMs - r.startMs, 30 * 60_000);
    const l5 = inputs[0]!.state?.level5 as Level5State | undefined;
    assert.ok(l5?.forecast.rps, 'the first decide() already has the trained forecaster');
    assert.ok((l5.forecast.rps.learned ?? 0) >= 25, `learned ${l5.forecast.rps.learned} steps`);
    const st = h.kube.policy!.status!;
    assert.equal(st.forecast?.standingAside, false, JSON.stringify(st.forecast));
    // The forecast is ready; Level 5 itself stands aside until the shadow evaluation scored it.
    assert.equal(getCondition(st, 'ForecastReady')?.reason, 'NotBeneficial');
    assert.ok(
      h.kube.events.some((e) => e.reason === 'ForecastHistoryLoaded' && /31 points over 30m/.test(e.message)),
    );
    for (let i = 0; i < 5; i++) await h.tick();
    assert.equal(collector.ranges.length, 1, 'not again on later ticks');
  });

  it('loads again when the query changes (a fresh model) and after a restart; not when predictive is off', async () => {
    const { h, collector } = wired();
    await h.tick();
    const p = h.kube.informerCopy();
    p.spec.metrics[0]!.query = 'sum(rate(other_total[1m]))';
    p.metadata.generation = 2;
    h.kube.setPolicy(p);
    await h.tick();
    assert.equal(collector.ranges.length, 2);
    assert.equal(collector.ranges[1]!.query, 'sum(rate(other_total[1m]))');
    h.restart();
    await h.tick();
    assert.equal(collector.ranges.length, 3, 'a new process (or leader) fills the gap from Prometheus');
    const off = h.kube.informerCopy();
    off.spec.predictive = { ...off.spec.predictive!, enabled: false };
    h.kube.setPolicy(off);
    await h.tick();
    const on = h.kube.informerCopy();
    on.spec.predictive = { ...on.spec.predictive!, enabled: true };
    h.kube.setPolicy(on);
    await h.tick();
    assert.equal(collector.ranges.length, 4, 'switched on again: loaded again');
  });

  it('a failed load: Warning Event, ForecastReady says why, retried with backoff; the tick goes on', async () => {
    const { h, collector, inputs } = wired();
    collector.fail = 'Prometheus took too long';
    const r = await h.tick(5000);
    assert.equal(r.outcome, 'decided');
    assert.equal(inputs.length, 1, 'decided without history');
    const st = h.kube.policy!.status!;
    const c = getCondition(st, 'ForecastReady');
    assert.equal(c?.status, 'False');
    assert.match(
      c?.message ?? '',
      /history shorter than one season.*could not be loaded from Prometheus \(rps: timeout: Prometheus took too long\)/,
    );
    assert.equal(st.forecast?.standingAside, true);
    assert.ok(h.kube.events.some((e) => e.type === 'Warning' && e.reason === 'ForecastHistoryUnavailable'));
    for (let i = 0; i < 11; i++) await h.tick(5000); // up to 55 s later: not yet
    assert.equal(collector.ranges.length, 1);
    collector.fail = undefined;
    await h.tick(5000); // 60 s after the failure
    assert.equal(collector.ranges.length, 2);
    const after = getCondition(h.kube.policy!.status!, 'ForecastReady');
    assert.doesNotMatch(after?.message ?? '', /could not be loaded/);
    assert.equal(after?.reason, 'NotBeneficial', 'the forecast is ready; Level 5 is still being scored');
  });

  it('no history source (a collector without queryRange): learns from live ticks, no error', async () => {
    const h = harness(predictive(), 2);
    h.collector.values.rps = 100;
    const r = await h.tick();
    assert.equal(r.outcome, 'decided');
    assert.match(
      getCondition(h.kube.policy!.status!, 'ForecastReady')?.message ?? '',
      /history shorter than one season/,
    );
  });

  it('passes readyReplicas from the target object, and leaves it out when it cannot be read', async () => {
    const { h, inputs } = wired(policy({ anomaly: { enabled: true } }), 4);
    const inner = h.kube.transport;
    let ready: number | undefined = 3;
    h.kube.transport = async (req) => {
      if (req.method === 'GET' && /\/deployments\/checkout$/.test(req.path)) {
        if (ready === undefined) throw new Error('boom');
        return { status: { replicas: 4, readyReplicas: ready, observedGeneration: 1 } };
      }
      return inner(req);
    };
    h.restart();
    await h.tick();
    assert.equal(inputs[0]!.readyReplicas, 3);
    ready = undefined;
    await h.tick();
    assert.equal('readyReplicas' in inputs[1]!, false);
    // Plain policy: no GET of the object at all.
    const plain = wired(policy(), 2);
    await plain.h.tick();
    assert.equal(plain.h.kube.count('GET', /\/deployments\/checkout$/), 0);
    assert.equal('readyReplicas' in plain.inputs[0]!, false);
  });

  it('SLO mode: the latency query is observed each tick and passed on', async () => {
    const slo = {
      metric: 'rps',
      latencyQuery: 'histogram_quantile(0.9, sum by (le) (rate(lat_bucket[1m])))',
      objectiveSeconds: 0.2,
      minTarget: 10,
      maxTarget: 100,
    };
    const { h, collector, inputs } = wired(policy({ autotune: { enabled: true, slo } }), 2);
    collector.latency = 0.15;
    await h.tick();
    assert.equal(inputs[0]!.latencySeconds, 0.15);
    collector.latency = undefined;
    await h.tick();
    assert.equal('latencySeconds' in inputs[1]!, false, 'a failed latency query is left out');
    assert.ok(h.kube.policy!.status!.tuned, 'autotune reports');
  });
});
