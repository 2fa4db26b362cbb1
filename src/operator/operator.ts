import type { Server } from 'node:http';
import { hostname } from 'node:os';
import {
  type KubeConfig,
  type KubernetesObject,
  ListWatch,
  makeInformer,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { Collector } from '../collector/index.ts';
import type { ScalingPolicy } from '../crd/types.generated.ts';
import {
  type ApiObserver,
  encode,
  httpTransport,
  InFlightWrites,
  isNotFound,
  type KubeTransport,
  resourceOfPath,
  withDeadlineBudget,
} from '../kube/api-client.ts';
import { DiscoveryCache } from '../kube/discovery.ts';
import { EventQueue, EventRecorder } from '../kube/events.ts';
import { TokenBucket } from '../kube/rate-limit.ts';
import { createOperatorMetrics, type OperatorMetrics, type PolicyMetricsLevel } from '../metrics/registry.ts';
import { POLICY_API_VERSION, POLICY_PLURAL, PolicyReconciler } from '../reconciler/reconciler.ts';
import { AllowList, configMapInformer, watchAllowListConfigMap } from './allowlist.ts';
import { compactingWatch, listPaged, withoutManagedFields } from './compacting-watch.ts';
import { startHealthServer } from './http.ts';
import { MAX_RETRY_MS, restartOnError } from './informer-restart.ts';
import { kubeLeaseClient, LeaderElector } from './leader.ts';
import { Membership } from './membership.ts';
import { claimOf as claim, type HpaLike, otherOwner, type PolicyClaim, targetKey } from './ownership.ts';
import { PolicyStore, REFILL_BY_LIST_ABOVE } from './policy-store.ts';
import { OVER_INTERVAL, TickScheduler } from './scheduler.ts';
import { kindKey, TargetWatches } from './target-watch.ts';

export interface OperatorOptions {
  kubeconfig: KubeConfig;
  log: Logger;
  /** Watch only these namespaces; empty or undefined: all namespaces. */
  namespaces?: string[];
  metricsPort: number;
  metricsHost?: string;
  allowedPrometheus: string[];
  /** A ConfigMap (key `allowed`) whose entries are allowed too; watched, so edits apply at once. */
  allowedPrometheusConfigMap?: { namespace: string; name: string };
  leaseNamespace: string;
  leaseName: string;
  identity?: string;
  maxConcurrentTicks: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Client-side limit of API requests per second (sustained) and at once (burst). */
  kubeApiQps?: number;
  kubeApiBurst?: number;
  /** How much /metrics says per policy (src/metrics/registry.ts PolicyMetricsLevel); default basic. */
  policyMetrics?: PolicyMetricsLevel;
  registry?: Registry;
  /**
   * Active-active (docs/sharding.md): every replica holds a member Lease of its own
   * (named after leaseName) and acts on its share of the policies. Off: one leader acts.
   */
  sharding?: boolean;
  /** Tests only: wraps the Lease transport (a fake that refuses Lease writes = a partition). */
  wrapLeaseTransport?: (t: KubeTransport) => KubeTransport;
}

/** Defaults of --kube-api-qps/--kube-api-burst: client-go's 5/10, raised tenfold for an operator (docs/api-client.md). */
export const DEFAULT_KUBE_API_QPS = 50;
export const DEFAULT_KUBE_API_BURST = 100;

/**
 * The operator's API transports: one shared by everything, under the QPS/burst
 * limit; one for the Lease, with connections of its own and outside the limit,
 * so a busy operator never starves its own renewals (client-go's elector has its
 * own client too); and the leader's writes, which end before the lease could
 * pass to another replica, and which a process that does not lead never sends
 * (docs/api-client.md).
 */
function apiClients(o: OperatorOptions, m: OperatorMetrics, writeBudgetMs: () => number) {
  const observer: ApiObserver = {
    onRequest: (e) => m.apiRequests.inc({ verb: e.method, code: e.code, resource: resourceOfPath(e.path) }),
    onThrottled: (e) => m.apiThrottleWait.observe({ source: e.source }, e.seconds),
  };
  const transport = httpTransport(o.kubeconfig, {
    maxSockets: Math.max(8, o.maxConcurrentTicks * 2),
    limiter: new TokenBucket(o.kubeApiQps ?? DEFAULT_KUBE_API_QPS, o.kubeApiBurst ?? DEFAULT_KUBE_API_BURST),
    observer,
  });
  const realLease = httpTransport(o.kubeconfig, { maxSockets: 2, observer });
  const leaseTransport = o.wrapLeaseTransport ? o.wrapLeaseTransport(realLease) : realLease;
  const writes = new InFlightWrites();
  const fenced = withDeadlineBudget(writes.wrap(transport), (req) =>
    req.method === 'GET' ? undefined : writeBudgetMs(),
  );
  return { transport, leaseTransport, fenced, writes };
}

/** The Prometheus collector, with Secrets read only from the policy's own namespace. */
function newCollector(
  o: OperatorOptions,
  m: OperatorMetrics,
  transport: KubeTransport,
  addressPolicy: AllowList,
) {
  const log = o.log;
  return new Collector({
    addressPolicy,
    // Only ever the policy's own namespace (the collector passes it); values never logged.
    readSecret: async (namespace, name) =>
      (await transport({
        method: 'GET',
        path: `/api/v1/namespaces/${encode(namespace)}/secrets/${encode(name)}`,
      })) as {
        data?: Record<string, string>;
      },
    observer: {
      onQuery(e) {
        m.queryDuration.observe({ outcome: e.outcome }, e.durationSeconds);
        if (e.outcome === 'error') m.queryErrors.inc({ kind: e.errorKind ?? 'unknown' });
      },
    },
    logger: log,
  });
}

type Informer = ReturnType<typeof makeInformer<KubernetesObject>>;

export function defaultIdentity(): string {
  return `${process.env.POD_NAME ?? hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The running operator: informers on ScalingPolicies, one timer per policy,
 * leader election, /metrics, /healthz, /readyz, graceful shutdown. A standby
 * keeps its informers and timers warm but runs no tick.
 */
export class Operator {
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  readonly #o: OperatorOptions;
  readonly #transport: KubeTransport;
  /** The fenced writes in flight: stopped before the Lease is released. */
  readonly #writes: InFlightWrites;
  /** Every watched policy: in full the ones this replica owns, stubs of the others (policy-store.ts). */
  readonly #policies: PolicyStore;
  /** Policy uids by targetKey: the owner check of a tick looks at its own target only. */
  readonly #byTarget = new Map<string, Set<string>>();
  /** HPAs in the watched namespaces (autoscaling/v2), by uid: a target an HPA scales is not ours. */
  readonly #hpas = new Map<string, HpaLike>();
  readonly #informers: Informer[] = [];
  /** The ScalingPolicy CRD is not installed (the list answered 404): nothing ticks. */
  #crdMissing = false;
  readonly #synced = new Set<Informer>();
  readonly #scheduler: TickScheduler;
  readonly #reconciler: PolicyReconciler;
  /** The policies' targets, watched per kind; with the number of policies naming each kind. */
  readonly #targets: TargetWatches;
  readonly #kindRefs = new Map<string, number>();
  readonly #elector: LeaderElector;
  /** Set with --sharding=on: this replica's membership; the elector then stays idle. */
  readonly #shards: Membership | undefined;
  /** The policies this replica owned at the last membership change (sharding). */
  #owned = new Set<string>();
  /** Whether the last membership change said this replica acts (sharding). */
  #acting = false;
  readonly #events: EventQueue;
  readonly #collector: Collector;
  readonly #allowList: AllowList;
  #allowListWatch: { stop(): Promise<void> } | undefined;
  #server: Server | undefined;
  #port = 0;
  #stopping = false;
  #restartTimers = new Set<NodeJS.Timeout>();

  constructor(o: OperatorOptions) {
    this.#o = o;
    this.identity = o.identity ?? defaultIdentity();
    this.metrics = createOperatorMetrics(o.registry ?? new Registry(), o.policyMetrics ?? 'basic');
    const log = o.log;
    const m = this.metrics;
    const { transport, leaseTransport, fenced, writes } = apiClients(o, m, () =>
      this.#shards ? this.#shards.writeBudgetMs() : this.#elector.writeBudgetMs(),
    );
    this.#transport = transport;
    this.#writes = writes;
    this.#policies = this.#newPolicyStore();
    // One allow-list for the collector and the reconciler, so a ConfigMap edit reaches both.
    const addressPolicy = new AllowList(o.allowedPrometheus);
    this.#allowList = addressPolicy;
    this.#collector = newCollector(o, m, transport, addressPolicy);
    this.#elector = this.#newElector(leaseTransport);
    this.#shards = o.sharding ? this.#newMembership(leaseTransport) : undefined;
    this.#scheduler = new TickScheduler({
      maxConcurrent: o.maxConcurrentTicks,
      run: (uid, dueAt) => this.#tick(uid, dueAt),
      onSkip: (uid) => {
        const p = this.#policies.get(uid);
        log.debug(
          { namespace: p?.metadata.namespace, policy: p?.metadata.name },
          'tick skipped: previous still running',
        );
      },
    });
    this.#scheduler.setEnabled(false);
    this.#events = new EventQueue(
      new EventRecorder(fenced, {
        instance: this.identity,
        log,
        onOutcome: (outcome) => m.events.inc({ outcome }),
      }),
      { onDrop: () => m.events.inc({ outcome: 'queue_dropped' }) },
    );
    this.#targets = new TargetWatches({
      kubeconfig: o.kubeconfig,
      transport,
      ...(o.namespaces ? { namespaces: o.namespaces } : {}),
      log,
      wanted: (apiVersion, kind) => (this.#kindRefs.get(kindKey(apiVersion, kind)) ?? 0) > 0,
    });
    this.#reconciler = new PolicyReconciler({
      transport: fenced,
      discovery: new DiscoveryCache(transport),
      targets: this.#targets,
      collector: this.#collector,
      addressPolicy,
      events: this.#events,
      metrics: m,
      log,
      mayAct: (uid) =>
        !this.#stoppingHard && !this.#crdMissing && this.#mayActOn(uid) && this.#scheduler.has(uid),
      otherOwner: (p) => otherOwner(claim(p), this.#claimsOn(keyOf(p)), this.#hpas.values()),
      isCurrent: (p) =>
        this.#policies.get(p.metadata.uid ?? '')?.metadata.generation === p.metadata.generation,
    });
  }

  /**
   * Sharding: only the policies this replica owns are held in full. One leader (or its
   * standby, which must be ready to act on all at once) holds every policy in full.
   */
  #newPolicyStore(): PolicyStore {
    const path = (ns?: string) =>
      ns
        ? `/apis/${POLICY_API_VERSION}/namespaces/${encode(ns)}/${POLICY_PLURAL}`
        : `/apis/${POLICY_API_VERSION}/${POLICY_PLURAL}`;
    const scopes = this.#o.namespaces?.length ? this.#o.namespaces : [undefined];
    return new PolicyStore({
      holdsFull: (uid) => !this.#shards || (this.#acting && this.#shards.assigned(uid)),
      read: async (ns, name) => {
        try {
          const p = await this.#transport({ method: 'GET', path: `${path(ns)}/${encode(name)}` });
          return asPolicy(p as KubernetesObject);
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      list: (keep) =>
        Promise.all(scopes.map((ns) => listPaged(this.#transport, path(ns), (p) => keep(asPolicy(p))))),
    });
  }

  /** Leadership switches the scheduler: only the leader ticks; a new leader acts at once. */
  #newElector(leaseTransport: KubeTransport): LeaderElector {
    const o = this.#o;
    const log = o.log;
    const m = this.metrics;
    return new LeaderElector({
      client: kubeLeaseClient(leaseTransport, o.leaseNamespace, o.leaseName, isNotFound),
      identity: this.identity,
      ...(o.leaseDurationMs ? { leaseDurationMs: o.leaseDurationMs } : {}),
      ...(o.renewDeadlineMs ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
      ...(o.retryPeriodMs ? { retryPeriodMs: o.retryPeriodMs } : {}),
      onStartedLeading: () => {
        log.info({ identity: this.identity, lease: `${o.leaseNamespace}/${o.leaseName}` }, 'became leader');
        // Whoever led before wrote the status; it is the truth again.
        this.#reconciler.reset();
        m.leader.set(1);
        // Each policy ticks at its phase (scheduler.ts): the first ticks spread over one
        // interval instead of every policy at once, which queued thousands of ticks behind
        // the concurrency limit and made every one of them late.
        this.#scheduler.setEnabled(true);
      },
      onStoppedLeading: () => {
        log.warn({ identity: this.identity }, 'lost leadership: standing by');
        m.leader.set(0);
        this.#scheduler.setEnabled(false);
      },
      onError: (err) => log.debug({ err: String(err) }, 'lease request failed'),
    });
  }

  /**
   * Sharding: a replica ticks while it is an acting member; a policy that moved
   * here starts from its status (another replica wrote it) and acts at once.
   */
  #newMembership(leaseTransport: KubeTransport): Membership {
    const o = this.#o;
    const m = this.metrics;
    return new Membership({
      transport: leaseTransport,
      namespace: o.leaseNamespace,
      group: o.leaseName,
      identity: this.identity,
      isNotFound,
      ...(o.leaseDurationMs ? { leaseDurationMs: o.leaseDurationMs } : {}),
      ...(o.renewDeadlineMs ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
      ...(o.retryPeriodMs ? { retryPeriodMs: o.retryPeriodMs } : {}),
      onChange: ({ acting, members }) => {
        m.leader.set(acting ? 1 : 0);
        m.shardMembers.set(members.length);
        this.#acting = acting;
        this.#scheduler.setEnabled(acting);
        this.#reassign();
        o.log.info({ identity: this.identity, acting, members, owned: this.#owned.size }, 'shard membership');
      },
      onError: (err) => o.log.debug({ err: String(err) }, 'member lease request failed'),
    });
  }

  /**
   * Which policies are ours now; the ones that just moved here forget their memory and tick
   * (read in full first: one list when many moved), the ones that left are kept as stubs only.
   */
  #reassign(): void {
    const owned = new Set<string>();
    for (const uid of this.#policies.keys()) if (this.#mayActOn(uid)) owned.add(uid);
    const gained = [...owned].filter((uid) => !this.#owned.has(uid));
    for (const uid of this.#owned) if (!owned.has(uid)) this.#letGo(uid);
    this.#owned = new Set([...owned].filter((uid) => this.#owned.has(uid)));
    if (gained.length > REFILL_BY_LIST_ABOVE) void this.#policies.refill();
    for (const uid of gained) {
      this.#adopt(uid);
      this.#scheduler.trigger(uid);
    }
    this.metrics.shardPolicies.set(this.#owned.size);
  }

  /** A policy left this replica's share: what it held of it goes (adopt starts from the status). */
  #letGo(uid: string): void {
    this.#policies.release(uid);
    this.#reconciler.forget(uid);
  }

  /**
   * A policy (back) in this replica's share: what the replica remembered of it
   * may be older than the status another replica wrote since, so it starts from
   * the status (as a new leader does).
   */
  #adopt(uid: string): void {
    this.#reconciler.forget(uid);
    this.#owned.add(uid);
    this.metrics.shardPolicies.set(this.#owned.size);
  }

  /** Single leader: while leading. Sharding: while an acting member the policy hashes to. */
  #mayActOn(uid: string): boolean {
    return this.#shards ? this.#shards.owns(uid) : this.#elector.isLeader();
  }

  /** Set once shutdown gave up waiting; in-flight ticks then stop acting. */
  #stoppingHard = false;

  get port(): number {
    return this.#port;
  }

  /** Leading (single leader) or an acting member (sharding). */
  isLeader(): boolean {
    return this.#shards ? this.#shards.acting() : this.#elector.isLeader();
  }

  /** Informers synced, and either leading or in touch with the API server as a standby. */
  ready(): { ok: boolean; detail: string } {
    if (this.#stopping) return { ok: false, detail: 'shutting down' };
    if (this.#crdMissing) return { ok: false, detail: 'the ScalingPolicy CRD is not installed' };
    const synced = this.#informers.length > 0 && this.#synced.size === this.#informers.length;
    if (!synced) return { ok: false, detail: 'informers not synced' };
    const shards = this.#shards;
    if (shards?.acting()) {
      return {
        ok: true,
        detail: `member: owns ${this.#owned.size} policies, ${shards.members.length} members`,
      };
    }
    if (this.#elector.isLeader()) return { ok: true, detail: 'leader' };
    const sinceContact = (shards ?? this.#elector).sinceContactMs();
    const limit = 3 * (this.#o.retryPeriodMs ?? 2000) + 5000;
    if (sinceContact <= limit)
      return {
        ok: true,
        detail: shards ? 'member: joining' : `standby (leader ${this.#elector.observedHolder ?? 'none'})`,
      };
    return {
      ok: false,
      detail: `standby without contact to the API server for ${Math.round(sinceContact / 1000)}s`,
    };
  }

  async start(): Promise<void> {
    const { log } = this.#o;
    const { server, port } = await startHealthServer({
      registry: this.metrics.registry,
      ready: () => this.ready(),
      port: this.#o.metricsPort,
      ...(this.#o.metricsHost ? { host: this.#o.metricsHost } : {}),
    });
    this.#server = server;
    this.#port = port;
    log.info(
      {
        identity: this.identity,
        metricsPort: port,
        namespaces: this.#o.namespaces?.length ? this.#o.namespaces : 'all',
        allowedPrometheus: this.#o.allowedPrometheus,
        ...(this.#o.allowedPrometheusConfigMap
          ? {
              allowedPrometheusConfigMap: `${this.#o.allowedPrometheusConfigMap.namespace}/${this.#o.allowedPrometheusConfigMap.name}`,
            }
          : {}),
        maxConcurrentTicks: this.#o.maxConcurrentTicks,
      },
      'operator starting',
    );
    const cm = this.#o.allowedPrometheusConfigMap;
    if (cm) {
      const watch = watchAllowListConfigMap({
        allowList: this.#allowList,
        namespace: cm.namespace,
        name: cm.name,
        log,
        informer: configMapInformer(this.#o.kubeconfig, this.#transport, cm.namespace, cm.name),
      });
      this.#allowListWatch = watch;
      // Read it before any tick, or a policy allowed only by the ConfigMap would be reported
      // InvalidPolicy for a moment. A failed read is logged and retried; the flag's entries apply meanwhile.
      await watch.started;
    }
    if (this.#allowList.entries.length === 0) {
      log.warn(
        cm
          ? 'the Prometheus allow-list is empty (flag and ConfigMap): policies are reported InvalidPolicy until the ConfigMap allows their address'
          : 'the Prometheus allow-list is empty: every policy will be reported InvalidPolicy',
      );
    }
    const scopes = this.#o.namespaces?.length ? this.#o.namespaces : [undefined];
    // The HPAs first, so that no policy acts on a target an HPA scales before they are known.
    await Promise.all(scopes.map((ns) => this.#startHpaInformer(ns)));
    for (const ns of scopes) this.#startInformer(ns);
    if (this.#shards) this.#shards.start();
    else this.#elector.start();
  }

  #startInformer(namespace: string | undefined): void {
    const { log } = this.#o;
    const path = namespace
      ? `/apis/${POLICY_API_VERSION}/namespaces/${encode(namespace)}/${POLICY_PLURAL}`
      : `/apis/${POLICY_API_VERSION}/${POLICY_PLURAL}`;
    let initial = true;
    const listPolicies = async () => {
      const list = await listPaged(this.#transport, path, (p) => this.#policies.admit(asPolicy(p)));
      this.#crdBack();
      if (initial) {
        // The informer adds the listed items right after this resolves; then it is synced.
        setImmediate(() => {
          initial = false;
          this.#synced.add(informer);
          log.info({ namespace: namespace ?? '*', policies: this.#policies.size }, 'policy informer synced');
        });
      }
      return {
        items: list.items,
        metadata: list.resourceVersion === undefined ? {} : { resourceVersion: list.resourceVersion },
      } as never;
    };
    const watch = compactingWatch(
      new Watch(this.#o.kubeconfig),
      (o) => this.#policies.admit(asPolicy(o as KubernetesObject)) as unknown as KubernetesObject,
      () => this.#stopping,
    );
    const informer: Informer = new ListWatch<KubernetesObject>(path, watch, listPolicies, false);
    this.#informers.push(informer);
    informer.on('add', (obj) => this.#upsert(obj as unknown as ScalingPolicy, initial));
    informer.on('update', (obj) => this.#upsert(obj as unknown as ScalingPolicy, initial));
    informer.on('delete', (obj) => this.#delete(obj as unknown as ScalingPolicy));
    this.#restartOnError(informer, 'policy watch failed; restarting', namespace, (err) => {
      if (!isGone(err)) return;
      this.#crdGone();
      // client-node's ListWatch resumes a watch from its last resourceVersion on start(); with
      // the resource itself gone that only repeats the 404: a fresh list tells when it is back.
      (informer as unknown as { resourceVersion: string }).resourceVersion = '';
    });
    informer.start().catch(() => {});
  }

  /**
   * The ScalingPolicy CRD was deleted: its objects are gone with it, so every
   * policy stops (timers, cached policies, memory) and /readyz says why, until
   * the informer's list finds the CRD again.
   */
  #crdGone(): void {
    if (this.#crdMissing) return;
    this.#crdMissing = true;
    const dropped = [...this.#policies.values()];
    for (const p of dropped) this.#delete(p, false);
    this.#o.log.error(
      { policiesDropped: dropped.length },
      'the ScalingPolicy CRD is not installed (list: 404): stopped every policy; waiting for it to come back',
    );
  }

  #crdBack(): void {
    if (!this.#crdMissing) return;
    this.#crdMissing = false;
    this.#o.log.info('the ScalingPolicy CRD is installed again: watching policies');
  }

  /** HPAs (autoscaling/v2) in one scope; resolves once listed, or after 10 s if the list fails. */
  #startHpaInformer(namespace: string | undefined): Promise<void> {
    const path = namespace
      ? `/apis/autoscaling/v2/namespaces/${encode(namespace)}/horizontalpodautoscalers`
      : '/apis/autoscaling/v2/horizontalpodautoscalers';
    let resolveListed = () => {};
    const listed = new Promise<void>((r) => {
      resolveListed = r;
    });
    const informer: Informer = makeInformer<KubernetesObject>(this.#o.kubeconfig, path, async () => {
      const list = (await this.#transport({ method: 'GET', path })) as { items: KubernetesObject[] };
      setImmediate(() => {
        this.#synced.add(informer);
        resolveListed();
      });
      return list as never;
    });
    this.#informers.push(informer);
    const changed = (obj: KubernetesObject, gone: boolean) => {
      const h = obj as unknown as HpaLike & { metadata: { uid?: string } };
      const uid = h.metadata.uid ?? '';
      if (gone) this.#hpas.delete(uid);
      else this.#hpas.set(uid, h);
      const ref = h.spec?.scaleTargetRef;
      if (ref) this.#triggerTarget(targetKey(h.metadata.namespace ?? '', ref));
    };
    informer.on('add', (o) => changed(o, false));
    informer.on('update', (o) => changed(o, false));
    informer.on('delete', (o) => changed(o, true));
    this.#restartOnError(informer, 'HPA watch failed; restarting', namespace);
    informer.start().catch(() => {});
    const timer = setTimeout(resolveListed, 10_000);
    return listed.finally(() => clearTimeout(timer));
  }

  /** The informer stops on an error (API server restart, expired watch); start it again with backoff. */
  #restartOnError(
    informer: Informer,
    msg: string,
    namespace: string | undefined,
    onError?: (err: unknown) => void,
  ): void {
    restartOnError(informer, {
      onError: (err, retryInMs) => {
        if (this.#stopping) return false;
        onError?.(err);
        this.#o.log.warn({ err: String(err), namespace: namespace ?? '*', retryInMs }, msg);
        return true;
      },
      schedule: (restart, ms) => {
        const t = setTimeout(() => {
          this.#restartTimers.delete(t);
          if (!this.#stopping) restart();
        }, ms);
        this.#restartTimers.add(t);
      },
      // While the CRD is away, look for it every few seconds: the list is a cheap 404.
      maxDelayMs: () => (this.#crdMissing ? 5_000 : MAX_RETRY_MS),
    });
  }

  /** A change of who scales a target: its policies decide again now, not at their next tick. */
  #triggerTarget(key: string): void {
    for (const uid of this.#byTarget.get(key) ?? []) this.#scheduler.trigger(uid);
  }

  #claimsOn(key: string): PolicyClaim[] {
    const out: PolicyClaim[] = [];
    for (const uid of this.#byTarget.get(key) ?? []) {
      const p = this.#policies.get(uid);
      if (p) out.push(claim(p));
    }
    return out;
  }

  #index(uid: string, key: string | undefined, add: boolean): void {
    if (key === undefined) return;
    const set = this.#byTarget.get(key) ?? new Set<string>();
    if (add) set.add(uid);
    else set.delete(uid);
    if (set.size > 0) this.#byTarget.set(key, set);
    else this.#byTarget.delete(key);
  }

  /** Policies per target kind: the last policy naming a kind stops its watch. */
  #countKind(ref: { apiVersion: string; kind: string } | undefined, delta: number): void {
    if (!ref) return;
    const key = kindKey(ref.apiVersion, ref.kind);
    const n = (this.#kindRefs.get(key) ?? 0) + delta;
    if (n > 0) {
      this.#kindRefs.set(key, n);
      return;
    }
    this.#kindRefs.delete(key);
    this.#targets.release(ref.apiVersion, ref.kind);
  }

  #upsert(p: ScalingPolicy, initial: boolean): void {
    const uid = p.metadata.uid;
    if (!uid) return;
    const old = this.#policies.get(uid);
    this.#policies.set(uid, p);
    this.#index(uid, old && keyOf(old), false);
    this.#index(uid, keyOf(p), true);
    this.#countKind(p.spec?.targetRef, 1);
    if (old) this.#countKind(old.spec?.targetRef, -1);
    this.metrics.policiesWatched.set(this.#policies.size);
    this.#countOwned(uid);
    const interval = p.spec?.pollingIntervalSeconds ?? 15;
    if (!old) {
      // At start-up spread the first ticks over the interval; later, a new policy acts within a second.
      this.#scheduler.upsert(uid, interval, initial ? OVER_INTERVAL : 1000);
      this.#o.log.info(
        { namespace: p.metadata.namespace, policy: p.metadata.name, intervalSeconds: interval },
        'watching policy',
      );
      return;
    }
    this.#scheduler.upsert(uid, interval);
    if (old.metadata.generation !== p.metadata.generation) {
      this.#o.log.info(
        { namespace: p.metadata.namespace, policy: p.metadata.name, generation: p.metadata.generation },
        'policy spec changed',
      );
      this.#scheduler.trigger(uid);
    }
  }

  #delete(p: ScalingPolicy, log = true): void {
    const uid = p.metadata.uid;
    const stored = uid ? this.#policies.get(uid) : undefined;
    if (!uid || !stored) return;
    // Stop its timer and leave the target as it is.
    this.#scheduler.remove(uid);
    this.#reconciler.forget(uid);
    this.#policies.delete(uid);
    this.#countOwned(uid);
    this.#index(uid, keyOf(stored), false);
    this.#countKind(stored.spec?.targetRef, -1);
    this.metrics.policiesWatched.set(this.#policies.size);
    void this.metrics.forgetPolicy(p.metadata.namespace ?? '', p.metadata.name ?? '');
    // A policy that waited behind this one as the owner of its target may start now.
    this.#triggerTarget(keyOf(stored));
    if (!log) return;
    this.#o.log.info(
      { namespace: p.metadata.namespace, policy: p.metadata.name },
      'policy deleted: stopped scaling it',
    );
  }

  /** Sharding: keeps tidemark_shard_policies right between membership changes. */
  #countOwned(uid: string): void {
    if (!this.#shards) return;
    // By the last membership change, not by this instant: a list a moment late must not
    // drop a policy from the count until the next change.
    if (this.#policies.has(uid) && this.#acting && this.#shards.assigned(uid)) {
      if (!this.#owned.has(uid)) this.#adopt(uid);
      return;
    }
    this.#owned.delete(uid);
    this.metrics.shardPolicies.set(this.#owned.size);
  }

  async #tick(uid: string, dueAt: number): Promise<void> {
    if (!this.#policies.has(uid) || !this.#mayActOn(uid) || this.#crdMissing) return;
    // Owned since the last membership change (the join wait ended between two lists).
    if (this.#shards && !this.#owned.has(uid)) this.#adopt(uid);
    // Held as a stub while another replica owned it: read in full first.
    const p = await this.#fullPolicy(uid);
    if (!p) return;
    const startedAt = Date.now();
    try {
      await this.#reconciler.reconcile(p, dueAt);
    } catch (err) {
      this.#o.log.error(
        {
          namespace: p.metadata.namespace,
          policy: p.metadata.name,
          err: err instanceof Error ? err.stack : String(err),
        },
        'tick failed',
      );
    } finally {
      // Who ticked what, when (the sharding tests read it), at debug level.
      this.#o.log.debug(
        { namespace: p.metadata.namespace, policy: p.metadata.name, startedAt, endedAt: Date.now() },
        'tick done',
      );
    }
  }

  /** The policy in full; undefined (no tick) when it is gone or cannot be read now. */
  async #fullPolicy(uid: string): Promise<ScalingPolicy | undefined> {
    try {
      return await this.#policies.full(uid);
    } catch (err) {
      const stub = this.#policies.get(uid);
      this.#o.log.warn(
        { namespace: stub?.metadata.namespace, policy: stub?.metadata.name, err: String(err) },
        'reading a policy that moved to this replica failed; retrying at its next tick',
      );
      return undefined;
    }
  }

  /**
   * Graceful shutdown: no new ticks, the running ones finish (bounded by
   * `graceMs`), writes still in flight are stopped, then the Lease is released
   * so a standby takes over at once. Targets keep their replicas.
   */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const { log } = this.#o;
    log.info({ inFlight: this.#scheduler.inFlight }, 'shutting down: finishing in-flight ticks');
    for (const t of this.#restartTimers) clearTimeout(t);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#scheduler.drain(),
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          this.#stoppingHard = true;
          log.warn('in-flight ticks did not finish in time');
          r();
        }, graceMs);
      }),
    ]);
    clearTimeout(timer);
    // The last ticks' Events, while this process still leads (bounded: the API may be gone).
    await this.#events.drain(Math.min(graceMs, 5_000));
    await Promise.allSettled([
      ...this.#informers.map((i) => i.stop()),
      this.#allowListWatch?.stop(),
      this.#targets.stop(),
    ]);
    await this.#stopWrites();
    await (this.#shards ?? this.#elector).stop();
    this.metrics.leader.set(0);
    this.#collector.close();
    await new Promise<void>((r) => {
      if (!this.#server) return r();
      this.#server.close(() => r());
      this.#server.closeAllConnections();
    });
    log.info('stopped; lease released');
  }

  /**
   * Before the Lease goes: a write still in flight (a tick past the grace, an Event the
   * drain gave up on) would keep its budget and could land after a standby took over the
   * released Lease. It is aborted, and the release waits the margin a fence keeps for an
   * abort to reach the server (the same as at the fence itself).
   */
  async #stopWrites(): Promise<void> {
    const aborted = await this.#writes.abortAll();
    if (aborted === 0) return;
    this.#o.log.warn({ aborted }, 'shutting down: aborted writes still in flight before releasing the lease');
    await new Promise((r) => setTimeout(r, (this.#shards ?? this.#elector).fenceSlackMs));
  }
}

/** A 404 from the list (our transport) or from the watch (client-node's Watch sets statusCode). */
function isGone(err: unknown): boolean {
  return isNotFound(err) || (err as { statusCode?: number } | undefined)?.statusCode === 404;
}

/** A policy as the API server sent it, as the operator holds it (no managedFields, storage version). */
function asPolicy(o: KubernetesObject): ScalingPolicy {
  return {
    ...withoutManagedFields(o),
    apiVersion: POLICY_API_VERSION,
    kind: 'ScalingPolicy',
  } as ScalingPolicy;
}

function keyOf(p: ScalingPolicy): string {
  return targetKey(p.metadata.namespace ?? '', p.spec.targetRef);
}
