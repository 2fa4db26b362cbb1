// KEDA ScaledObject (keda.sh/v1alpha1) → ScalingPolicy. KEDA wakes a workload from 0 itself
// and hands 1↔N to an HPA it creates, so the HPA's rules (legacy ones when the ScaledObject
// sets no behavior) apply between 1 and N, and cooldownPeriod only to going back to 0.
import {
  type Behavior,
  ConvertError,
  type ConvertOptions,
  convertBehavior,
  HPA_SYNC_SECONDS,
  int,
  lookupQuery,
  metricName,
  type Note,
  type Obj,
  obj,
  type PolicyMetric,
  type PolicyObject,
  policyFor,
  type Source,
  sourceOf,
  str,
  unknownFields,
} from './common.ts';
import { isPositiveDecimal, quantityToDecimal } from './quantity.ts';
import { resourceMetric } from './resource.ts';

export const KEDA_API_VERSION = 'keda.sh/v1alpha1';
const PAUSED = 'autoscaling.keda.sh/paused';
const PAUSED_REPLICAS = 'autoscaling.keda.sh/paused-replicas';

/** TriggerAuthentications found beside the ScaledObjects, by "namespace/name" (or "name"). */
export type AuthIndex = Map<string, Obj>;

interface Ctx {
  options: ConvertOptions;
  source: Source;
  target: PolicyObject['spec']['targetRef'];
  notes: Note[];
  names: Set<string>;
  auths: AuthIndex;
  address?: string;
  insecure: boolean;
  emptyIsZero: boolean;
  /** Trigger name → its PromQL, for a scalingModifiers suggestion. */
  queries: Map<string, string>;
  averageValueTriggers: number;
}

const SPEC_FIELDS = [
  'scaleTargetRef',
  'pollingInterval',
  'cooldownPeriod',
  'initialCooldownPeriod',
  'idleReplicaCount',
  'minReplicaCount',
  'maxReplicaCount',
  'fallback',
  'advanced',
  'triggers',
];

export function convertScaledObject(
  o: Obj,
  auths: AuthIndex,
  options: ConvertOptions = {},
): { policy: PolicyObject; notes: Note[] } {
  const source = sourceOf(o);
  const spec = obj(o.spec);
  const notes: Note[] = [];
  unknownFields(spec, SPEC_FIELDS, 'spec', notes);
  const ref = obj(spec.scaleTargetRef);
  const name = str(ref.name);
  if (!name) throw new ConvertError('spec.scaleTargetRef.name is required');
  const target = { apiVersion: str(ref.apiVersion) ?? 'apps/v1', kind: str(ref.kind) ?? 'Deployment', name };
  const minReplicas = bounds(spec, notes);
  const maxReplicas = int(spec.maxReplicaCount, 'spec.maxReplicaCount') ?? 100;
  if (minReplicas > maxReplicas) {
    throw new ConvertError(
      `spec.minReplicaCount ${minReplicas} is above spec.maxReplicaCount ${maxReplicas}`,
    );
  }
  const advanced = obj(spec.advanced);
  const ctx: Ctx = {
    options,
    source,
    target,
    notes,
    names: new Set(),
    auths,
    insecure: false,
    emptyIsZero: false,
    queries: new Map(),
    averageValueTriggers: 0,
  };
  const metrics = triggers(spec.triggers, ctx);
  const behavior = convertBehavior(advancedBehavior(advanced, notes), notes);
  cooldown(spec, minReplicas, behavior, notes);
  const fallback = convertFallback(spec.fallback, minReplicas, maxReplicas, metrics.length, ctx);
  scalingModifiers(advanced.scalingModifiers, ctx);
  closingNotes(advanced, ctx);
  const policy = policyFor(source, {
    targetRef: target,
    minReplicas,
    maxReplicas,
    pollingIntervalSeconds: polling(spec, minReplicas, notes),
    mode: paused(o, target, notes),
    prometheus: {
      address: ctx.address ?? 'http://prometheus.invalid:9090',
      ...(ctx.insecure ? { insecureSkipVerify: true } : {}),
    },
    metrics,
    behavior,
    ...(fallback ? { fallback } : {}),
  });
  return { policy, notes };
}

/** spec.advanced: the HPA behavior KEDA passes on; its other fields are handled or named. */
function advancedBehavior(advanced: Obj, notes: Note[]): unknown {
  unknownFields(
    advanced,
    ['restoreToOriginalReplicaCount', 'horizontalPodAutoscalerConfig', 'scalingModifiers'],
    'spec.advanced',
    notes,
  );
  const hpaConfig = obj(advanced.horizontalPodAutoscalerConfig);
  unknownFields(hpaConfig, ['name', 'behavior'], 'spec.advanced.horizontalPodAutoscalerConfig', notes);
  return hpaConfig.behavior;
}

function closingNotes(advanced: Obj, ctx: Ctx): void {
  if (advanced.restoreToOriginalReplicaCount === true) {
    ctx.notes.push({
      level: 'note',
      text: 'restoreToOriginalReplicaCount: deleting a ScalingPolicy leaves the replicas as they are; scale back by hand if needed.',
    });
  }
  if (ctx.address === undefined) {
    ctx.notes.push({
      level: 'todo',
      path: ['spec', 'prometheus'],
      text: 'no prometheus trigger names a server: set the address.',
    });
  }
  if (ctx.emptyIsZero) {
    ctx.notes.push({
      level: 'note',
      path: ['spec', 'metrics'],
      text: 'KEDA read an empty query result as 0 (ignoreNullValues defaults to true); Tidemark reads it as a metric error, which never scales down. Append `or vector(0)` to a query if no series really means no load.',
    });
  }
}

/** minReplicaCount (default 0); idleReplicaCount has no equivalent, so the safe side is kept. */
function bounds(spec: Obj, notes: Note[]): number {
  const min = int(spec.minReplicaCount, 'spec.minReplicaCount') ?? 0;
  const idle = int(spec.idleReplicaCount, 'spec.idleReplicaCount');
  if (idle !== undefined && idle < min) {
    notes.push({
      level: 'note',
      path: ['spec', 'minReplicas'],
      text: `KEDA went to idleReplicaCount ${idle} when no trigger was active and straight back to ${min} when one was. Tidemark wakes from 0 to 1, not to ${min}, so minReplicas stays ${min} (no scale to zero); set it to 0 to scale to zero.`,
    });
  }
  return min;
}

/** KEDA polls only to wake from 0; its HPA decides every 15 s. One loop here, as often as the faster. */
function polling(spec: Obj, minReplicas: number, notes: Note[]): number {
  const interval = int(spec.pollingInterval, 'spec.pollingInterval') ?? 30;
  const seconds = Math.max(1, Math.min(interval, HPA_SYNC_SECONDS));
  if (seconds !== interval) {
    const wake =
      minReplicas === 0
        ? `KEDA checked its triggers every ${interval} s to wake the workload from 0`
        : `KEDA's pollingInterval (${interval} s) only paces waking from 0, which minReplicaCount ${minReplicas} rules out`;
    notes.push({
      level: 'note',
      path: ['spec', 'pollingIntervalSeconds'],
      text: `${wake}; between 1 and N the HPA it created decided every ${HPA_SYNC_SECONDS} s. Tidemark decides in one loop, every ${seconds} s.`,
    });
  }
  return seconds;
}

/** v1beta1's bound on behavior.scaleToZeroDelaySeconds (crds/scalingpolicy.yaml). */
const MAX_ZERO_DELAY = 86400;

/**
 * KEDA goes to 0 once cooldownPeriod has passed without an active trigger, past its HPA's
 * scale-down window, which governs only N → 1. behavior.scaleToZeroDelaySeconds is that same
 * split (src/policy/scale-to-zero.ts), so the cooldown maps to it and the window stays the
 * HPA's (or the ScaledObject's advanced.horizontalPodAutoscalerConfig.behavior).
 */
function cooldown(spec: Obj, minReplicas: number, behavior: Behavior, notes: Note[]): void {
  const period = int(spec.cooldownPeriod, 'spec.cooldownPeriod') ?? 300;
  const initial = int(spec.initialCooldownPeriod, 'spec.initialCooldownPeriod') ?? 0;
  const path = ['spec', 'behavior', 'scaleToZeroDelaySeconds'];
  if (minReplicas > 0) {
    if (spec.cooldownPeriod !== undefined) {
      notes.push({
        level: 'note',
        path: ['spec', 'minReplicas'],
        text: `cooldownPeriod ${period} s only applies to scaling to 0, which minReplicaCount ${minReplicas} rules out (KEDA ignores it too).`,
      });
    }
    return;
  }
  const delay = Math.min(Math.max(period, 0), MAX_ZERO_DELAY);
  behavior.scaleToZeroDelaySeconds = delay;
  let text = `KEDA went to 0 after cooldownPeriod ${period} s without an active trigger, and so does this policy once every metric has been at or below its activation threshold that long`;
  if (delay !== period) text += ` (capped at ${delay} s, the most v1beta1 allows)`;
  text += `. Between 1 and N the scale-down window (${behavior.scaleDown.stabilizationWindowSeconds} s) governs, as it did KEDA's HPA.`;
  notes.push({ level: 'note', path, text });
  if (initial > 0) {
    notes.push({
      level: 'note',
      path,
      text: `initialCooldownPeriod ${initial} s has no equivalent: a new policy may scale to 0 once this delay has passed after its first decision.`,
    });
  }
}

function triggers(list: unknown, ctx: Ctx): PolicyMetric[] {
  if (!Array.isArray(list) || list.length === 0) throw new ConvertError('spec.triggers is empty');
  const out: PolicyMetric[] = [];
  list.forEach((raw, i) => {
    const t = obj(raw);
    unknownFields(
      t,
      ['type', 'name', 'metadata', 'metricType', 'authenticationRef', 'useCachedMetrics'],
      `spec.triggers[${i}]`,
      ctx.notes,
    );
    const path = ['spec', 'metrics', out.length];
    const type = String(t.type ?? '');
    if (type === 'prometheus') out.push(prometheusTrigger(t, i, path, ctx));
    else if (type === 'cpu' || type === 'memory') out.push(resourceTrigger(t, i, path, ctx));
    else out.push(otherTrigger(t, i, path, ctx));
  });
  return out;
}

const PROMETHEUS_METADATA = [
  'serverAddress',
  'query',
  'threshold',
  'activationThreshold',
  'ignoreNullValues',
  'unsafeSsl',
  'authModes',
  'metricName',
];
/** Metadata that changes which series a query sees: no ScalingPolicy field says the same. */
const PROMETHEUS_TENANCY = ['namespace', 'customHeaders', 'queryParameters', 'cortexOrgID'];

function prometheusTrigger(t: Obj, i: number, path: (string | number)[], ctx: Ctx): PolicyMetric {
  const where = `spec.triggers[${i}]`;
  const meta = obj(t.metadata);
  for (const k of Object.keys(meta)) {
    if (PROMETHEUS_METADATA.includes(k)) continue;
    const why = PROMETHEUS_TENANCY.includes(k)
      ? 'has no ScalingPolicy equivalent (it changes which series the query sees): put a proxy that adds it on the allow-list, or fold it into the query'
      : 'is not known to tidemark convert';
    ctx.notes.push({ level: 'todo', path, text: `${where}.metadata.${k} ${why}.` });
  }
  const address = str(meta.serverAddress);
  const query = str(meta.query);
  if (!address || !query)
    throw new ConvertError(`${where}: a prometheus trigger needs metadata.serverAddress and metadata.query`);
  if (ctx.address === undefined) ctx.address = address;
  else if (ctx.address !== address) {
    ctx.notes.push({
      level: 'todo',
      path,
      text: `${where} reads ${address}, but a ScalingPolicy has one Prometheus (${ctx.address}); query this metric through that one, or split the workload's metrics.`,
    });
  }
  const type = t.metricType === undefined ? 'AverageValue' : t.metricType;
  if (type !== 'AverageValue' && type !== 'Value')
    throw new ConvertError(`${where}: metricType ${JSON.stringify(type)} is not AverageValue or Value`);
  if (type === 'AverageValue') ctx.averageValueTriggers++;
  const value = quantityToDecimal(meta.threshold);
  if (value === undefined || !isPositiveDecimal(value))
    throw new ConvertError(
      `${where}: metadata.threshold must be a positive number, got ${JSON.stringify(meta.threshold)}`,
    );
  let activation: string | undefined;
  if (meta.activationThreshold !== undefined) {
    activation = quantityToDecimal(meta.activationThreshold);
    if (activation === undefined || activation.startsWith('-')) {
      throw new ConvertError(
        `${where}: metadata.activationThreshold must be a number ≥ 0 here, got ${JSON.stringify(meta.activationThreshold)}`,
      );
    }
  }
  if (String(meta.ignoreNullValues ?? 'true').toLowerCase() !== 'false') ctx.emptyIsZero = true;
  if (String(meta.unsafeSsl ?? 'false').toLowerCase() === 'true') ctx.insecure = true;
  auth(t, meta, where, ctx);
  if (t.useCachedMetrics === true || t.useCachedMetrics === 'true') {
    ctx.notes.push({
      level: 'note',
      path,
      text: `${where}.useCachedMetrics: Tidemark reads each query once per polling interval anyway.`,
    });
  }
  const name = metricName(str(t.name) ?? str(meta.metricName) ?? 'prometheus', ctx.names);
  if (str(t.name)) ctx.queries.set(str(t.name)!, query);
  return {
    name,
    query,
    target: { type, value },
    ...(activation !== undefined ? { activationThreshold: activation } : {}),
  };
}

function auth(t: Obj, meta: Obj, where: string, ctx: Ctx): void {
  const ref = obj(t.authenticationRef);
  const modes = str(meta.authModes);
  if (!str(ref.name) && !modes) return;
  const kind = str(ref.kind) ?? 'TriggerAuthentication';
  const found = ctx.auths.get(`${ctx.source.namespace ?? ''}/${ref.name}`) ?? ctx.auths.get(`/${ref.name}`);
  const secrets = (
    Array.isArray(obj(found?.spec).secretTargetRef) ? (obj(found?.spec).secretTargetRef as unknown[]) : []
  )
    .map((s) => obj(s))
    .map((s) => `${s.parameter} from Secret ${s.name} key ${s.key}`);
  ctx.notes.push({
    level: 'todo',
    path: ['spec', 'prometheus'],
    text:
      `${where} authenticated${modes ? ` (authModes ${modes})` : ''}${str(ref.name) ? ` through ${kind} ${ref.name}` : ''}` +
      `${secrets.length ? ` (${secrets.join('; ')})` : ''}. Tidemark reads credentials from a Secret in the policy's namespace with ` +
      '`token` (bearer), or `username` and `password` (basic), and optionally `ca.crt`: create it and set spec.prometheus.authSecretRef.name. ' +
      'TLS client certificates and custom headers have no equivalent.',
  });
}

/** KEDA's cpu/memory scalers are the HPA's Resource metrics. */
function resourceTrigger(t: Obj, i: number, path: (string | number)[], ctx: Ctx): PolicyMetric {
  const meta = obj(t.metadata);
  const resource = String(t.type);
  const type = str(t.metricType) ?? str(meta.type) ?? 'Utilization';
  const container = str(meta.containerName);
  const name = metricName(str(t.name) ?? resource, ctx.names);
  const value = type === 'Utilization' ? { averageUtilization: meta.value } : { averageValue: meta.value };
  return resourceMetric(
    {
      resource,
      ...(container ? { container } : {}),
      target: { type, ...value },
      kind: ctx.target.kind,
      name: ctx.target.name,
      ...(ctx.source.namespace ? { namespace: ctx.source.namespace } : {}),
      described: `spec.triggers[${i}] (${resource} trigger)`,
    },
    name,
    lookupQuery(ctx.options, ctx.source.name, [name, resource]),
    ctx.notes,
    path,
  );
}

const THRESHOLD_KEYS = [
  'value',
  'threshold',
  'targetValue',
  'queueLength',
  'lagThreshold',
  'listLength',
  'targetPendingRequests',
];

/** Any other scaler reads its source directly: a placeholder that fails (so never scales down) until replaced. */
function otherTrigger(t: Obj, i: number, path: (string | number)[], ctx: Ctx): PolicyMetric {
  const type = String(t.type ?? 'unknown');
  const meta = obj(t.metadata);
  const key = THRESHOLD_KEYS.find(
    (k) => quantityToDecimal(meta[k]) !== undefined && isPositiveDecimal(quantityToDecimal(meta[k])!),
  );
  const value = key ? quantityToDecimal(meta[key])! : '1';
  const name = metricName(str(t.name) ?? type, ctx.names);
  const targetType = t.metricType === 'Value' ? 'Value' : 'AverageValue';
  const given = lookupQuery(ctx.options, ctx.source.name, [name, type]);
  const source = key ? `metadata.${key}` : 'a guess';
  if (given !== undefined) {
    ctx.notes.push({
      level: 'note',
      path,
      text: `spec.triggers[${i}] ("${type}" trigger) uses the --query given for "${name}", against the target from ${source}.`,
    });
    return { name, query: given, target: { type: targetType, value } };
  }
  const shown = Object.entries(meta)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  ctx.notes.push({
    level: 'todo',
    path,
    text:
      `spec.triggers[${i}] is a "${type}" trigger, which reads its source directly, not Prometheus (metadata: ${shown || 'none'}). ` +
      `Replace this placeholder with PromQL over an exporter of the same number (e.g. kafka_consumergroup_lag, rabbitmq_queue_messages_ready), ` +
      `or pass --query ${name}=PROMQL, and check the target (${source}). Until then the query finds no series: the metric fails, which never scales down.`,
  });
  return {
    name,
    query: `TODO_promql_for_keda_${type.replace(/[^a-zA-Z0-9_]/g, '_')}_trigger`,
    target: { type: targetType, value },
  };
}

function convertFallback(
  raw: unknown,
  min: number,
  max: number,
  metricCount: number,
  ctx: Ctx,
): PolicyObject['spec']['fallback'] | undefined {
  if (raw === undefined) return undefined;
  const f = obj(raw);
  const path = ['spec', 'fallback'];
  const note = (text: string) => ctx.notes.push({ level: 'note', path, text });
  if (ctx.averageValueTriggers === 0) {
    ctx.notes.push({
      level: 'note',
      path: ['spec'],
      text: 'KEDA ignores fallback when no trigger has metricType AverageValue, so no fallback is set.',
    });
    return undefined;
  }
  const threshold = Math.min(
    100,
    Math.max(1, int(f.failureThreshold, 'spec.fallback.failureThreshold') ?? 3),
  );
  const replicas = int(f.replicas, 'spec.fallback.replicas');
  const mode = str(f.behavior) ?? 'static';
  if (metricCount > 1) {
    note(
      'KEDA applied the fallback per failing trigger; Tidemark applies it only when every metric fails (a failing metric alone never scales down, and the others may still scale up).',
    );
  }
  if (mode === 'currentReplicas' || mode === 'currentReplicasIfHigher' || replicas === undefined) {
    if (mode === 'currentReplicasIfHigher') {
      note(
        `KEDA used the larger of the current count and ${replicas}; Tidemark cannot, so the fallback holds the current count (never a scale-down, but no scale-up to ${replicas} either).`,
      );
    }
    return { failureThreshold: threshold };
  }
  if (mode === 'currentReplicasIfLower') {
    note(
      `KEDA used the smaller of the current count and ${replicas}; Tidemark applies ${replicas}, which also scales up when fewer are running.`,
    );
  } else if (mode !== 'static') {
    throw new ConvertError(`spec.fallback.behavior ${JSON.stringify(mode)} is not known`);
  }
  const clamped = Math.min(max, Math.max(min, replicas));
  if (clamped !== replicas)
    note(
      `fallback.replicas ${replicas} lies outside [${min}, ${max}]: the HPA KEDA created would clamp it to ${clamped}, and so does this policy.`,
    );
  return { failureThreshold: threshold, replicas: clamped };
}

function scalingModifiers(raw: unknown, ctx: Ctx): void {
  if (raw === undefined) return;
  const m = obj(raw);
  const formula = String(m.formula ?? '');
  let suggestion = '';
  const ids = formula.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  if (/^[\w\s.+\-*/()]+$/.test(formula) && ids.every((id) => ctx.queries.has(id))) {
    const expr = formula.replace(/[A-Za-z_][A-Za-z0-9_]*/g, (id) => `scalar(${ctx.queries.get(id)})`);
    suggestion = ` For this formula: vector(${expr})`;
  }
  ctx.notes.push({
    level: 'todo',
    path: ['spec', 'metrics'],
    text:
      `spec.advanced.scalingModifiers combined the triggers with the formula \`${formula}\` into one metric ` +
      `(target ${m.target ?? '?'}, activationTarget ${m.activationTarget ?? 0}, metricType ${m.metricType ?? 'AverageValue'}). ` +
      `Tidemark has no formulas: it proposes the largest count over its metrics (below, one per trigger). ` +
      `Write the formula in PromQL as one metric with that target instead.${suggestion}`,
  });
}

function paused(o: Obj, target: PolicyObject['spec']['targetRef'], notes: Note[]): 'Active' | 'Paused' {
  const ann = obj(obj(o.metadata).annotations);
  const path = ['spec', 'mode'];
  if (ann[PAUSED_REPLICAS] !== undefined) {
    const n = String(ann[PAUSED_REPLICAS]);
    notes.push({
      level: 'note',
      path,
      text: `${PAUSED_REPLICAS}: "${n}": KEDA scaled ${target.kind}/${target.name} to ${n} and stopped. Paused leaves the replicas as they are; to hold ${n}: kubectl scale ${target.kind.toLowerCase()}/${target.name} --replicas=${n}. Set mode: Active to resume.`,
    });
    return 'Paused';
  }
  if (ann[PAUSED] !== undefined && String(ann[PAUSED]).toLowerCase() !== 'false') {
    notes.push({
      level: 'note',
      path,
      text: `${PAUSED}: KEDA held the current count, as Paused does. Set mode: Active to resume.`,
    });
    return 'Paused';
  }
  return 'Active';
}
