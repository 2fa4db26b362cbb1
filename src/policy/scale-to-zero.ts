// behavior.scaleToZeroDelaySeconds: with minReplicas 0, how long every metric must stay at or
// below its activation threshold before the target goes to 0. It exists because KEDA splits
// the two: its HPA (minReplicas ≥ 1) scales N → 1 on the scale-down window, and KEDA itself
// takes the last replica away once cooldownPeriod has passed without an active trigger,
// whatever the HPA's window holds. Folding that cooldown into the window slowed every
// scale-down (issue 18); this keeps the window for N → 1 and gives the step to 0 its own wait.
//
// Unset, nothing here runs and no state is written: decisions stay exactly as before.
// Pure, like the engine: the time comes in the input, the memory in the engine state.

import type { EngineState, LimitReason, PolicySpec } from '../core/types.ts';

/** The part of the engine's DecisionContext this step reads and writes. */
export interface ZeroStepContext {
  readonly spec: PolicySpec;
  readonly now: number;
  readonly current: number;
  readonly state: EngineState;
  readonly applied: LimitReason[];
  readonly notes: string[];
}

/**
 * The proposal after the delay: `proposal` as it came from the activation step, or, while the
 * metrics have been idle for less than the delay, what they propose themselves (at least 1,
 * as KEDA's HPA would). `metricsProposal` is the max over the metrics before activation.
 */
export function delayScaleToZero(ctx: ZeroStepContext, metricsProposal: number, proposal: number): number {
  const delay = ctx.spec.behavior.scaleToZeroDelaySeconds;
  // Only a proposal of 0 from above 0 waits; at 0, or active, the next idle spell starts afresh.
  if (delay === undefined || ctx.spec.minReplicas !== 0 || proposal !== 0 || ctx.current === 0) {
    delete ctx.state.belowActivationSince;
    return proposal;
  }
  const since = validTime(ctx.state.belowActivationSince) ?? ctx.now;
  ctx.state.belowActivationSince = since;
  const idle = ctx.now - since;
  if (idle < delay * 1000) {
    const held = Math.max(1, metricsProposal);
    ctx.applied.push('ScaleToZeroDelay');
    ctx.notes.push(
      `scaling to 0 waits the ${delay}s scaleToZeroDelaySeconds (${Math.floor(idle / 1000)}s so far); the metrics propose ${held} meanwhile`,
    );
    return held;
  }
  // The delay is the stabilization of the step to 0, as KEDA's cooldown bypasses its HPA's
  // window: the window's memory of counts above 0 would otherwise hold 1 for another window.
  // The cooldowns and rate policies still apply after this stage.
  ctx.state.recommendations = ctx.state.recommendations.filter((r) => r.replicas === 0);
  ctx.notes.push(`idle for the ${delay}s scaleToZeroDelaySeconds, scaling to 0`);
  return 0;
}

/** A stored time the engine can use: a finite number (the annotation-free state is still text anyone can edit). */
function validTime(t: unknown): number | undefined {
  return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
}
