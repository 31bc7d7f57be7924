/**
 * A rolling-window limiter: never more than `requests` calls in any window of
 * `windowMs` as the CRM counts them. Callers wait their turn in order rather
 * than being refused.
 *
 * A call holds its slot from the moment it starts until `windowMs` after it
 * finished. The CRM counts a call when it arrives, somewhere in between; a
 * window counted from the starts alone lets a slow early call and a fast late
 * one land in the same CRM window and earn a 429 (seen with Ontraport's
 * 180-per-minute window under a burst).
 */
import type { RateLimit } from '../connectors/types.js';

export interface RateLimiter {
  /** Waits for a slot; call the returned function once the request has finished (answered or failed). */
  acquire(): Promise<() => void>;
  /** Slots taken now: calls in flight plus those finished within the window. */
  used(): number;
}

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  let inFlight = 0;
  /** When finished calls ended, oldest first; each counts until `windowMs` after it. */
  const finished: number[] = [];
  let onFinish: (() => void) | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const release = () => {
    inFlight -= 1;
    finished.push(now());
    onFinish?.();
    onFinish = undefined;
  };

  const takeSlot = async (): Promise<() => void> => {
    for (;;) {
      const current = now();
      while (finished.length > 0 && current - (finished[0] ?? 0) >= limit.windowMs)
        finished.shift();
      if (inFlight + finished.length < limit.requests) {
        inFlight += 1;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          release();
        };
      }
      const oldest = finished[0];
      await new Promise<void>((resolve) => {
        // Every slot is in flight: the first to finish starts the countdown.
        if (oldest === undefined) onFinish = resolve;
        else setTimeout(resolve, Math.max(1, oldest + limit.windowMs - current));
      });
    }
  };

  return {
    used() {
      const current = now();
      return inFlight + finished.filter((end) => current - end < limit.windowMs).length;
    },
    acquire() {
      const turn = queue.then(takeSlot);
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}
