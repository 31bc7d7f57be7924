/** The CRM rate limiter, on a fake clock: calls spread evenly, stay within the window, follow a new limit at once. */
import { describe, expect, it } from 'vitest';
import { createRateLimiter, type LimiterTimer } from '../../src/connections/rate-limiter.js';

/** A clock that moves only when told; sleeps end when it passes their deadline. */
function fakeTimer() {
  let now = 0;
  const sleepers: Array<{ at: number; resolve: () => void }> = [];
  const settle = async () => {
    for (let i = 0; i < 20; i += 1) await Promise.resolve();
  };
  const timer: LimiterTimer = {
    now: () => now,
    sleep: (ms) => new Promise<void>((resolve) => sleepers.push({ at: now + ms, resolve })),
  };
  return {
    timer,
    get now() {
      return now;
    },
    settle,
    /** Moves time forward to `until`, waking each sleeper at its deadline in order. */
    async advanceTo(until: number) {
      await settle();
      for (;;) {
        sleepers.sort((a, b) => a.at - b.at);
        const next = sleepers[0];
        if (!next || next.at > until) break;
        sleepers.shift();
        now = Math.max(now, next.at);
        next.resolve();
        await settle();
      }
      now = until;
      await settle();
    },
  };
}

/** Starts `count` calls that each finish `durationMs` after starting; records start times. */
function startCalls(
  limiter: ReturnType<typeof createRateLimiter>,
  clock: ReturnType<typeof fakeTimer>,
  count: number,
  durationMs = 50,
): number[] {
  const starts: number[] = [];
  for (let i = 0; i < count; i += 1) {
    void limiter.acquire().then(async (release) => {
      starts.push(clock.now);
      await clock.timer.sleep(durationMs);
      release();
    });
  }
  return starts;
}

const ONTRAPORT = { requests: 180, windowMs: 60_000 };

/** Most starts inside any window of `windowMs`. */
function busiest(starts: number[], windowMs: number): number {
  let most = 0;
  for (let i = 0; i < starts.length; i += 1) {
    const from = starts[i] ?? 0;
    most = Math.max(most, starts.filter((at) => at >= from && at < from + windowMs).length);
  }
  return most;
}

describe('rate limiter', () => {
  it("spreads a burst over Ontraport's minute instead of spending the budget at once", async () => {
    const clock = fakeTimer();
    const limiter = createRateLimiter(ONTRAPORT, clock.timer);
    const starts = startCalls(limiter, clock, 400);
    await clock.advanceTo(60_000);
    // The whole minute's budget is used, but never more than a few calls in any one second…
    expect(starts.length).toBeGreaterThanOrEqual(170);
    expect(starts.length).toBeLessThanOrEqual(180);
    expect(busiest(starts, 1_000)).toBeLessThanOrEqual(6);
    // …and every ten seconds of the minute get their share (the old limiter: 180 in the first, then none).
    for (let from = 0; from < 60_000; from += 10_000) {
      const inSlice = starts.filter((at) => at >= from && at < from + 10_000).length;
      expect(inSlice).toBeGreaterThanOrEqual(25);
      expect(inSlice).toBeLessThanOrEqual(35);
    }
  });

  it('never lets more than the limit start in any window as the CRM counts it', async () => {
    const clock = fakeTimer();
    const limiter = createRateLimiter(ONTRAPORT, clock.timer);
    const starts = startCalls(limiter, clock, 700, 2_000);
    await clock.advanceTo(240_000);
    expect(starts.length).toBeGreaterThan(500);
    expect(busiest(starts, 60_000)).toBeLessThanOrEqual(180);
  });

  it('applies a lower limit at once, to calls already waiting, without a fresh budget', async () => {
    const clock = fakeTimer();
    const limiter = createRateLimiter(ONTRAPORT, clock.timer);
    const starts = startCalls(limiter, clock, 400);
    await clock.advanceTo(10_000);
    const before = starts.length;
    limiter.setLimit({ requests: 60, windowMs: 60_000 });
    await clock.advanceTo(40_000);
    // One a second from now on (a 1-call burst), not 3 a second as before.
    expect(starts.length - before).toBeGreaterThanOrEqual(28);
    expect(starts.length - before).toBeLessThanOrEqual(31);
    expect(busiest(starts.slice(before), 1_000)).toBe(1);
  });

  it('applies a higher limit at once: waiting calls speed up without waiting out the old pace', async () => {
    const clock = fakeTimer();
    const limiter = createRateLimiter({ requests: 6, windowMs: 60_000 }, clock.timer);
    const starts = startCalls(limiter, clock, 100);
    await clock.advanceTo(5_000);
    expect(starts.length).toBe(1);
    limiter.setLimit({ requests: 600, windowMs: 60_000 });
    await clock.advanceTo(6_000);
    expect(starts.length).toBeGreaterThanOrEqual(10);
    expect(limiter.limit).toEqual({ requests: 600, windowMs: 60_000 });
  });
});
