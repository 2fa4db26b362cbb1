import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  forecastLeadSeconds,
  metricLagSeconds,
  queryLagSeconds,
  rangeWindowSeconds,
} from '../../../src/level5/forecast/lag.ts';

describe('the metric lag and the forecast lead', () => {
  it('reads the range window of a query: [1m] trails by 30 s', () => {
    assert.equal(rangeWindowSeconds('sum(rate(http_requests_total[1m])) * 60'), 60);
    assert.equal(queryLagSeconds('sum(rate(http_requests_total[1m])) * 60'), 30);
    assert.equal(queryLagSeconds('sum(rate(x{code=~"5.."}[ 5m ]))'), 150);
  });

  it('adds compound durations and takes the longest window of a subquery', () => {
    assert.equal(rangeWindowSeconds('sum(increase(x[1h30m]))'), 5400);
    assert.equal(rangeWindowSeconds('max_over_time(rate(x[30s])[5m:1m])'), 300);
    assert.equal(rangeWindowSeconds('rate(x[500ms])'), 0.5);
  });

  it('has no window and no lag for an instant gauge', () => {
    assert.equal(rangeWindowSeconds('queue_depth{app="a"}'), undefined);
    assert.equal(queryLagSeconds('queue_depth{app="a"}'), 0);
    // A label value that looks like a duration is not a range selector.
    assert.equal(rangeWindowSeconds('x{window="5m"}'), undefined);
  });

  it('adds half a polling interval of read delay to the query lag', () => {
    assert.equal(metricLagSeconds('sum(rate(http_requests_total[1m])) * 60', 15), 37.5);
    assert.equal(metricLagSeconds('queue_depth', 30), 15);
  });

  it('the lead is start-up + tick + lag, none of them negative', () => {
    assert.equal(forecastLeadSeconds(60, 15, 37.5), 112.5);
    assert.equal(forecastLeadSeconds(60, 15, -5), 75);
  });
});
