// The real KEDA in the sandbox (TIDEMARK_KEDA=1, sandbox/keda.sh): a KWOK Deployment under a
// ScaledObject (bench/live/keda.ts) whose Prometheus trigger reads the workload simulator's
// offered load scales up when the load rises, through KEDA's HPA in the sandbox's real
// kube-controller-manager, which reads the metric from KEDA's metrics API server through the
// aggregation layer. Run by `make test-keda` (a sandbox of its own; KEDA is built once into
// the cache, about 17 minutes cold, hence not in make test); not a *.test.ts file, so neither
// `make test-unit` nor the shared integration sandbox (which has no KEDA) picks it up.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  externalMetricPath,
  KEDA_METRIC_NAME,
  kedaAvailable,
  kedaHpaName,
  kedaUnavailableReason,
  scaledObjectFor,
} from '../../bench/live/keda.ts';
import { quantityToDecimal } from '../../src/convert/quantity.ts';
import {
  api,
  apply,
  createNamespace,
  deleteNamespace,
  deployment,
  offeredQuery,
  setLoad,
} from '../e2e/support.ts';
import { kubectl, promQuery, sandboxEnv, waitFor } from '../support/sandbox.ts';

const NS = `keda-e2e-${Date.now().toString(36)}`;
const NAME = 'web';
const CAPACITY_RPS = 100;
// Hang guards only (the machine is shared and slow): every wait ends as soon as it holds.
const LONG = 10 * 60_000;

interface Hpa {
  spec: {
    minReplicas?: number;
    maxReplicas: number;
    metrics?: Array<{ type: string; external?: { metric: { name: string } } }>;
  };
  status: {
    desiredReplicas?: number;
    currentMetrics?: Array<{
      type: string;
      external?: { metric: { name: string }; current: { averageValue?: string; value?: string } };
    }>;
  };
}
interface MetricValueList {
  items: Array<{ metricName: string; value: string }>;
}

const num = (q: string | undefined) => Number(quantityToDecimal(q) ?? Number.NaN);
const offered = async () => {
  const r = await promQuery(offeredQuery(NS, NAME));
  return r.length === 1 ? Number(r[0]?.value[1]) : undefined;
};
const hpa = () =>
  api()({
    method: 'GET',
    path: `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/${kedaHpaName(NAME)}`,
  }) as Promise<Hpa>;
const replicas = async () =>
  (
    (await api()({ method: 'GET', path: `/apis/apps/v1/namespaces/${NS}/deployments/${NAME}` })) as {
      spec: { replicas: number };
    }
  ).spec.replicas;

before(async () => {
  assert.equal(
    process.env.TIDEMARK_KEDA,
    '1',
    'this file needs a sandbox started with TIDEMARK_KEDA=1 (make test-keda)',
  );
  const env = sandboxEnv();
  assert.equal(await kedaAvailable(env.kubeconfig), true, await kedaUnavailableReason(api()));
  await createNamespace(NS);
  await apply([
    deployment(NS, NAME, 1, 50, { capacityRps: CAPACITY_RPS }),
    scaledObjectFor({
      namespace: NS,
      deployment: NAME,
      serverAddress: env.prometheusUrl,
      query: offeredQuery(NS, NAME),
      threshold: CAPACITY_RPS,
      pollingIntervalSeconds: 5,
      cooldownSeconds: 30,
      minReplicas: 1,
      maxReplicas: 10,
    }),
  ]);
  await waitFor(async () => (await offered()) === 50, {
    timeoutMs: LONG,
    what: 'the offered load of 50 rps in Prometheus',
  });
});
after(async () => {
  if (!process.env.TIDEMARK_E2E_KEEP) await deleteNamespace(NS);
});

test("KEDA's operator makes an HPA on its external metric, and the metrics API answers it with Prometheus' value", async () => {
  const h = await waitFor(() => hpa().catch(() => undefined), {
    timeoutMs: LONG,
    what: `HPA ${kedaHpaName(NAME)}`,
  });
  assert.equal(h.spec.minReplicas, 1);
  assert.equal(h.spec.maxReplicas, 10);
  assert.deepEqual(
    h.spec.metrics?.map((m) => [m.type, m.external?.metric.name]),
    [['External', KEDA_METRIC_NAME]],
  );
  // What the HPA controller reads, through the aggregation layer to the metrics API server in
  // its network namespace, which asks the operator, which asks Prometheus.
  const list = await waitFor(
    async () => {
      const out = JSON.parse(
        (await kubectl(['get', '--raw', externalMetricPath(NS, NAME)])).stdout,
      ) as MetricValueList;
      // The first answers may come before the operator's first poll of the scaler.
      return out.items.length === 1 && num(out.items[0]?.value) === 50 ? out : undefined;
    },
    { timeoutMs: LONG, what: `${KEDA_METRIC_NAME} from external.metrics.k8s.io` },
  );
  assert.equal(list.items[0]?.metricName, KEDA_METRIC_NAME);
  assert.equal(num(list.items[0]?.value), 50);
});

test('a rise in load scales the Deployment up through the real HPA, whose status shows the metric', async () => {
  assert.equal(await replicas(), 1, 'at 50 rps against 100 per replica, one replica');
  await setLoad(NS, NAME, 450);
  await waitFor(async () => (await offered()) === 450, {
    timeoutMs: LONG,
    what: 'the offered load of 450 rps in Prometheus',
  });
  // ceil(450 / 100) = 5, reached in one step from 1 (the HPA's default scale-up allows +4 pods).
  await waitFor(async () => (await replicas()) === 5 || undefined, {
    timeoutMs: LONG,
    what: 'the Deployment at 5 replicas',
  });
  // AverageValue: the total over the replicas the controller counted, 450 / 5 once it has
  // seen the 5 it asked for.
  const h = await waitFor(
    async () => {
      const cur = await hpa();
      const average = num(cur.status.currentMetrics?.[0]?.external?.current.averageValue);
      return cur.status.desiredReplicas === 5 && average === 90 ? cur : undefined;
    },
    { timeoutMs: LONG, what: 'the HPA status at 5 desired replicas and 90 rps per replica' },
  );
  const metric = h.status.currentMetrics?.[0];
  assert.equal(metric?.type, 'External');
  assert.equal(metric?.external?.metric.name, KEDA_METRIC_NAME);
  // The scale write is the controller-manager's: its Event on the HPA, from its HPA controller.
  const events = JSON.parse(
    (
      await kubectl([
        'get',
        'events',
        '-n',
        NS,
        '--field-selector',
        `involvedObject.name=${kedaHpaName(NAME)}`,
        '-o',
        'json',
      ])
    ).stdout,
  ) as {
    items: Array<{
      reason: string;
      message: string;
      source?: { component?: string };
      reportingComponent?: string;
    }>;
  };
  // The controller may take an intermediate step while Prometheus' rate catches up.
  const rescale = events.items.find(
    (e) => e.reason === 'SuccessfulRescale' && /New size: 5;/.test(e.message),
  );
  assert.ok(rescale, `no rescale to 5 on the HPA: ${JSON.stringify(events.items.map((e) => e.message))}`);
  assert.match(rescale.message, /external metric s0-prometheus/);
  assert.equal(rescale.source?.component ?? rescale.reportingComponent, 'horizontal-pod-autoscaler');
});
