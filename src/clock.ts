/** Time as the service sees it; tests inject their own. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function isoNow(clock: Clock): string {
  return clock.now().toISOString();
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A sleep that `wake()` cuts short: idle loops poll, and are woken at once when work arrives.
 * A wake that comes while the loop is busy (not asleep) is kept, and ends its next sleep at
 * once: the loop checked for work before the news arrived, so it must look again.
 */
export interface Nap {
  sleep(ms: number): Promise<void>;
  /** Ends the current sleep, or the next one if none is under way. */
  wake(): void;
}

export function createNap(): Nap {
  let wake: (() => void) | undefined;
  let woken = false;
  return {
    sleep(ms) {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined;
          resolve();
        }, ms);
        wake = () => {
          wake = undefined;
          clearTimeout(timer);
          resolve();
        };
      });
    },
    wake() {
      if (wake) wake();
      else woken = true;
    },
  };
}

/**
 * How long a loop waits after failing again and again: `baseMs`, doubling with each failure
 * in a row up to `maxMs`; the first success starts over.
 */
export interface Backoff {
  /** Records a failure; returns how long to wait before the next try. */
  failed(): number;
  succeeded(): void;
}

export function createBackoff(baseMs: number, maxMs = Math.max(baseMs, 5_000)): Backoff {
  let failures = 0;
  return {
    failed() {
      failures += 1;
      return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 20));
    },
    succeeded() {
      failures = 0;
    },
  };
}

/**
 * A background loop: `pass` runs again at once while it reports more work, waits `pollMs` (or
 * until `wake()`) when it found none, and waits longer after each failure in a row (`onError`
 * hears of each). `stop()` ends the loop and resolves once the pass under way has ended.
 */
export interface PollLoop {
  start(): void;
  stop(): Promise<void>;
  wake(): void;
}

export function createPollLoop(options: {
  pollMs: number;
  /** One round of work; true when there may be more to do right away. */
  pass: () => Promise<boolean>;
  onError: (error: unknown) => void;
}): PollLoop {
  const nap = createNap();
  let running = false;
  let done: Promise<void> = Promise.resolve();

  async function loop(): Promise<void> {
    const backoff = createBackoff(options.pollMs);
    while (running) {
      let waitMs = options.pollMs;
      try {
        const more = await options.pass();
        backoff.succeeded();
        if (more) continue;
      } catch (error) {
        options.onError(error);
        waitMs = backoff.failed();
      }
      if (!running) break;
      await nap.sleep(waitMs);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      done = loop();
    },
    async stop() {
      running = false;
      nap.wake();
      await done;
    },
    wake() {
      nap.wake();
    },
  };
}
