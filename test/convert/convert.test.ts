// Table tests over real-world-shaped HPAs and ScaledObjects (test/convert/fixtures/*.yaml):
// each fixture's full output is compared with its *.expected.yaml (TIDEMARK_UPDATE_FIXTURES=1
// rewrites them; review the diff), and the mapping that matters is asserted field by field.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Converted, ConvertOptions, Outcome } from '../../src/convert/index.ts';
import { convertObjects, renderPolicy } from '../../src/convert/index.ts';
import { PolicyValidator } from '../../src/crd/validate.ts';

const DIR = new URL('./fixtures/', import.meta.url).pathname;
const PROM = 'http://prometheus.monitoring.svc:9090';

export function loadFixture(file: string): unknown[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS());
}

/** What `tidemark convert --allow-todo` prints, plus its stderr lines as trailing comments. */
function report(out: Outcome): string {
  const docs = out.converted.map(renderPolicy).join('---\n');
  const tail = [
    ...out.failures.map((f) => `# error: ${f.source}: ${f.message.replace(/\n/g, '\n#   ')}`),
    ...out.skipped.map((s) => `# skipped: ${s}`),
  ];
  return docs + (tail.length ? `${docs ? '---\n' : ''}${tail.join('\n')}\n` : '');
}

const byName = (out: Outcome, name: string): Converted => {
  const c = out.converted.find((x) => x.policy.metadata.name === name);
  assert.ok(
    c,
    `a policy named ${name}; got ${out.converted.map((x) => x.policy.metadata.name)} and ${JSON.stringify(out.failures)}`,
  );
  return c;
};
const todos = (c: Converted) => c.notes.filter((n) => n.level === 'todo');
const notesText = (c: Converted) => c.notes.map((n) => n.text).join('\n');

interface Case {
  file: string;
  options?: ConvertOptions;
  check: (out: Outcome) => void;
}

const CASES: Case[] = [
  {
    file: 'hpa-v2-behavior.yaml',
    options: {
      prometheus: PROM,
      queries: {
        nginx_ingress_requests_per_second:
          'sum(rate(nginx_ingress_controller_requests{ingress="checkout",status!~"5.."}[1m]))',
      },
    },
    check: (out) => {
      const c = byName(out, 'checkout');
      const s = c.policy.spec;
      assert.deepEqual(s.targetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' });
      assert.equal(c.policy.metadata.namespace, 'shop');
      assert.deepEqual(
        [s.minReplicas, s.maxReplicas, s.pollingIntervalSeconds, s.mode],
        [3, 60, 15, 'Active'],
      );
      assert.equal(s.prometheus.address, PROM);
      assert.deepEqual(s.metrics[0]?.target, { type: 'AverageValue', value: '1.5' }, '1500m is 1.5');
      assert.match(s.metrics[0]!.query, /nginx_ingress_controller_requests/, 'the --query mapping is used');
      assert.deepEqual(s.behavior.scaleUp, {
        stabilizationWindowSeconds: 30,
        cooldownSeconds: 0,
        selectPolicy: 'Max',
        policies: [{ type: 'Percent', value: 200, periodSeconds: 30 }],
      });
      assert.deepEqual(s.behavior.scaleDown.policies, [
        { type: 'Pods', value: 2, periodSeconds: 60 },
        { type: 'Percent', value: 10, periodSeconds: 60 },
      ]);
      assert.deepEqual(
        [s.behavior.scaleDown.selectPolicy, s.behavior.scaleDown.stabilizationWindowSeconds],
        ['Min', 600],
      );
      assert.equal(todos(c).length, 0, notesText(c));
    },
  },
  {
    file: 'hpa-v2-no-behavior.yaml',
    check: (out) => {
      const ingest = byName(out, 'ingest');
      assert.deepEqual(ingest.policy.spec.behavior.scaleUp.policies, [
        { type: 'Percent', value: 100, periodSeconds: 15 },
        { type: 'Pods', value: 3, periodSeconds: 15 },
      ]);
      assert.equal(ingest.policy.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
      assert.match(notesText(ingest), /legacy rules/);
      assert.equal(ingest.policy.spec.metrics[0]?.target.value, '1000', '1k');
      assert.match(
        ingest.policy.spec.metrics[0]!.query,
        /^sum\(kafka_consumer_lag\{namespace="data",pod=~"ingest-\[0-9\]\+"\}\)$/,
      );
      assert.equal(todos(ingest).length, 1, 'the adapter metric needs its PromQL');
      const sf = byName(out, 'storefront');
      assert.deepEqual(sf.policy.spec.targetRef, {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        name: 'storefront',
      });
      assert.equal(sf.policy.spec.minReplicas, 1, 'HPA default');
      assert.deepEqual(sf.policy.spec.metrics[0]?.target, { type: 'Value', value: '2000' });
      assert.match(sf.policy.spec.metrics[0]!.query, /ingress="storefront"/);
    },
  },
  {
    file: 'hpa-v1.yaml',
    check: (out) => {
      const api = byName(out, 'api');
      assert.deepEqual(api.policy.spec.metrics[0]?.target, { type: 'Value', value: '65' });
      assert.match(
        api.policy.spec.metrics[0]!.query,
        /^100 \* sum\(rate\(container_cpu_usage_seconds_total\{/,
      );
      assert.match(notesText(api), /legacy rules/, 'v1 has no behavior');
      assert.equal(todos(api).length, 1);
      const admin = byName(out, 'admin');
      assert.deepEqual(admin.policy.spec.targetRef.apiVersion, 'apps/v1', 'inferred for a Deployment');
      assert.equal(admin.policy.spec.metrics[0]?.target.value, '80', 'the API default, 80 % CPU');
      assert.equal(admin.policy.metadata.namespace, undefined);
    },
  },
  {
    file: 'hpa-cpu-memory.yaml',
    options: {
      prometheus: PROM,
      queries: { search_queue_depth: 'max(search_queue_depth{namespace="shop"})' },
    },
    check: (out) => {
      const c = byName(out, 'search');
      const m = c.policy.spec.metrics;
      assert.deepEqual(
        m.map((x) => x.name),
        ['cpu', 'memory', 'cpu-indexer', 'search_queue_depth'],
      );
      assert.deepEqual(m[1]?.target, { type: 'AverageValue', value: '1610612736' }, '1536Mi in bytes');
      assert.match(m[1]!.query, /^sum\(container_memory_working_set_bytes\{/);
      assert.match(m[2]!.query, /container="indexer"/);
      assert.deepEqual(m[3], {
        name: 'search_queue_depth',
        query: 'max(search_queue_depth{namespace="shop"})',
        target: { type: 'Value', value: '200' },
      });
      assert.equal(todos(c).length, 3, 'one per CPU/memory metric');
      assert.equal(c.policy.apiVersion, 'tidemark.dev/v1beta1', 'the storage version');
      const b = c.policy.spec.behavior;
      assert.equal(b.tolerance, 0.1, "the HPA's default, for the direction it left unset");
      assert.equal(b.scaleUp.tolerance, 0.05, 'per direction, as the HPA had it');
      assert.equal(b.scaleDown.tolerance, undefined);
      assert.doesNotMatch(notesText(c), /tolerance/, 'nothing to explain: the mapping is exact');
    },
  },
  {
    file: 'so-fallback-activation.yaml',
    check: (out) => {
      const mailer = byName(out, 'mailer');
      const s = mailer.policy.spec;
      assert.deepEqual(
        s.targetRef,
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'mailer' },
        'KEDA defaults',
      );
      assert.deepEqual([s.minReplicas, s.maxReplicas, s.pollingIntervalSeconds], [0, 100, 15]);
      assert.deepEqual(s.prometheus, {
        address: 'https://prometheus.monitoring.svc:9091',
        insecureSkipVerify: true,
      });
      assert.deepEqual(s.metrics[0], {
        name: 'prometheus',
        query: 'sum(rabbitmq_queue_messages_ready{queue="mail"})',
        target: { type: 'AverageValue', value: '250.5' },
        activationThreshold: '10',
      });
      assert.deepEqual(s.fallback, { failureThreshold: 5, replicas: 6 });
      assert.equal(
        s.behavior.scaleDown.stabilizationWindowSeconds,
        120,
        "the ScaledObject's own window: cooldownPeriod governs only the step to 0 (issue 18)",
      );
      assert.equal(s.behavior.scaleToZeroDelaySeconds, 600, 'cooldownPeriod 600');
      assert.deepEqual(s.behavior.scaleDown.policies, [{ type: 'Pods', value: 1, periodSeconds: 30 }]);
      assert.equal(todos(mailer).length, 1, 'the credentials');
      assert.match(todos(mailer)[0]!.text, /bearerToken from Secret keda-prom-secret key bearerToken/);
      assert.match(notesText(mailer), /ignoreNullValues/);
      const latency = byName(out, 'latency');
      assert.equal(latency.policy.spec.fallback, undefined, 'KEDA ignores fallback for Value metrics');
      assert.equal(latency.policy.spec.metrics[0]?.target.type, 'Value');
      assert.equal(
        latency.policy.spec.behavior.scaleDown.stabilizationWindowSeconds,
        300,
        'cooldownPeriod does not apply at min 2',
      );
      assert.equal(
        latency.policy.spec.behavior.scaleToZeroDelaySeconds,
        undefined,
        'cooldownPeriod does not apply at min 2 (and v1beta1 rejects the delay there)',
      );
      assert.doesNotMatch(notesText(latency), /ignoreNullValues/);
      assert.equal(out.skipped.length, 1, 'the Secret; the TriggerAuthentication is read, not skipped');
    },
  },
  {
    file: 'so-paused.yaml',
    check: (out) => {
      const batch = byName(out, 'batch');
      assert.equal(batch.policy.spec.mode, 'Paused');
      assert.match(notesText(batch), /kubectl scale deployment\/batch --replicas=0/);
      const reports = byName(out, 'reports');
      assert.equal(reports.policy.spec.mode, 'Paused');
      assert.equal(todos(batch).length + todos(reports).length, 0);
    },
  },
  {
    file: 'so-several-triggers.yaml',
    check: (out) => {
      const c = byName(out, 'orders');
      const m = c.policy.spec.metrics;
      assert.deepEqual(
        m.map((x) => x.name),
        ['rps', 'prometheus', 'cpu', 'rabbitmq'],
      );
      assert.deepEqual(
        m.map((x) => x.target.value),
        ['80', '20', '75', '40'],
      );
      assert.match(m[3]!.query, /^TODO_promql_for_keda_rabbitmq_trigger$/);
      assert.equal(todos(c).length, 2, 'cpu and rabbitmq');
      assert.match(notesText(c), /"rabbitmq" trigger/);
    },
  },
  {
    file: 'so-scaling-modifiers.yaml',
    check: (out) => {
      const c = byName(out, 'api');
      assert.equal(c.policy.spec.metrics.length, 2);
      const t = todos(c);
      assert.equal(t.length, 1);
      assert.match(
        t[0]!.text,
        /vector\(\(scalar\(sum\(rate\(db_queries_total\{role="primary"\}\[1m\]\)\)\) \+ scalar\(sum\(rate\(db_queries_total\{role="replica"\}\[1m\]\)\)\)\) \/ 2\)/,
      );
    },
  },
  {
    file: 'cluster-list.yaml',
    check: (out) => {
      assert.deepEqual(
        out.converted.map((c) => c.source),
        ['ScaledObject media/thumbnails'],
      );
      assert.deepEqual(
        out.failures.map((f) => f.source),
        [
          'HorizontalPodAutoscaler media/broken',
          'ScaledObject media/zero-threshold',
          'HorizontalPodAutoscaler media/ancient',
        ],
      );
      assert.match(out.failures[0]!.message, /minReplicas 5 is above spec.maxReplicas 3/);
      assert.match(out.failures[1]!.message, /threshold must be a positive number/);
      assert.match(out.failures[2]!.message, /autoscaling\/v2beta1 is not supported/);
      assert.equal(out.skipped.length, 2, 'the KEDA-made HPA and the Deployment');
      assert.match(out.skipped[0]!, /created by ScaledObject thumbnails/);
    },
  },
];

describe('tidemark convert: fixtures', () => {
  const validator = new PolicyValidator();
  test('every fixture has a case', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && !f.endsWith('.expected.yaml'));
    assert.deepEqual(files.sort(), CASES.map((c) => c.file).sort());
  });
  for (const c of CASES) {
    test(c.file, () => {
      const out = convertObjects(loadFixture(c.file), c.options);
      c.check(out);
      for (const p of out.converted) {
        const r = validator.validate(p.policy);
        assert.ok(r.ok, `${p.source}: ${JSON.stringify(!r.ok && r.issues)}`);
      }
      const expectedFile = join(DIR, c.file.replace(/\.yaml$/, '.expected.yaml'));
      const text = report(out);
      if (process.env.TIDEMARK_UPDATE_FIXTURES) writeFileSync(expectedFile, text);
      assert.equal(text, readFileSync(expectedFile, 'utf8'));
      // What is printed parses back to the same policies.
      const docs = parseAllDocuments(out.converted.map(renderPolicy).join('---\n')).map((d) => d.toJS());
      assert.deepEqual(
        docs,
        out.converted.map((p) => p.policy),
      );
    });
  }
});

test('--query also replaces the suggestion for a KEDA cpu trigger and the placeholder of another scaler', () => {
  const queries = {
    cpu: 'avg(cpu_percent{app="orders"})',
    'orders/rabbitmq': 'sum(rabbitmq_queue_messages_ready{queue="orders"})',
  };
  const out = convertObjects(loadFixture('so-several-triggers.yaml'), { queries });
  const c = byName(out, 'orders');
  assert.deepEqual(todos(c), []);
  assert.deepEqual(
    c.policy.spec.metrics.slice(2).map((m) => [m.name, m.query, m.target.value]),
    [
      ['cpu', queries.cpu, '75'],
      ['rabbitmq', queries['orders/rabbitmq'], '40'],
    ],
  );
  const other = convertObjects(loadFixture('so-several-triggers.yaml'), {
    queries: { 'billing/rabbitmq': 'x' },
  });
  assert.equal(todos(byName(other, 'orders')).length, 2, 'OBJECT/METRIC applies to that object only');
});

test('an HPA with `behavior: {}` gets the behavior defaults written out, the same as the CRD defaults', () => {
  const [hpa] = loadFixture('hpa-v2-behavior.yaml') as [{ spec: Record<string, unknown> }];
  hpa.spec.behavior = {};
  const c = convertObjects([hpa], {
    prometheus: PROM,
    queries: { nginx_ingress_requests_per_second: 'sum(x)' },
  }).converted[0]!;
  const { behavior, ...rest } = c.policy.spec;
  const defaulted = new PolicyValidator().validate({ ...c.policy, spec: rest });
  assert.ok(defaulted.ok);
  const sorted = (b: typeof behavior) => ({
    ...b,
    scaleUp: { ...b.scaleUp, policies: [...b.scaleUp.policies].sort((x, y) => x.type.localeCompare(y.type)) },
  });
  assert.deepEqual(sorted(behavior), sorted(defaulted.policy.spec.behavior as typeof behavior));
  assert.doesNotMatch(notesText(c), /legacy/);
});
