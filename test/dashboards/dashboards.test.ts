import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { dashboards, overview, policy, queries } from '../../scripts/gen-dashboards.ts';

test('dashboards/*.json are up to date with scripts/gen-dashboards.ts (run `node scripts/gen-dashboards.ts`)', () => {
  for (const { url, content } of dashboards()) {
    assert.equal(readFileSync(url, 'utf8'), content, `${url.pathname} is stale`);
  }
});

/** The operator's metric names, from the table in CONTRIBUTING.md that the operator exports. */
function contractMetrics(): Set<string> {
  const text = readFileSync(new URL('../../CONTRIBUTING.md', import.meta.url), 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `tidemark_')) continue;
    const cell = line.split('|')[1] ?? '';
    for (const m of cell.matchAll(/`(tidemark_[a-z_]+)`/g)) names.add(m[1]!);
  }
  return names;
}

function usedMetrics(): Set<string> {
  const used = new Set<string>();
  for (const d of [overview(), policy()]) {
    for (const q of queries(d)) {
      for (const m of q.expr.matchAll(/\b(tidemark_[a-z_]+)/g))
        used.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
    }
  }
  return used;
}

test('every metric a dashboard queries is one the operator exports (CONTRIBUTING.md)', () => {
  const contract = contractMetrics();
  assert.ok(contract.size >= 15, `read only ${contract.size} metric names from CONTRIBUTING.md`);
  for (const m of usedMetrics()) assert.ok(contract.has(m), `${m} is not in CONTRIBUTING.md's metric table`);
});

test('every metric the operator exports is on a dashboard', () => {
  const used = usedMetrics();
  for (const m of contractMetrics()) assert.ok(used.has(m), `${m} is on no dashboard`);
});

/** Counters kept per namespace (src/metrics/registry.ts): the policy dashboard shows its namespace's. */
const PER_NAMESPACE = /tidemark_(decisions|scaling_actions)_total/;

test('the per-policy dashboard has namespace and policy variables, and every query uses them', () => {
  const d = policy() as { templating: { list: Array<{ name: string }> } };
  assert.deepEqual(
    d.templating.list.map((v) => v.name),
    ['datasource', 'namespace', 'policy'],
  );
  for (const q of queries(d)) {
    if (PER_NAMESPACE.test(q.expr)) assert.match(q.expr, /\{namespace="\$namespace"\}/, q.panel);
    else assert.match(q.expr, /namespace="\$namespace", policy="\$policy"/, q.panel);
  }
});

test('panel ids are unique and panels do not overlap', () => {
  for (const d of [overview(), policy()]) {
    const panels = d.panels as Array<{ id: number; gridPos: { x: number; y: number; w: number; h: number } }>;
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length);
    const cells = new Set<string>();
    for (const p of panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} is wider than the grid`);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `panel ${p.id} overlaps another at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
    }
  }
});

test('the overview shows policies by condition, scaling actions, errors, query latency, leader and policies watched', () => {
  const exprs = queries(overview())
    .map((q) => q.expr)
    .join('\n');
  for (const m of [
    'tidemark_policy_condition',
    'tidemark_scaling_actions_total',
    'tidemark_metric_errors_total',
    'tidemark_prometheus_query_duration_seconds_bucket',
    'tidemark_leader',
    'tidemark_policies_watched',
  ]) {
    assert.ok(exprs.includes(m), `overview does not query ${m}`);
  }
});
