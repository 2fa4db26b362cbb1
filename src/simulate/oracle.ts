// The oracle: it knows the whole trace and provisions the fewest replicas that
// serve every minute given the start-up delay, deciding at the same tick times as
// everyone else. A replica that must be ready at time x has to be requested at the
// last tick at or before x − startup and kept until x, so at tick t the oracle needs
// the largest requirement over [t, t + tick + startup). That pointwise bound is also
// achievable (removing the newest replicas first keeps the ready ones), so no
// schedule on this tick grid has fewer replica-minutes: it is the lower bound.

export interface OracleConfig {
  capacity: number;
  startupSeconds: number;
  tickSeconds: number;
  minReplicas: number;
  maxReplicas: number;
}

/** Replicas each minute needs ready: ceil(requests / capacity), within [min, max]. */
export function requiredReplicas(requests: Float64Array, cfg: OracleConfig): Int32Array {
  const out = new Int32Array(requests.length);
  for (let m = 0; m < requests.length; m++) {
    const need = Math.ceil(requests[m]! / cfg.capacity);
    out[m] = Math.min(cfg.maxReplicas, Math.max(cfg.minReplicas, need));
  }
  return out;
}

/** The oracle's replica count for each tick (tick i starts at i × tickSeconds). */
export function oraclePlan(requests: Float64Array, cfg: OracleConfig): Int32Array {
  const need = requiredReplicas(requests, cfg);
  const minutes = requests.length;
  const ticks = Math.ceil((minutes * 60) / cfg.tickSeconds);
  const plan = new Int32Array(ticks);
  // Sliding maximum over minutes with a monotonic deque: O(ticks + minutes).
  const deque: number[] = [];
  let head = 0;
  let nextMinute = 0;
  for (let i = 0; i < ticks; i++) {
    const t = i * cfg.tickSeconds;
    const from = Math.floor(t / 60);
    // Last minute touched by [t, t + tick + startup): its end is exclusive.
    const to = Math.min(minutes - 1, Math.ceil((t + cfg.tickSeconds + cfg.startupSeconds) / 60) - 1);
    while (nextMinute <= to) {
      while (deque.length > head && need[deque[deque.length - 1]!]! <= need[nextMinute]!) deque.pop();
      deque.push(nextMinute++);
    }
    while (deque[head]! < from) head++;
    plan[i] = need[deque[head]!]!;
  }
  return plan;
}
