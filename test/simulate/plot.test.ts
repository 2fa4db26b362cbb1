import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderSvg } from '../../src/simulate/plot.ts';
import type { Series } from '../../src/simulate/simulate.ts';

function series(minutes: number): Series {
  const requests = Float64Array.from({ length: minutes }, (_, i) => 100 + 50 * Math.sin(i / 200));
  const replicas = Float32Array.from(requests, (r) => Math.ceil(r / 14));
  return {
    requests,
    strategies: (['tidemark', 'hpa-default', 'keda-default', 'oracle'] as const).map((strategy) => ({
      strategy,
      replicas,
      ready: replicas,
    })),
  };
}

test('a long series is reduced to at most `buckets` points per line', () => {
  const svg = renderSvg(series(84_000), { title: 'x', capacity: 20, buckets: 500 });
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(paths.length >= 9, 'load area, load mean, capacity and replicas per strategy');
  for (const d of paths) assert.ok((d.match(/[ML]/g) ?? []).length <= 1000, 'at most 2 × buckets vertices');
  assert.match(svg, /each point: mean of 168 minutes/);
  assert.match(svg, /time \(days\)/);
  assert.ok(svg.length < 400_000, `${svg.length} bytes`);
});

test('a forecast band is drawn behind the lines, gaps (NaN) left open', () => {
  const s = series(600);
  const lower = Float64Array.from(s.requests, (r, i) => (i < 100 ? Number.NaN : r * 0.8));
  const upper = Float64Array.from(s.requests, (r, i) => (i < 100 ? Number.NaN : r * 1.2));
  const svg = renderSvg(s, {
    title: 'with <band>',
    capacity: 20,
    bands: [{ label: 'forecast (80%)', lower, upper }],
  });
  assert.match(svg, /forecast/);
  assert.match(svg, /with &lt;band&gt;/, 'text is escaped');
  assert.doesNotMatch(svg, /NaN/);
  assert.match(svg, /time \(hours\)/);
});

test('an --outage window is shaded in both panels, where its minutes are, and named in the legend', () => {
  // 600 minutes over the default 1,160 px wide plot from x = 70: minute 100 is at 263.3, 60 minutes are 116 px.
  const svg = renderSvg(series(600), {
    title: 'x',
    capacity: 20,
    outages: [{ startMinute: 100, lengthMinutes: 60 }],
  });
  const shaded = [
    ...svg.matchAll(/<rect class="outage" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g),
  ];
  assert.equal(shaded.length, 2, 'the load panel and the replicas panel');
  for (const m of shaded) assert.deepEqual([m[1], m[3]], ['263.3', '116']);
  assert.match(svg, />metric outage</);
  assert.ok(svg.indexOf('class="outage"') < svg.indexOf('stroke="#555"'), 'behind the load line');
});

test('an outage running past the end is cut at the end of the trace; none, no shading', () => {
  const svg = renderSvg(series(600), {
    title: 'x',
    capacity: 20,
    outages: [{ startMinute: 550, lengthMinutes: 100 }],
  });
  const widths = [...svg.matchAll(/<rect class="outage" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g)].map(
    (m) => m[1],
  );
  assert.deepEqual(widths, ['96.7', '96.7']);
  assert.doesNotMatch(renderSvg(series(600), { title: 'x', capacity: 20 }), /outage/);
});

test('lines named outside the simulator strategies (a live run) each get a colour of their own', () => {
  const base = series(60);
  const names = ['Tidemark 15 s', 'Tidemark 5 s', 'KEDA'];
  const s: Series = {
    requests: base.requests,
    strategies: names.map((n) => ({
      ...base.strategies[0]!,
      strategy: n as Series['strategies'][number]['strategy'],
    })),
  };
  const svg = renderSvg(s, { title: 'x', capacity: 20 });
  const legendColours = names.map((n) => {
    const at = svg.indexOf(`>${n}</text>`);
    assert.ok(at > 0, `legend has ${n}`);
    return /stroke="(#[0-9a-f]{3,6})"[^>]*\/>\s*<text[^>]*>[^<]*<\/text>\s*$/.exec(
      svg.slice(0, at + n.length + 8),
    )?.[1];
  });
  assert.equal(new Set(legendColours).size, names.length, JSON.stringify(legendColours));
});
