// KEDA with a Prometheus trigger: KEDA creates an HPA (minReplicas at least 1)
// that scales 1↔N on the metric, and its own operator loop scales 0↔1. This models
// the scale executor (RequestScale): every polling interval the trigger is active
// when the metric exceeds its activation threshold; an active trigger wakes a
// target at zero to one replica and refreshes lastActiveTime; an inactive,
// error-free trigger scales the target to zero once lastActiveTime plus the
// cooldown period has passed (or at once when it was never active). A failing
// query makes the trigger neither active nor inactive: nothing happens.
import { type HpaBehavior, HpaController } from './hpa-baseline.ts';

export interface KedaConfig {
  minReplicas: number;
  maxReplicas: number;
  target: number;
  targetType: 'AverageValue' | 'Value';
  activationThreshold: number;
  /** ScaledObject pollingInterval (KEDA default 30 s). */
  pollingIntervalSeconds?: number;
  /** ScaledObject cooldownPeriod (KEDA default 300 s). */
  cooldownSeconds?: number;
  behavior?: HpaBehavior;
}

export class KedaController {
  readonly #cfg: KedaConfig;
  readonly #hpa: HpaController;
  readonly #polling: number;
  readonly #cooldown: number;
  #lastActive: number | undefined;

  constructor(cfg: KedaConfig) {
    this.#cfg = cfg;
    this.#polling = cfg.pollingIntervalSeconds ?? 30;
    this.#cooldown = cfg.cooldownSeconds ?? 300;
    // KEDA never lets its HPA go below one replica; zero is KEDA's own business.
    this.#hpa = new HpaController({
      minReplicas: Math.max(1, cfg.minReplicas),
      maxReplicas: cfg.maxReplicas,
      target: cfg.target,
      targetType: cfg.targetType,
      ...(cfg.behavior ? { behavior: cfg.behavior } : {}),
    });
  }

  /** One 15 s HPA sync, preceded by KEDA's own check when a polling interval is due. */
  sync(now: number, current: number, metric: number | undefined, ready = current): number {
    let replicas = current;
    if (this.#cfg.minReplicas === 0 && now % this.#polling === 0 && metric !== undefined) {
      const active = metric > this.#cfg.activationThreshold;
      if (active) {
        this.#lastActive = now;
        if (replicas === 0) replicas = 1;
      } else if (
        replicas > 0 &&
        (this.#lastActive === undefined || this.#lastActive + this.#cooldown < now)
      ) {
        replicas = 0;
      }
    }
    // A target just woken from zero has no ready pod yet.
    return this.#hpa.sync(now, replicas, metric, replicas === current ? ready : 0);
  }
}
