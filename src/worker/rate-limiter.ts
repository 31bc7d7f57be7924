/**
 * A rolling-window limiter: at most `requests` calls start in any window of
 * `windowMs`. Callers wait their turn in order rather than being refused.
 */
import type { RateLimit } from '../connectors/types.js';

export interface RateLimiter {
  acquire(): Promise<void>;
}

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const starts: number[] = [];
  let queue: Promise<void> = Promise.resolve();
  const takeSlot = async (): Promise<void> => {
    for (;;) {
      const current = now();
      while (starts.length > 0 && current - (starts[0] ?? 0) >= limit.windowMs) starts.shift();
      if (starts.length < limit.requests) {
        starts.push(current);
        return;
      }
      const waitMs = (starts[0] ?? current) + limit.windowMs - current;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, waitMs)));
    }
  };
  return {
    acquire() {
      const turn = queue.then(takeSlot);
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}
