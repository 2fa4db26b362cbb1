// Generates the Grafana dashboards in dashboards/ (committed JSON; a unit test
// checks they are up to date): `node scripts/gen-dashboards.ts`.
//
// Written as plain objects rather than with @grafana/grafana-foundation-sdk:
// two dashboards need a handful of panel kinds, and the JSON model they use
// (schemaVersion 39) is stable; a dependency would add more than it saves.
// Every PromQL expression is run against a live operator in
// test/dashboards/dashboards.int.test.ts.
import { writeFileSync } from 'node:fs';
import { HEALTHY_WHEN_TRUE } from '../src/metrics/registry.ts';

export const DASHBOARDS_DIR = new URL('../dashboards/', import.meta.url);

type Json = Record<string, unknown>;

export interface Target {
  expr: string;
  legendFormat?: string;
  /** For a table: one row per series at the end of the range. */
  instant?: boolean;
}

interface PanelSpec {
  title: string;
  description: string;
  type: 'timeseries' | 'stat' | 'table' | 'state-timeline' | 'bargauge';
  targets: Target[];
  w: number;
  h: number;
  unit?: string;
  fieldConfig?: Json;
  options?: Json;
}

// Grafana's own variable syntax, not a template string.
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable reference
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** A dashboard row: panels laid left to right, wrapping at Grafana's 24 columns. */
function layout(rows: Array<string | PanelSpec[]>): Json[] {
  const out: Json[] = [];
  let y = 0;
  let id = 1;
  for (const row of rows) {
    if (typeof row === 'string') {
      out.push({
        id: id++,
        type: 'row',
        title: row,
        collapsed: false,
        gridPos: { x: 0, y, w: 24, h: 1 },
        panels: [],
      });
      y += 1;
      continue;
    }
    let x = 0;
    let rowHeight = 0;
    for (const p of row) {
      if (x + p.w > 24) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      out.push(panel(id++, p, { x, y, w: p.w, h: p.h }));
      x += p.w;
      rowHeight = Math.max(rowHeight, p.h);
    }
    y += rowHeight;
  }
  return out;
}

function panel(id: number, p: PanelSpec, gridPos: Json): Json {
  const defaults: Json = { unit: p.unit ?? 'short' };
  if (p.type === 'timeseries')
    defaults.custom = { lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: true };
  return {
    id,
    type: p.type,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos,
    targets: p.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legendFormat ?? '__auto',
      range: !t.instant,
      instant: Boolean(t.instant),
      ...(t.instant ? { format: 'table' } : {}),
    })),
    fieldConfig: { defaults, overrides: [], ...(p.fieldConfig ?? {}) },
    options:
      p.options ??
      (p.type === 'timeseries'
        ? { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } }
        : {}),
  };
}

function dashboard(o: {
  uid: string;
  title: string;
  description: string;
  templating: Json[];
  panels: Json[];
}): Json {
  return {
    uid: o.uid,
    title: o.title,
    description: o.description,
    tags: ['tidemark', 'autoscaling'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    links: [
      {
        title: 'Tidemark',
        type: 'dashboards',
        tags: ['tidemark'],
        asDropdown: false,
        includeVars: false,
        keepTime: true,
      },
    ],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
        },
        ...o.templating,
      ],
    },
    annotations: { list: [] },
    panels: o.panels,
  };
}

// Counters that only appear once something happened (an error, an anomaly):
// `or vector(0)` shows a flat zero instead of "No data". The integration test
// also runs each of these without the fallback, which must still be valid.
export const ZERO_FALLBACK = ' or vector(0)';

/** Conditions healthy when True; every other one is healthy when False. */
const HEALTHY_TRUE = HEALTHY_WHEN_TRUE.join('|');

const DETAIL = 'Needs `tidemark run --policy-metrics=detailed`.';

const stateValues = {
  mappings: [
    {
      type: 'value',
      options: { '0': { text: 'False', color: 'transparent' }, '1': { text: 'True', color: 'blue' } },
    },
  ],
};

export function overview(): Json {
  const rows: Array<string | PanelSpec[]> = [
    'Operator',
    [
      {
        title: 'Operator replicas up',
        description: 'Operator processes Prometheus scrapes (each exports tidemark_leader, 0 or 1).',
        type: 'stat',
        w: 4,
        h: 4,
        targets: [{ expr: 'count(tidemark_leader)', legendFormat: 'replicas' }],
      },
      {
        title: 'Leaders',
        description:
          'Replicas holding the Lease. Exactly 1 is healthy: 0 means nothing is scaled, 2 a split brain. With --sharding=on every acting member counts (see Shards).',
        type: 'stat',
        w: 4,
        h: 4,
        targets: [{ expr: 'sum(tidemark_leader)', legendFormat: 'leaders' }],
        fieldConfig: {
          defaults: {
            unit: 'short',
            thresholds: {
              mode: 'absolute',
              steps: [
                { color: 'red', value: null },
                { color: 'green', value: 1 },
                { color: 'red', value: 2 },
              ],
            },
          },
        },
      },
      {
        title: 'Policies watched',
        description: 'ScalingPolicies known to the leader.',
        type: 'stat',
        w: 4,
        h: 4,
        targets: [{ expr: 'max(tidemark_policies_watched)', legendFormat: 'policies' }],
      },
      {
        title: 'Policies not Ready',
        description:
          'Policies whose Ready condition is False: invalid, target missing, or address not allowed.',
        type: 'stat',
        w: 4,
        h: 4,
        targets: [
          {
            expr:
              'count(max by (namespace, policy) (tidemark_policy_condition{condition="Ready"}) == 0)' +
              ZERO_FALLBACK,
            legendFormat: 'not ready',
          },
        ],
      },
      {
        title: 'Policies in fallback',
        description: 'Policies holding their fallback replicas because every metric fails.',
        type: 'stat',
        w: 4,
        h: 4,
        targets: [
          {
            expr: 'sum(max by (namespace, policy) (tidemark_policy_fallback_active))' + ZERO_FALLBACK,
            legendFormat: 'fallback',
          },
        ],
      },
      {
        title: 'Leader by replica',
        description: 'Which operator replica holds the Lease, over time.',
        type: 'state-timeline',
        w: 4,
        h: 4,
        targets: [{ expr: 'max by (instance) (tidemark_leader)', legendFormat: '{{instance}}' }],
        fieldConfig: { defaults: { ...stateValues, unit: 'short' } },
      },
    ],
    'Shards',
    [
      {
        title: 'Policies per replica',
        description:
          'With --sharding=on: the policies each replica acts on (rendezvous hashing of the policy uid over the live members; about equal shares). Empty with one leader.',
        type: 'timeseries',
        w: 12,
        h: 6,
        targets: [{ expr: 'max by (instance) (tidemark_shard_policies)', legendFormat: '{{instance}}' }],
      },
      {
        title: 'Policies without an owner',
        description:
          'Policies watched less the policies some replica acts on. 0 is healthy; above 0 for longer than a lease duration plus a polling interval: see the TidemarkPolicyUnowned alert.',
        type: 'stat',
        w: 6,
        h: 6,
        targets: [
          {
            expr:
              '(max(tidemark_policies_watched) - sum(tidemark_shard_policies)) and on() (max(tidemark_shard_members) > 0)' +
              ZERO_FALLBACK,
            legendFormat: 'unowned',
          },
        ],
      },
      {
        title: 'Live members',
        description: 'Members each replica sees live: all replicas should agree.',
        type: 'timeseries',
        w: 6,
        h: 6,
        targets: [{ expr: 'max by (instance) (tidemark_shard_members)', legendFormat: '{{instance}}' }],
      },
    ],
    'Policies',
    [
      {
        title: 'Policies by unhealthy condition',
        description:
          'How many policies have each condition in its unhealthy state now (Ready, AbleToScale, Active or ForecastReady False; any other condition True). At --policy-metrics=basic only these have series.',
        type: 'bargauge',
        w: 8,
        h: 8,
        targets: [
          {
            expr:
              `count by (condition) (max by (namespace, policy, condition) (tidemark_policy_condition{condition=~"${HEALTHY_TRUE}"}) == 0)` +
              ` or count by (condition) (max by (namespace, policy, condition) (tidemark_policy_condition{condition!~"${HEALTHY_TRUE}"}) == 1)` +
              ZERO_FALLBACK,
            legendFormat: '{{condition}}',
          },
        ],
        options: { orientation: 'horizontal', displayMode: 'basic', showUnfilled: true },
      },
      {
        title: 'Policies',
        description: 'Every policy: replicas now and the last decision.',
        type: 'table',
        w: 16,
        h: 8,
        targets: [
          { expr: 'max by (namespace, policy) (tidemark_policy_current_replicas)', instant: true },
          { expr: 'max by (namespace, policy) (tidemark_policy_desired_replicas)', instant: true },
        ],
        options: { showHeader: true },
        fieldConfig: { defaults: { unit: 'short' } },
      },
    ],
    'Activity',
    [
      {
        title: 'Scaling actions',
        description: 'Scale patches sent, by direction.',
        type: 'timeseries',
        w: 12,
        h: 8,
        targets: [
          {
            expr:
              'sum by (direction) (increase(tidemark_scaling_actions_total[$__rate_interval]))' +
              ZERO_FALLBACK,
            legendFormat: '{{direction}}',
          },
        ],
      },
      {
        title: 'Decisions by what limited them',
        description:
          'Decisions per interval, by direction and the limit that applied (none, a rate policy, a bound, ...).',
        type: 'timeseries',
        w: 12,
        h: 8,
        targets: [
          {
            expr: 'sum by (direction, limited_by) (increase(tidemark_decisions_total[$__rate_interval]))',
            legendFormat: '{{direction}} / {{limited_by}}',
          },
        ],
      },
      {
        title: 'Metric errors',
        description: 'Failed observations per second, by kind (Timeout, Empty, NaN, Stale, ...).',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'ops',
        targets: [
          {
            expr: 'sum by (kind) (rate(tidemark_metric_errors_total[$__rate_interval]))' + ZERO_FALLBACK,
            legendFormat: '{{kind}}',
          },
        ],
      },
      {
        title: 'Prometheus query errors',
        description: 'Failed PromQL queries per second, by kind.',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'ops',
        targets: [
          {
            expr:
              'sum by (kind) (rate(tidemark_prometheus_query_errors_total[$__rate_interval]))' +
              ZERO_FALLBACK,
            legendFormat: '{{kind}}',
          },
        ],
      },
    ],
    'Latency',
    [
      {
        title: 'PromQL query latency',
        description: 'Latency of the queries the operator sends to Prometheus.',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 's',
        targets: [0.5, 0.9, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(tidemark_prometheus_query_duration_seconds_bucket[$__rate_interval])))`,
          legendFormat: `p${q * 100}`,
        })),
      },
      {
        title: 'Tick latency',
        description:
          "From a policy's due time to its decision. Above the polling interval, ticks fall behind.",
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 's',
        targets: [0.5, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le) (rate(tidemark_tick_duration_seconds_bucket[$__rate_interval])))`,
          legendFormat: `p${q * 100}`,
        })),
      },
    ],
  ];
  return dashboard({
    uid: 'tidemark-overview',
    title: 'Tidemark / Overview',
    description: 'The Tidemark operator and all its ScalingPolicies.',
    templating: [],
    panels: layout(rows),
  });
}

const SEL = 'namespace="$namespace", policy="$policy"';
const NS_SEL = 'namespace="$namespace"';

export function policy(): Json {
  const rows: Array<string | PanelSpec[]> = [
    'Replicas',
    [
      {
        title: 'Desired vs current replicas',
        description: `The last decision, the target’s replicas, the bounds and what the forecast proposes. The bounds: ${DETAIL}`,
        type: 'timeseries',
        w: 16,
        h: 9,
        targets: [
          { expr: `max(tidemark_policy_desired_replicas{${SEL}})`, legendFormat: 'desired' },
          { expr: `max(tidemark_policy_current_replicas{${SEL}})`, legendFormat: 'current' },
          { expr: `max(tidemark_policy_min_replicas{${SEL}})`, legendFormat: 'min' },
          { expr: `max(tidemark_policy_max_replicas{${SEL}})`, legendFormat: 'max' },
          { expr: `max(tidemark_forecast_replicas{${SEL}})`, legendFormat: 'forecast' },
        ],
        fieldConfig: {
          overrides: ['min', 'max'].map((n) => ({
            matcher: { id: 'byName', options: n },
            properties: [
              { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
              { id: 'custom.fillOpacity', value: 0 },
            ],
          })),
        },
      },
      {
        title: 'Conditions',
        description:
          'Each condition of the policy over time (True in blue). `kubectl describe` gives the message. At --policy-metrics=basic (the default) a condition shows only while it is unhealthy.',
        type: 'state-timeline',
        w: 8,
        h: 9,
        targets: [
          { expr: `max by (condition) (tidemark_policy_condition{${SEL}})`, legendFormat: '{{condition}}' },
        ],
        fieldConfig: { defaults: { ...stateValues, unit: 'short' } },
      },
    ],
    'Metrics',
    [
      {
        title: 'Metrics vs targets',
        description: `Each metric of the policy and its target (per replica for AverageValue). ${DETAIL}`,
        type: 'timeseries',
        w: 12,
        h: 9,
        targets: [
          { expr: `max by (metric) (tidemark_policy_metric_value{${SEL}})`, legendFormat: '{{metric}}' },
          {
            expr: `max by (metric) (tidemark_policy_metric_target{${SEL}})`,
            legendFormat: '{{metric}} target',
          },
        ],
      },
      {
        title: 'Forecast band',
        description:
          'The forecast of each metric at now + lead time: point and its lower/upper bounds, beside the observed value.',
        type: 'timeseries',
        w: 12,
        h: 9,
        targets: [
          {
            expr: `max by (metric) (tidemark_forecast_value{${SEL}, bound="lower"})`,
            legendFormat: '{{metric}} lower',
          },
          {
            expr: `max by (metric) (tidemark_forecast_value{${SEL}, bound="upper"})`,
            legendFormat: '{{metric}} upper',
          },
          {
            expr: `max by (metric) (tidemark_forecast_value{${SEL}, bound="point"})`,
            legendFormat: '{{metric}} forecast',
          },
          {
            expr: `max by (metric) (tidemark_policy_metric_value{${SEL}})`,
            legendFormat: '{{metric}} observed',
          },
        ],
        fieldConfig: {
          overrides: [
            {
              matcher: { id: 'byRegexp', options: '.* upper' },
              properties: [
                { id: 'custom.fillBelowTo', value: 'lower' },
                { id: 'custom.lineWidth', value: 0 },
              ],
            },
            {
              matcher: { id: 'byRegexp', options: '.* lower' },
              properties: [{ id: 'custom.lineWidth', value: 0 }],
            },
          ],
        },
      },
      {
        title: 'Metric errors',
        description:
          'Failed observations per interval, by metric and kind. A failing metric blocks scale-down.',
        type: 'timeseries',
        w: 8,
        h: 8,
        targets: [
          {
            expr:
              `sum by (metric, kind) (increase(tidemark_metric_errors_total{${SEL}}[$__rate_interval]))` +
              ZERO_FALLBACK,
            legendFormat: '{{metric}} {{kind}}',
          },
        ],
      },
      {
        title: 'Anomalies',
        description: 'Anomalous inputs held back, by metric and kind.',
        type: 'timeseries',
        w: 8,
        h: 8,
        targets: [
          {
            expr:
              `sum by (metric, kind) (increase(tidemark_anomalies_total{${SEL}}[$__rate_interval]))` +
              ZERO_FALLBACK,
            legendFormat: '{{metric}} {{kind}}',
          },
        ],
      },
      {
        title: 'Fallback active',
        description: '1 while every metric fails and the fallback replicas apply.',
        type: 'state-timeline',
        w: 8,
        h: 8,
        targets: [
          { expr: `max(tidemark_policy_fallback_active{${SEL}})` + ZERO_FALLBACK, legendFormat: 'fallback' },
        ],
        fieldConfig: { defaults: { ...stateValues, unit: 'short' } },
      },
    ],
    'Decisions',
    [
      {
        title: 'Decisions in the namespace',
        description:
          'Decisions per interval in the policy’s namespace, by direction and what limited them (the counters are per namespace; this policy’s own changes are in Desired vs current replicas).',
        type: 'timeseries',
        w: 12,
        h: 8,
        targets: [
          {
            expr: `sum by (direction, limited_by) (increase(tidemark_decisions_total{${NS_SEL}}[$__rate_interval]))`,
            legendFormat: '{{direction}} / {{limited_by}}',
          },
          {
            expr:
              `sum by (direction) (increase(tidemark_scaling_actions_total{${NS_SEL}}[$__rate_interval]))` +
              ZERO_FALLBACK,
            legendFormat: 'scaled {{direction}}',
          },
        ],
      },
      {
        title: 'Recent decisions',
        description:
          'Decisions in the namespace over the dashboard range, by direction and limit. The policy’s own reasons, with their numbers, are in its status: `kubectl describe scalingpolicy`.',
        type: 'table',
        w: 6,
        h: 8,
        targets: [
          {
            expr: `sum by (direction, limited_by) (increase(tidemark_decisions_total{${NS_SEL}}[$__range]))`,
            instant: true,
          },
        ],
      },
      {
        title: 'Self-tuned scale-down stabilization',
        description: 'The scale-down stabilization window autotune chose against flapping.',
        type: 'timeseries',
        w: 6,
        h: 8,
        unit: 's',
        targets: [
          { expr: `max(tidemark_tuned_scale_down_stabilization_seconds{${SEL}})`, legendFormat: 'window' },
        ],
      },
    ],
    [
      {
        title: 'Autopilot: Level 5 against the reactive path',
        description:
          'The shadow evaluation over its rolling window (default one day): replica-seconds held, miss ticks (load per ready replica above what the target allows) and direction reversals of Level 5 and of the HPA-compatible reactive path, both scored on the observed load. Level 5 acts only while it is no worse on each (docs/autopilot.md).',
        type: 'timeseries',
        w: 18,
        h: 8,
        targets: [
          {
            expr: `max by (path, score) (tidemark_autopilot_score{${SEL}})`,
            legendFormat: '{{path}} {{score}}',
          },
        ],
      },
      {
        title: 'Level 5 acting',
        description: '1 while Level 5 acts, 0 while it stands aside (ForecastReady=False NotBeneficial).',
        type: 'timeseries',
        w: 6,
        h: 8,
        targets: [{ expr: `max(tidemark_autopilot_acting{${SEL}})`, legendFormat: 'acting' }],
      },
    ],
  ];
  const variable = (name: string, query: string) => ({
    name,
    label: name,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: `${name}-query` },
    definition: query,
    refresh: 2,
    sort: 1,
    includeAll: false,
    multi: false,
    current: {},
    hide: 0,
  });
  return dashboard({
    uid: 'tidemark-policy',
    title: 'Tidemark / ScalingPolicy',
    description:
      'One ScalingPolicy: replicas, metrics against targets, forecast, anomalies, conditions and decisions.',
    templating: [
      variable('namespace', 'label_values(tidemark_policy_desired_replicas, namespace)'),
      variable('policy', 'label_values(tidemark_policy_desired_replicas{namespace="$namespace"}, policy)'),
    ],
    panels: layout(rows),
  });
}

export function dashboards(): Array<{ url: URL; content: string }> {
  return [
    {
      url: new URL('tidemark-overview.json', DASHBOARDS_DIR),
      content: `${JSON.stringify(overview(), null, 2)}\n`,
    },
    {
      url: new URL('tidemark-policy.json', DASHBOARDS_DIR),
      content: `${JSON.stringify(policy(), null, 2)}\n`,
    },
  ];
}

/** Every PromQL expression of a dashboard with the panel it belongs to. */
export function queries(d: Json): Array<{ panel: string; expr: string; instant: boolean }> {
  const panels =
    (d.panels as Array<{ title: string; targets?: Array<{ expr: string; instant?: boolean }> }>) ?? [];
  return panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr, instant: Boolean(t.instant) })),
  );
}

if (import.meta.main) {
  for (const { url, content } of dashboards()) {
    writeFileSync(url, content);
    console.log(`wrote ${url.pathname}`);
  }
}
