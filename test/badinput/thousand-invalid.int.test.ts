// Bad input at volume: a thousand invalid ScalingPolicies sent to the sandbox's
// API server at once (parallel creates, as a busy CI pipeline or a bad Helm
// release would), beside a few valid ones, with a real operator running.
// Every invalid policy must either be rejected by the API server with a message
// that names the offending field (OpenAPI schema or CEL rule), or be accepted and
// then reported by the operator in its status conditions and an Event
// (InvalidPolicy, TargetNotFound). The valid ones must keep scaling meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import { KubeApiError } from '../../src/kube/api-client.ts';
import * as e2e from '../e2e/support.ts';
import { NO_SANDBOX, sandboxAvailable, sandboxEnv, waitFor } from '../support/sandbox.ts';

const RUN = `thousand-${Date.now().toString(36)}`;
const NS = RUN;
const TOTAL_INVALID = 1000;
const VALID = ['valid-a', 'valid-b', 'valid-c'];

type Spec = Record<string, unknown>;

interface Variant {
  id: string;
  /** What the API server must say (rejected), or the condition the operator must report (accepted). */
  expect:
    | { rejected: true; field: RegExp }
    | { rejected: false; condition: 'Ready' | 'AbleToScale'; reason: string; event: string };
  mutate(spec: Spec, i: number): Spec;
}

const metric = (over: Spec = {}) => ({
  name: 'm',
  query: 'vector(1)',
  target: { type: 'AverageValue', value: '1' },
  ...over,
});

const rejected = (field: RegExp) => ({ rejected: true as const, field });
const reported = (condition: 'Ready' | 'AbleToScale', reason: string, event = reason) => ({
  rejected: false as const,
  condition,
  reason,
  event,
});

// Each variant breaks one thing; the index varies the bad value where that makes sense.
const VARIANTS: Variant[] = [
  // OpenAPI schema violations
  {
    id: 'min-negative',
    expect: rejected(/spec\.minReplicas/),
    mutate: (s, i) => ({ ...s, minReplicas: -1 - (i % 7) }),
  },
  { id: 'max-zero', expect: rejected(/spec\.maxReplicas/), mutate: (s) => ({ ...s, maxReplicas: 0 }) },
  {
    id: 'max-huge',
    expect: rejected(/spec\.maxReplicas/),
    mutate: (s, i) => ({ ...s, maxReplicas: 100_001 + i }),
  },
  {
    id: 'interval-zero',
    expect: rejected(/spec\.pollingIntervalSeconds/),
    mutate: (s) => ({ ...s, pollingIntervalSeconds: 0 }),
  },
  {
    id: 'interval-string',
    expect: rejected(/spec\.pollingIntervalSeconds/),
    mutate: (s) => ({ ...s, pollingIntervalSeconds: 'often' }),
  },
  { id: 'mode-enum', expect: rejected(/spec\.mode/), mutate: (s, i) => ({ ...s, mode: `Turbo${i}` }) },
  { id: 'metrics-empty', expect: rejected(/spec\.metrics/), mutate: (s) => ({ ...s, metrics: [] }) },
  {
    id: 'metrics-missing',
    expect: rejected(/spec\.metrics/),
    mutate: ({ metrics: _m, ...s }) => s,
  },
  {
    id: 'metric-name',
    expect: rejected(/spec\.metrics\[0\]\.name/),
    mutate: (s, i) => ({ ...s, metrics: [metric({ name: `Bad Name ${i}` })] }),
  },
  {
    id: 'metric-query-empty',
    expect: rejected(/spec\.metrics\[0\]\.query/),
    mutate: (s) => ({ ...s, metrics: [metric({ query: '' })] }),
  },
  {
    id: 'target-type',
    expect: rejected(/spec\.metrics\[0\]\.target\.type/),
    mutate: (s) => ({ ...s, metrics: [metric({ target: { type: 'Ratio', value: '1' } })] }),
  },
  {
    id: 'target-value',
    expect: rejected(/spec\.metrics\[0\]\.target\.value/),
    mutate: (s, i) => ({
      ...s,
      metrics: [metric({ target: { type: 'AverageValue', value: ['0', '-5', 'abc', '1e3'][i % 4] } })],
    }),
  },
  {
    id: 'address-scheme',
    expect: rejected(/spec\.prometheus\.address/),
    mutate: (s, i) => ({ ...s, prometheus: { address: ['ftp://prom:9090', 'not a url', 'http://'][i % 3] } }),
  },
  {
    id: 'timeout-range',
    expect: rejected(/spec\.prometheus\.timeoutSeconds/),
    mutate: (s) => ({ ...s, prometheus: { ...(s.prometheus as Spec), timeoutSeconds: 1000 } }),
  },
  {
    // There is no way to name a Secret in another namespace: the field does not exist.
    id: 'secret-namespace',
    expect: rejected(/spec\.prometheus\.authSecretRef\.namespace/),
    mutate: (s) => ({
      ...s,
      prometheus: { ...(s.prometheus as Spec), authSecretRef: { name: 'creds', namespace: 'kube-system' } },
    }),
  },
  {
    id: 'target-kind',
    expect: rejected(/spec\.targetRef\.kind/),
    mutate: (s) => ({ ...s, targetRef: { apiVersion: 'apps/v1', kind: 'deployment', name: 'x' } }),
  },
  {
    id: 'target-name-missing',
    expect: rejected(/spec\.targetRef\.name/),
    mutate: (s) => ({ ...s, targetRef: { apiVersion: 'apps/v1', kind: 'Deployment' } }),
  },
  {
    id: 'tolerance',
    expect: rejected(/spec\.behavior\.tolerance/),
    mutate: (s) => ({ ...s, behavior: { tolerance: 5 } }),
  },
  {
    id: 'rate-policy-type',
    expect: rejected(/spec\.behavior\.scaleUp\.policies\[0\]\.type/),
    mutate: (s) => ({
      ...s,
      behavior: { scaleUp: { policies: [{ type: 'Nodes', value: 1, periodSeconds: 15 }] } },
    }),
  },
  {
    id: 'fallback-threshold',
    expect: rejected(/spec\.fallback\.failureThreshold/),
    mutate: (s) => ({ ...s, fallback: { failureThreshold: 0 } }),
  },
  // CEL rules
  {
    id: 'cel-min-gt-max',
    expect: rejected(/spec\.minReplicas.*minReplicas must be less than or equal to maxReplicas/),
    mutate: (s, i) => ({ ...s, minReplicas: 5 + (i % 5), maxReplicas: 2 }),
  },
  {
    id: 'cel-duplicate-metrics',
    expect: rejected(/spec\.metrics.*metric names must be unique/),
    mutate: (s) => ({ ...s, metrics: [metric(), metric()] }),
  },
  {
    id: 'cel-fallback-range',
    expect: rejected(/spec\.fallback\.replicas.*within \[minReplicas, maxReplicas\]/),
    mutate: (s) => ({ ...s, fallback: { replicas: 50 } }),
  },
  // Schema-valid, semantically invalid: the operator reports them.
  {
    id: 'address-not-allowed',
    expect: reported('Ready', 'InvalidPolicy'),
    mutate: (s, i) => ({ ...s, prometheus: { address: `http://10.255.${i % 250}.1:9090` } }),
  },
  {
    id: 'address-userinfo',
    expect: reported('Ready', 'InvalidPolicy'),
    mutate: (s) => ({
      ...s,
      prometheus: { address: sandboxEnv().prometheusUrl.replace('http://', 'http://user:pw@') },
    }),
  },
  {
    id: 'no-scale-subresource',
    expect: reported('Ready', 'InvalidPolicy'),
    mutate: (s) => ({ ...s, targetRef: { apiVersion: 'v1', kind: 'ConfigMap', name: 'kube-root-ca.crt' } }),
  },
  {
    id: 'target-missing',
    expect: reported('AbleToScale', 'TargetNotFound'),
    mutate: (s, i) => ({
      ...s,
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `ghost-${i}` },
    }),
  },
  {
    id: 'target-unknown-kind',
    expect: reported('AbleToScale', 'TargetNotFound'),
    mutate: (s) => ({ ...s, targetRef: { apiVersion: 'example.invalid/v1', kind: 'Gizmo', name: 'g' } }),
  },
  {
    // A Secret with neither `token` nor `username`/`password`.
    id: 'secret-malformed',
    expect: reported('Ready', 'InvalidPolicy'),
    mutate: (s) => ({
      ...s,
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'inert' },
      prometheus: { ...(s.prometheus as Spec), authSecretRef: { name: 'malformed' } },
    }),
  },
];

interface Outcome {
  name: string;
  variant: Variant;
  error?: string;
}

const skip = sandboxAvailable() ? false : NO_SANDBOX;

describe('a thousand invalid policies at once', { skip, timeout: 240_000 }, () => {
  let op: e2e.OperatorProcess;
  const outcomes: Outcome[] = [];
  let applyMs = 0;

  before(async () => {
    await e2e.prepareNamespaces([NS]);
    await e2e.apply([
      ...VALID.map((v) => e2e.deployment(NS, v, 1, 250)),
      // The target of the policies whose only fault is their Secret; nothing may scale it.
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'inert', namespace: NS },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'inert' } },
          template: {
            metadata: { labels: { app: 'inert' } },
            spec: { containers: [{ name: 'app', image: 'example.invalid/web:1' }] },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'malformed', namespace: NS },
        stringData: { foo: 'bar' },
      },
    ]);
    op = await e2e.OperatorProcess.start(RUN, [
      '--namespaces',
      NS,
      '--lease-name',
      RUN,
      '--max-concurrent-ticks',
      '32',
    ]);
    await waitFor(() => op.isLeader(), { timeoutMs: 20_000, what: 'the operator to lead' });
  });

  after(async () => {
    if (op) {
      const exit = await op.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, 'the operator exits cleanly');
    }
    await e2e.deleteNamespace(NS);
  });

  it('creates 1,000 invalid policies and 3 valid ones in parallel; each invalid one is rejected naming its field or accepted', async () => {
    const base: Spec = e2e.scalingPolicy(NS, 'x', { metrics: [metric()], pollingIntervalSeconds: 10 })
      .spec as Spec;
    const bodies: Array<{ name: string; body: unknown; variant?: Variant }> = [];
    for (let i = 0; i < TOTAL_INVALID; i++) {
      const variant = VARIANTS[i % VARIANTS.length]!;
      const name = `bad-${variant.id}-${i}`;
      bodies.push({
        name,
        variant,
        body: {
          apiVersion: 'tidemark.dev/v1alpha1',
          kind: 'ScalingPolicy',
          metadata: { name, namespace: NS },
          spec: variant.mutate(structuredClone(base), i),
        },
      });
      // The valid ones go in the middle of the burst, not before it.
      if (i === TOTAL_INVALID / 2) {
        for (const v of VALID) {
          bodies.push({
            name: v,
            body: e2e.scalingPolicy(NS, v, {
              metrics: [
                {
                  name: 'rps',
                  query: e2e.offeredQuery(NS, v),
                  target: { type: 'AverageValue', value: '50' },
                },
              ],
              behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
            }),
          });
        }
      }
    }
    // kubectl's default: unknown fields are an error, not silently dropped.
    const path = `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies?fieldValidation=Strict`;
    const start = Date.now();
    let next = 0;
    const worker = async () => {
      for (let k = next++; k < bodies.length; k = next++) {
        const b = bodies[k]!;
        try {
          await e2e.api()({ method: 'POST', path, body: b.body, timeoutMs: 30_000 });
          if (b.variant) outcomes.push({ name: b.name, variant: b.variant });
        } catch (err) {
          // 422 Invalid (schema, CEL); 400 BadRequest (strict decoding: an unknown field).
          if (!(err instanceof KubeApiError) || (err.status !== 422 && err.status !== 400)) throw err;
          if (!b.variant) throw new Error(`valid policy ${b.name} rejected: ${err.message}`);
          outcomes.push({ name: b.name, variant: b.variant, error: err.message });
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    applyMs = Date.now() - start;

    assert.equal(outcomes.length, TOTAL_INVALID);
    const wrong: string[] = [];
    for (const o of outcomes) {
      const e = o.variant.expect;
      if (e.rejected && o.error === undefined)
        wrong.push(`${o.name}: accepted, expected a rejection naming ${e.field}`);
      if (e.rejected && o.error !== undefined && !e.field.test(o.error))
        wrong.push(`${o.name}: rejected without naming ${e.field}: ${o.error}`);
      if (!e.rejected && o.error !== undefined)
        wrong.push(`${o.name}: rejected, expected accepted: ${o.error}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} unexpected outcomes`);
    const nRejected = outcomes.filter((o) => o.error !== undefined).length;
    const expectedRejected = outcomes.filter((o) => o.variant.expect.rejected).length;
    assert.equal(nRejected, expectedRejected);
    assert.ok(nRejected > 700, `most variants are schema/CEL violations (${nRejected})`);
    console.log(
      `# ${TOTAL_INVALID + VALID.length} creates in ${applyMs} ms: ${nRejected} rejected (400/422), ${TOTAL_INVALID - nRejected} invalid accepted`,
    );
    // One example per variant, for the record of which inputs were tried and what came back.
    for (const v of VARIANTS) {
      const mine = outcomes.filter((o) => o.variant === v);
      const example = mine.find((o) => o.error)?.error?.replace(/^POST \S+: \d+ /, '');
      console.log(
        `#   ${v.id}: ${mine.length} → ${example ? `rejected: ${example.slice(0, 160)}` : 'accepted'}`,
      );
    }
  });

  it('the operator reports every accepted invalid policy in its conditions and an Event', async () => {
    const accepted = outcomes.filter((o) => o.error === undefined);
    assert.ok(accepted.length > 100, `${accepted.length} accepted invalid policies`);

    await waitFor(
      async () => {
        const list = (await e2e.api()({
          method: 'GET',
          path: `/apis/tidemark.dev/v1alpha1/namespaces/${NS}/scalingpolicies`,
        })) as { items: ScalingPolicy[] };
        const byName = new Map(list.items.map((p) => [p.metadata.name, p]));
        const missing: string[] = [];
        for (const o of accepted) {
          const e = o.variant.expect;
          if (e.rejected) continue;
          const c = byName.get(o.name)?.status?.conditions?.find((x) => x.type === e.condition);
          if (c?.status !== 'False' || c.reason !== e.reason)
            missing.push(`${o.name} (${c?.reason ?? 'none'})`);
        }
        // A throw is kept as the last reason, so a timeout names the policies still unreported.
        if (missing.length)
          throw new Error(`${missing.length} unreported, e.g. ${missing.slice(0, 5).join(', ')}`);
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 2_000, what: 'the conditions of every accepted invalid policy' },
    );
    // Events follow the status write by milliseconds.

    await waitFor(
      async () => {
        const evs = await e2e.events(NS);
        const noEvent = accepted
          .filter((o) => {
            const e = o.variant.expect;
            return !e.rejected && !evs.some((x) => x.involvedObject.name === o.name && x.reason === e.event);
          })
          .map((o) => o.name);
        if (noEvent.length)
          throw new Error(`${noEvent.length} without an Event, e.g. ${noEvent.slice(0, 5).join(', ')}`);
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 2_000, what: 'an Event of every accepted invalid policy' },
    );
    assert.equal(op.proc.exitCode, null, 'the operator is still running');
  });

  it('the valid policies beside them scale up and back down', async () => {
    // 250 rps at 50 per replica: 5 (the default scale-up allows +4 per 15 s from 1).
    await Promise.all(VALID.map((v) => e2e.waitForReplicas(NS, v, 5, 60_000)));
    await Promise.all(VALID.map((v) => e2e.setLoad(NS, v, 100)));
    await Promise.all(VALID.map((v) => e2e.waitForReplicas(NS, v, 2, 60_000)));
    const inert = (await e2e.api()({
      method: 'GET',
      path: `/apis/apps/v1/namespaces/${NS}/deployments/inert/scale`,
    })) as { spec: { replicas: number } };
    assert.equal(inert.spec.replicas, 2, 'the target of the malformed-Secret policies was not touched');
  });
});
