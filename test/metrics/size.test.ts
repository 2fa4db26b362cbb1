// The operator's /metrics at 10,000 policies: every policy ticked by the real reconciler into
// one registry at the default level (basic), as one operator process holds them, and the
// exposition measured. Before the levels it was 11 MB (13 series per policy).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';
import { harness, policy } from '../reconciler/helpers.ts';

const POLICIES = 10_000;
const LIMIT = 2_000_000;

/** Bench-like names: a hundred team namespaces, numbered policies. */
const nameOf = (i: number) => ({
  ns: `team-${String(i % 100).padStart(2, '0')}`,
  name: `web-${String(i).padStart(5, '0')}`,
});

test(`/metrics of ${POLICIES} idle policies is under ${LIMIT / 1e6} MB`, async () => {
  const metrics = createOperatorMetrics();
  for (let i = 0; i < POLICIES; i++) {
    const { ns, name } = nameOf(i);
    const h = harness(policy({}, name, ns), 2, { metrics });
    h.collector.values.rps = 80;
    await h.tick();
  }
  const text = await metrics.registry.metrics();
  const bytes = Buffer.byteLength(text);
  const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(
    `/metrics at ${POLICIES} policies: ${bytes} bytes, ${series} series (${(bytes / POLICIES).toFixed(0)} bytes per policy)`,
  );
  assert.ok(bytes < LIMIT, `${bytes} bytes`);
});
