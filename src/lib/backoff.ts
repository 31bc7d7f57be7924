/**
 * Backoff: a retry policy as data and the delay as a pure function with jitter.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failures: exponential,
 * capped, with ±25% jitter so a burst of failures does not retry in lockstep.
 * A delay the remote side asked for (Retry-After) is honoured, never shortened.
 */
export function calculateDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  requestedMs?: number,
): number {
  const exponential = Math.min(
    policy.maxDelayMs,
    policy.baseDelayMs * 2 ** Math.max(0, attempt - 1),
  );
  const jittered = Math.round(exponential * (0.75 + random() * 0.5));
  if (requestedMs === undefined) return jittered;
  // Spread the callers a little past the requested moment, never before it.
  return Math.round(requestedMs + random() * Math.min(1_000, requestedMs * 0.1 + 50));
}
