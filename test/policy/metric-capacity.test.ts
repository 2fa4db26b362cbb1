// spec.metrics[].target.capacity reaches the engine parsed, beside the target it bounds
// (a number or a decimal string in the CRD; a number in MetricResult), and is absent when unset.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from '../../src/policy/engine.ts';
import type { PolicySpec } from '../../src/policy/types.ts';
import { makeSpec, ok, T0 } from './helpers.ts';

function metricsOf(target: PolicySpec['metrics'][number]['target']) {
  const spec = makeSpec({ metrics: [{ name: 'rps', query: 'q', target }] });
  return decide({ spec, state: undefined, observations: [ok('rps', 100)], currentReplicas: 2, now: T0 })
    .decision.metrics;
}

describe('metric capacity in the engine', () => {
  it('parses a decimal-string capacity next to the target value', () => {
    const [m] = metricsOf({ type: 'AverageValue', value: '50', capacity: '80.5' });
    assert.equal(m?.target, 50);
    assert.equal(m?.capacity, 80.5);
  });
  it('parses an integer capacity', () => {
    assert.equal(metricsOf({ type: 'AverageValue', value: 50, capacity: 70 })[0]?.capacity, 70);
  });
  it('leaves capacity out when the policy states none', () => {
    const [m] = metricsOf({ type: 'AverageValue', value: '50' });
    assert.equal(m !== undefined && Object.hasOwn(m, 'capacity'), false);
  });
});
