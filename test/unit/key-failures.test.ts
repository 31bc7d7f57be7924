import { describe, expect, it } from 'vitest';
import {
  createKeyFailureLimiter,
  KEY_FAILURE_WINDOW_MS,
  REPEAT_LOG_INTERVAL_MS,
} from '../../src/webhook/key-failures.js';

function fakeClock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

describe('access-key failures per address', () => {
  it('a stale automation repeating one wrong key never gets its address refused', () => {
    const clock = fakeClock();
    const limiter = createKeyFailureLimiter(clock, 3);
    for (let i = 0; i < 500; i += 1) {
      expect(limiter.record('10.0.0.1', 'old-key-digest', 'wrong').nowBlocked).toBe(false);
      expect(limiter.blockedFor('10.0.0.1')).toBeUndefined();
    }
  });

  it('refuses an address that tries many different keys, for the window, then lets it in again', () => {
    const clock = fakeClock();
    const limiter = createKeyFailureLimiter(clock, 3);
    expect(limiter.record('10.0.0.2', 'a', 'wrong')).toMatchObject({
      distinct: 1,
      nowBlocked: false,
    });
    expect(limiter.record('10.0.0.2', 'b', 'wrong')).toMatchObject({
      distinct: 2,
      nowBlocked: false,
    });
    expect(limiter.blockedFor('10.0.0.2')).toBeUndefined();
    expect(limiter.record('10.0.0.2', 'c', 'wrong')).toMatchObject({
      distinct: 3,
      nowBlocked: true,
    });
    expect(limiter.blockedFor('10.0.0.2')).toBe(KEY_FAILURE_WINDOW_MS / 1000);
    // Other addresses are not affected.
    expect(limiter.blockedFor('10.0.0.3')).toBeUndefined();
    clock.advance(KEY_FAILURE_WINDOW_MS - 1_000);
    expect(limiter.blockedFor('10.0.0.2')).toBe(1);
    clock.advance(1_000);
    expect(limiter.blockedFor('10.0.0.2')).toBeUndefined();
  });

  it('forgets distinct keys after the window, so slow typos never add up', () => {
    const clock = fakeClock();
    const limiter = createKeyFailureLimiter(clock, 3);
    limiter.record('10.0.0.4', 'a', 'wrong');
    limiter.record('10.0.0.4', 'b', 'wrong');
    clock.advance(KEY_FAILURE_WINDOW_MS);
    expect(limiter.record('10.0.0.4', 'c', 'wrong')).toMatchObject({
      distinct: 1,
      nowBlocked: false,
    });
  });

  it('a retired key never counts towards guessing, and is logged once an hour per address', () => {
    const clock = fakeClock();
    const limiter = createKeyFailureLimiter(clock, 2);
    expect(limiter.record('10.0.0.5', 'retired', 'retired')).toMatchObject({
      log: true,
      distinct: 0,
    });
    for (let i = 0; i < 50; i += 1) {
      const verdict = limiter.record('10.0.0.5', 'retired', 'retired');
      expect(verdict).toMatchObject({ log: false, nowBlocked: false });
      clock.advance(60_000);
    }
    expect(limiter.blockedFor('10.0.0.5')).toBeUndefined();
    clock.advance(REPEAT_LOG_INTERVAL_MS);
    expect(limiter.record('10.0.0.5', 'retired', 'retired').log).toBe(true);
    // Another address sending it gets its own line.
    expect(limiter.record('10.0.0.6', 'retired', 'retired').log).toBe(true);
  });

  it('logs each new wrong key, and a repeated one once an hour', () => {
    const clock = fakeClock();
    const limiter = createKeyFailureLimiter(clock, 100);
    expect(limiter.record('10.0.0.7', 'x', 'wrong').log).toBe(true);
    expect(limiter.record('10.0.0.7', 'x', 'wrong').log).toBe(false);
    expect(limiter.record('10.0.0.7', 'y', 'wrong').log).toBe(true);
    expect(limiter.record('10.0.0.7', '', 'missing').log).toBe(true);
    expect(limiter.record('10.0.0.7', '', 'missing').log).toBe(false);
  });
});
