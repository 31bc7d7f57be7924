/**
 * The idle loops' sleep. Regression: a wake-up that came while the worker was
 * claiming (not yet asleep) was lost, so the worker then slept a whole poll
 * period, and `stop()` waited for it (a minute with a slow poll).
 */
import { describe, expect, it } from 'vitest';
import { createNap } from '../../src/clock.js';

const settles = async (promise: Promise<void>, withinMs: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>(
    (resolve) => (timer = setTimeout(() => resolve(false), withinMs)),
  );
  const result = await Promise.race([promise.then(() => true as const), late]);
  clearTimeout(timer);
  return result;
};

describe('nap', () => {
  it('ends a sleep under way when woken', async () => {
    const nap = createNap();
    const sleeping = nap.sleep(60_000);
    nap.wake();
    expect(await settles(sleeping, 1_000)).toBe(true);
  });

  it('keeps a wake-up that came while awake for the next sleep, and only for that one', async () => {
    const nap = createNap();
    nap.wake();
    nap.wake();
    expect(await settles(nap.sleep(60_000), 1_000)).toBe(true);
    const next = nap.sleep(60_000);
    expect(await settles(next, 200)).toBe(false);
    nap.wake();
    await next;
  });
});
