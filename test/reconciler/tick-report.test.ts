// The report step as a pure function: status, conditions and Events from
// (policy, the status written last, what the tick observed, decided and did).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../../src/policy/types.ts';
import { getCondition } from '../../src/reconciler/status.ts';
import { buildReport, type ReportInput, statusPatch } from '../../src/reconciler/tick-report.ts';
import { policy } from './helpers.ts';

const NOW = '2026-01-01T00:00:00.000Z';
const observed = { current: 4, display: 'Deployment shop/checkout', insecureTLS: false };

function decision(over: Partial<Decision> = {}): Decision {
  return {
    currentReplicas: 4,
    desiredReplicas: 6,
    proposedReplicas: 6,
    direction: 'Up',
    limitedBy: ['None'],
    reason: 'rps 300.0 vs 50/replica proposes 6',
    metrics: [{ name: 'rps', value: 300, target: 50, proposedReplicas: 6 }],
    fallbackActive: false,
    events: [],
    ...over,
  } as Decision;
}

const report = (over: Partial<ReportInput> = {}) =>
  buildReport({ policy: policy(), prev: undefined, base: undefined, nowIso: NOW, ...over });

describe('buildReport', () => {
  it('Paused: Active=False and nothing else', () => {
    const r = report({ policy: policy({ mode: 'Paused' }) });
    assert.deepEqual(
      r.status.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}`),
      ['Active=False Paused'],
    );
    assert.deepEqual(r.events, []);
    assert.equal(r.status.targetDisplay, 'Deployment/checkout');
  });

  it('a scaling action: the decision recorded, Scaled with the numbers, conditions', () => {
    const r = report({
      observed,
      decided: { decision: decision(), outcome: { kind: 'scaled', from: 4, to: 6 } },
    });
    assert.equal(r.status.currentReplicas, 6);
    assert.equal(r.status.desiredReplicas, 6);
    assert.equal(r.status.lastScaleTime, NOW);
    assert.deepEqual(
      r.status.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['4→6'],
    );
    assert.deepEqual(
      r.events.map((e) => e.reason),
      ['Scaled'],
    );
    assert.match(r.events[0]!.message, /^scaled Deployment shop\/checkout 4→6: rps 300/);
    assert.equal(getCondition(r.status, 'Ready')?.reason, 'Reconciled');
    assert.equal(getCondition(r.status, 'AbleToScale')?.reason, 'SucceededGetScale');
    assert.equal(getCondition(r.status, 'ScalingLimited')?.status, 'False');
  });

  it('a rate-limited scale: Scaled tells the action, ScaleLimited the limit, not the same sentence twice', () => {
    const reason =
      'rps 450.0 vs 50/replica proposes 9; scale-up limited to 6 by 4 pods/15s policy; scaling 4→6';
    const r = report({
      observed,
      decided: {
        decision: decision({ proposedReplicas: 9, limitedBy: ['ScaleUpRateLimit'], reason }),
        outcome: { kind: 'scaled', from: 4, to: 6 },
      },
    });
    assert.deepEqual(
      r.events.map((e) => e.reason),
      ['Scaled', 'ScaleLimited'],
    );
    const [scaled, limited] = r.events;
    assert.equal(scaled!.message, `scaled Deployment shop/checkout 4→6: ${reason}`);
    assert.ok(!limited!.message.includes(reason), `ScaleLimited repeats the decision: ${limited!.message}`);
    assert.equal(
      limited!.message,
      'ScaleUpRateLimit: 9 proposed, 6 allowed; the rest follows as the scale-up rate policies allow',
    );
  });

  it('a limit that holds the count without a scale: ScaleLimited names the limit and the numbers', () => {
    const r = report({
      observed: { ...observed, current: 6 },
      decided: {
        decision: decision({
          desiredReplicas: 6,
          proposedReplicas: 9,
          limitedBy: ['MaxReplicas'],
          reason: 'x',
        }),
        outcome: { kind: 'none' },
      },
    });
    assert.deepEqual(
      r.events.map((e) => `${e.reason}: ${e.message}`),
      ['ScaleLimited: MaxReplicas: 9 proposed, 6 allowed; spec.maxReplicas bounds the count'],
    );
  });

  it('a failed write: AbleToScale=False FailedUpdateScale, the engine state kept as it was', () => {
    const base = { engineState: { version: 1, kept: true } } as never;
    const r = report({
      base,
      observed,
      decided: {
        decision: decision(),
        outcome: { kind: 'failed', message: 'writing the scale failed: 500' },
      },
    });
    assert.equal(getCondition(r.status, 'AbleToScale')?.reason, 'FailedUpdateScale');
    assert.equal(r.status.currentReplicas, 4);
    assert.deepEqual(r.status.engineState, { version: 1, kept: true });
    assert.equal(r.status.recentDecisions, undefined);
  });

  it('DryRun: one record and one Event per distinct proposal', () => {
    const first = report({ observed, decided: { decision: decision(), outcome: { kind: 'dry-run' } } });
    assert.deepEqual(
      first.events.map((e) => e.reason),
      ['DryRunDecision'],
    );
    const again = report({
      prev: first.status,
      base: first.status,
      observed,
      decided: { decision: decision(), outcome: { kind: 'dry-run' } },
    });
    assert.deepEqual(again.events, []);
    assert.equal(again.status.recentDecisions?.length, 1);
  });

  it('AmbiguousTarget: AbleToScale and Ready False naming the owner, one Warning per transition', () => {
    const stop = { reason: 'AmbiguousTarget' as const, message: 'also scaled by ScalingPolicy shop/first' };
    const r = report({ observed, stop });
    const able = getCondition(r.status, 'AbleToScale');
    assert.equal(able?.status, 'False');
    assert.equal(able?.reason, 'AmbiguousTarget');
    assert.equal(getCondition(r.status, 'Ready')?.reason, 'AmbiguousTarget');
    assert.deepEqual(
      r.events.map((e) => `${e.type} ${e.reason}`),
      ['Warning AmbiguousTarget'],
    );
    const again = report({ prev: r.status, base: r.status, observed, stop });
    assert.deepEqual(again.events, []);
  });

  it('TargetFound after TargetNotFound; InvalidPolicy once per message', () => {
    const gone = report({
      stop: { reason: 'TargetNotFound', message: 'target Deployment shop/checkout not found' },
    });
    const back = report({
      prev: gone.status,
      base: gone.status,
      observed,
      decided: { decision: decision(), outcome: { kind: 'none' } },
    });
    assert.deepEqual(
      back.events.map((e) => e.reason),
      ['TargetFound'],
    );
    const bad = report({ stop: { reason: 'InvalidPolicy', message: 'not allowed' } });
    assert.equal(bad.events.length, 1);
    assert.equal(
      report({ prev: bad.status, stop: { reason: 'InvalidPolicy', message: 'not allowed' } }).events.length,
      0,
    );
  });

  it('every metric failing: Ready=False MetricsUnavailable and a MetricError', () => {
    const failing = decision({
      desiredReplicas: 4,
      direction: 'None',
      metrics: [{ name: 'rps', target: 50, error: { kind: 'timeout', message: 'after 5s' } }],
    } as Partial<Decision>);
    const r = report({ observed, decided: { decision: failing, outcome: { kind: 'none' } } });
    assert.equal(getCondition(r.status, 'Ready')?.reason, 'MetricsUnavailable');
    assert.deepEqual(
      r.events.map((e) => e.reason),
      ['MetricError'],
    );
  });
});

describe('statusPatch', () => {
  it('carries only what changed, null for what went away', () => {
    assert.deepEqual(
      statusPatch({ currentReplicas: 4, desiredReplicas: 4, forecast: { replicas: 3 } } as never, {
        currentReplicas: 6,
        desiredReplicas: 4,
      }),
      { currentReplicas: 6, forecast: null },
    );
    assert.deepEqual(statusPatch({ currentReplicas: 4 }, { currentReplicas: 4 }), {});
  });
});
