import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FAULT_KINDS,
  FAULT_SECONDS,
  type Fault,
  faultedMetric,
  faultSchedule,
} from '../../src/simulate/faults.ts';
import { simulate } from '../../src/simulate/simulate.ts';
import { policySpec } from './helpers.ts';

test('the schedule takes the kinds in turn, one every interval, none overlapping or past the end', () => {
  const faults = faultSchedule(3 * 86400, 86400, 7 * 3600);
  assert.deepEqual(
    faults.map((f) => f.kind),
    [...FAULT_KINDS, ...FAULT_KINDS.slice(0, 1)],
  );
  for (const [i, f] of faults.entries()) {
    assert.equal(f.from, 86400 + i * 7 * 3600);
    assert.equal(f.seconds, FAULT_SECONDS[f.kind]);
    assert.ok(f.from + f.seconds <= 3 * 86400);
  }
});

test('each fault changes the metric only while it lasts, as production would show it', () => {
  const at = (kind: Fault['kind']) => faultedMetric([{ kind, from: 600, seconds: 300 }]);
  const valueAt = (t: number) => t / 10;
  const inside = 750;
  assert.equal(at('counter-reset')(inside, 40, valueAt), 400);
  assert.equal(at('scrape-gap')(inside, 40, valueAt), undefined);
  assert.equal(at('stale')(inside, 40, valueAt), 60, 'frozen at the value when it went stale');
  assert.equal(at('doubled')(inside, 40, valueAt), 80);
  assert.equal(at('zero')(inside, 40, valueAt), 0);
  const mad = [...new Array(20)].map((_, i) => at('mad')(600 + 15 * i, 40, valueAt) as number);
  assert.ok(
    mad.every((v) => v >= 0 && v < 800),
    'between 0 and 20 ×',
  );
  assert.ok(
    Math.max(...mad) > 400 && Math.min(...mad) < 200,
    `mad values ${Math.min(...mad)}–${Math.max(...mad)}`,
  );
  assert.deepEqual(
    mad,
    [...new Array(20)].map((_, i) => at('mad')(600 + 15 * i, 40, valueAt)),
    'the same per tick',
  );
  for (const kind of FAULT_KINDS) {
    assert.equal(at(kind)(599, 40, valueAt), 40, `${kind} before`);
    assert.equal(at(kind)(900, 40, valueAt), 40, `${kind} after`);
  }
});

test('the simulator feeds every strategy the faulted metric: a zero scales the HPA down, a failed query holds it', () => {
  const requests = Float64Array.from(new Array(60).fill(200));
  const run = (faults: Fault[]) =>
    simulate({
      trace: { requests, firstMinute: 0 },
      traceName: 'flat',
      spec: policySpec(),
      capacity: 20,
      startupSeconds: 60,
      metricFault: faultedMetric(faults),
    }).report.results.find((r) => r.strategy === 'hpa-default');
  const clean = run([]);
  const zero = run([{ kind: 'zero', from: 600, seconds: 600 }]);
  const gap = run([{ kind: 'scrape-gap', from: 600, seconds: 600 }]);
  assert.ok((zero?.replicaMinutes ?? 0) < (clean?.replicaMinutes ?? 0), 'a zero scaled it down');
  assert.ok((zero?.underProvisionedMinutes ?? 0) > 0, 'and it missed minutes');
  assert.deepEqual(gap, clean, 'a failed query holds the replicas');
});
