/** One value a connector reads from its CRM and reuses for a while. */
import type { Clock } from '../clock.js';

export interface ExpiringCache<T> {
  /** The cached value while it is fresh, else a new load. */
  get(): Promise<T>;
}

/**
 * Loads on first use and reuses the result for `ttlMs`. Calls that arrive
 * while a load is under way share it; a failed load is forgotten at once, so
 * the next call tries again instead of repeating the failure until expiry.
 */
export function createExpiringCache<T>(
  clock: Clock,
  ttlMs: number,
  load: () => Promise<T>,
): ExpiringCache<T> {
  let entry: { until: number; value: Promise<T> } | undefined;
  return {
    get() {
      const now = clock.now().getTime();
      if (entry && entry.until > now) return entry.value;
      const value = load();
      const current = { until: now + ttlMs, value };
      entry = current;
      void value.catch(() => {
        if (entry === current) entry = undefined;
      });
      return value;
    },
  };
}
