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

/** A sleep that `wake()` cuts short: idle loops poll, and are woken at once when work arrives. */
export interface Nap {
  sleep(ms: number): Promise<void>;
  /** Ends the current sleep, if any. */
  wake(): void;
}

export function createNap(): Nap {
  let wake: (() => void) | undefined;
  return {
    sleep(ms) {
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
      wake?.();
    },
  };
}
