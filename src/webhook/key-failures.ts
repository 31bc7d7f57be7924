/** Failed access-key attempts counted per client address; past the limit the address is refused. */
import type { Clock } from '../clock.js';

export const KEY_FAILURE_WINDOW_MS = 10 * 60_000;
/** Addresses remembered before the expired ones are pruned. */
const PRUNE_AT = 10_000;

export interface KeyFailureLimiter {
  /** Counts a failed attempt; returns the address's count in the current window. */
  record(ip: string): number;
  /** True when the address has used up its attempts in the current window. */
  isBlocked(ip: string): boolean;
}

export function createKeyFailureLimiter(clock: Clock, limit: number): KeyFailureLimiter {
  const failures = new Map<string, { count: number; since: number }>();
  const prune = (now: number) => {
    for (const [ip, entry] of failures)
      if (now - entry.since > KEY_FAILURE_WINDOW_MS) failures.delete(ip);
  };
  return {
    record(ip) {
      const now = clock.now().getTime();
      const entry = failures.get(ip);
      if (!entry || now - entry.since > KEY_FAILURE_WINDOW_MS) {
        failures.set(ip, { count: 1, since: now });
        if (failures.size > PRUNE_AT) prune(now);
        return 1;
      }
      entry.count += 1;
      return entry.count;
    },
    isBlocked(ip) {
      const entry = failures.get(ip);
      return (
        entry !== undefined &&
        entry.count >= limit &&
        clock.now().getTime() - entry.since <= KEY_FAILURE_WINDOW_MS
      );
    },
  };
}
