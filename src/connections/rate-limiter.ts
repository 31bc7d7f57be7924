/**
 * A CRM's rate limit, kept two ways at once; callers wait their turn in order
 * rather than being refused.
 *
 * Paced: calls start at an even pace of `requests` per `windowMs` (a token
 * bucket that holds only a few calls' worth), so a burst of work spreads over
 * the window instead of spending its whole budget in the first seconds and
 * stalling for the rest. Against Ontraport's 180 per minute: 3 at once, then
 * one every 333 ms.
 *
 * Honest: never more than `requests` calls in any window of `windowMs` as the
 * CRM counts them. A call holds its slot from the moment it starts until
 * `windowMs` after it finished. The CRM counts a call when it arrives,
 * somewhere in between; a window counted from the starts alone lets a slow
 * early call and a fast late one land in the same CRM window and earn a 429.
 *
 * `setLimit` applies a new limit at once, to the calls already waiting too,
 * and keeps the calls already counted: a change never grants a fresh budget.
 */
import type { RateLimit } from '../connectors/types.js';

export interface RateLimiter {
  /** Waits for a slot; call the returned function once the request has finished (answered or failed). */
  acquire(): Promise<() => void>;
  /** Slots taken now: calls in flight plus those finished within the window. */
  used(): number;
  /** The limit in force. */
  readonly limit: RateLimit;
  /** Changes the limit, at once. */
  setLimit(limit: RateLimit): void;
}

/** Time for the limiter: the real one by default, a fake one in tests. */
export interface LimiterTimer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realTimer: LimiterTimer = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Calls that may start back to back: a second's worth at the limit's pace, at least one. */
function burstOf(limit: RateLimit): number {
  return Math.max(1, Math.floor((limit.requests * 1_000) / limit.windowMs));
}

export function createRateLimiter(
  initial: RateLimit,
  timer: LimiterTimer = realTimer,
): RateLimiter {
  let limit = initial;
  let tokens = burstOf(limit);
  let refilledAt = timer.now();
  let inFlight = 0;
  /** When finished calls ended, oldest first from `head`; each counts until `windowMs` after it. */
  let finished: number[] = [];
  let head = 0;
  /** Wakes the call at the front of the queue: a call finished or the limit changed. */
  let wakeFront: (() => void) | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const wake = () => {
    const resolve = wakeFront;
    wakeFront = undefined;
    resolve?.();
  };

  const refill = (now: number) => {
    const perMs = limit.requests / limit.windowMs;
    tokens = Math.min(burstOf(limit), tokens + Math.max(0, now - refilledAt) * perMs);
    refilledAt = now;
  };

  const prune = (now: number) => {
    while (head < finished.length && now - (finished[head] ?? 0) >= limit.windowMs) head += 1;
    if (head > 1_024 && head * 2 > finished.length) {
      finished = finished.slice(head);
      head = 0;
    }
  };

  const release = () => {
    inFlight -= 1;
    finished.push(timer.now());
    wake();
  };

  const takeSlot = async (): Promise<() => void> => {
    for (;;) {
      const now = timer.now();
      refill(now);
      prune(now);
      const counted = inFlight + finished.length - head;
      if (tokens >= 1 && counted < limit.requests) {
        tokens -= 1;
        inFlight += 1;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          release();
        };
      }
      // How long until both a token and a window slot are free; with every slot in flight, until one finishes.
      const tokenWait = tokens >= 1 ? 0 : ((1 - tokens) * limit.windowMs) / limit.requests;
      const oldest = finished[head];
      const windowWait =
        counted < limit.requests
          ? 0
          : oldest === undefined
            ? Infinity
            : oldest + limit.windowMs - now;
      const waitMs = Math.max(tokenWait, windowWait);
      await new Promise<void>((resolve) => {
        wakeFront = resolve;
        if (Number.isFinite(waitMs)) void timer.sleep(Math.max(1, Math.ceil(waitMs))).then(resolve);
      });
      wakeFront = undefined;
    }
  };

  return {
    used() {
      prune(timer.now());
      return inFlight + finished.length - head;
    },
    acquire() {
      const turn = queue.then(takeSlot);
      queue = turn.catch(() => undefined);
      return turn;
    },
    get limit() {
      return limit;
    },
    setLimit(next) {
      if (next.requests === limit.requests && next.windowMs === limit.windowMs) return;
      refill(timer.now());
      limit = next;
      tokens = Math.min(tokens, burstOf(limit));
      wake();
    },
  };
}
