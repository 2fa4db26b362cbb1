// A ScaledObject converted by `tidemark convert` scales down in KEDA's shape (issue 18): its HPA
// takes N → 1 on the scale-down window, and only the last step, 1 → 0, waits cooldownPeriod.
// The converted policy runs in the engine; KEDA is the simulator's model (keda-baseline.ts)
// configured from the same ScaledObject. The metric is a step, so both read the same values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertObjects } from '../../src/convert/index.ts';
import { decide } from '../../src/policy/engine.ts';
import type { EngineState } from '../../src/policy/types.ts';
import { KedaController } from '../../src/simulate/keda-baseline.ts';
import { validatedPolicySpec } from '../../src/simulate/policy.ts';

const DROP = 600;

function scaledObject(cooldownPeriod: number) {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'worker', namespace: 'jobs' },
    spec: {
      scaleTargetRef: { name: 'worker' },
      minReplicaCount: 0,
      maxReplicaCount: 20,
      cooldownPeriod,
      triggers: [
        {
          type: 'prometheus',
          metadata: {
            serverAddress: 'http://prometheus.monitoring:9090',
            query: 'sum(rate(jobs_total[1m]))',
            threshold: '10',
            activationThreshold: '5',
          },
        },
      ],
    },
  };
}

/** 100 (10 replicas) until DROP, 0 after: when each strategy first reaches ≤ 1 and 0. */
function run(cooldownPeriod: number) {
  const out = convertObjects([scaledObject(cooldownPeriod)]);
  const converted = out.converted[0] ?? assert.fail(JSON.stringify(out.failures));
  const spec = validatedPolicySpec(converted.policy.spec as unknown as Record<string, unknown>);
  const keda = new KedaController({
    minReplicas: 0,
    maxReplicas: 20,
    target: 10,
    targetType: 'AverageValue',
    activationThreshold: 5,
    cooldownSeconds: cooldownPeriod,
  });
  const load = (t: number) => (t < DROP ? 100 : 0);
  let tidemark = 10;
  let kedaReplicas = 10;
  let state: EngineState | undefined;
  const reached = { tidemark: { one: -1, zero: -1 }, keda: { one: -1, zero: -1 } };
  for (let t = 0; t <= DROP + 3 * cooldownPeriod; t += 15) {
    if (t % spec.pollingIntervalSeconds === 0) {
      const o = decide({
        spec,
        state,
        observations: [{ name: spec.metrics[0]!.name, ok: true, value: load(t) }],
        currentReplicas: tidemark,
        now: t * 1000,
      });
      tidemark = o.decision.desiredReplicas;
      state = o.state;
    }
    kedaReplicas = keda.sync(t, kedaReplicas, load(t));
    for (const [name, n] of [
      ['tidemark', tidemark],
      ['keda', kedaReplicas],
    ] as const) {
      if (t < DROP) continue;
      if (n <= 1 && reached[name].one < 0) reached[name].one = t;
      if (n === 0 && reached[name].zero < 0) reached[name].zero = t;
    }
  }
  return { spec, reached };
}

describe('a converted ScaledObject scales down as KEDA did', () => {
  for (const cooldown of [300, 600, 1200]) {
    it(`cooldownPeriod ${cooldown}: N → 1 on the HPA's 300 s window, 1 → 0 after the cooldown`, () => {
      const { spec, reached } = run(cooldown);
      assert.equal(spec.behavior.scaleDown.stabilizationWindowSeconds, 300, "the HPA's default window");
      assert.equal(spec.behavior.scaleToZeroDelaySeconds, cooldown);
      // KEDA polls every 30 s: its steps may come up to one poll later.
      const near = (a: number, b: number, what: string) =>
        assert.ok(Math.abs(a - b) <= 30, `${what}: tidemark at ${a - DROP} s, KEDA at ${b - DROP} s`);
      near(reached.tidemark.one, reached.keda.one, 'down to 1');
      near(reached.tidemark.zero, reached.keda.zero, 'down to 0');
      assert.ok(reached.tidemark.one - DROP <= 300, `1 within the window: ${reached.tidemark.one - DROP} s`);
      assert.ok(reached.tidemark.zero - DROP >= cooldown, `0 not before the cooldown`);
    });
  }
});
