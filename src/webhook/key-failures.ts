/**
 * Wrong access keys, counted per client address as DISTINCT keys: a guesser
 * tries many keys, while a stale automation repeats one. CRMs send from shared
 * addresses, so one automation left on an old key must never lock out the
 * others: only an address that has tried `limit` different wrong keys in the
 * window is refused (429), and then for everything it sends.
 *
 * Keys are remembered by their keyed digest, never in clear (a wrong key is
 * often a mistyped right one). State is per process.
 */
import type { Clock } from '../clock.js';

export const KEY_FAILURE_WINDOW_MS = 10 * 60_000;
/** One activity line per address and key in this time: a repeating automation does not flood the log. */
export const REPEAT_LOG_INTERVAL_MS = 60 * 60_000;
/** Addresses remembered before expired ones are pruned. */
const PRUNE_AT = 10_000;

/** What the caller knows of a refused key. */
type WrongKeyKind = 'missing' | 'wrong' | 'retired';

interface WrongKeyVerdict {
  /** Distinct wrong keys from this address in the current window. */
  distinct: number;
  /** True when this attempt reached the limit: the address is refused from now on. */
  nowBlocked: boolean;
  /** True when this attempt deserves an activity line (first sight, or an hour since the last). */
  log: boolean;
}

export interface KeyFailureLimiter {
  /** Seconds the address must wait when it is guessing keys; undefined when it may send. */
  blockedFor(ip: string): number | undefined;
  /**
   * Records a refused key, by its digest (`''` when none was sent). A retired
   * key is a known key and never counts towards guessing.
   */
  record(ip: string, keyDigest: string, kind: WrongKeyKind): WrongKeyVerdict;
}

interface AddressState {
  since: number;
  keys: Set<string>;
  blockedUntil?: number | undefined;
}

export function createKeyFailureLimiter(clock: Clock, limit: number): KeyFailureLimiter {
  const addresses = new Map<string, AddressState>();
  const lastLogged = new Map<string, number>();

  const prune = (now: number) => {
    for (const [ip, state] of addresses) {
      const over = (state.blockedUntil ?? state.since + KEY_FAILURE_WINDOW_MS) < now;
      if (over) addresses.delete(ip);
    }
    for (const [key, at] of lastLogged)
      if (now - at >= REPEAT_LOG_INTERVAL_MS) lastLogged.delete(key);
  };

  const current = (ip: string, now: number): AddressState | undefined => {
    const state = addresses.get(ip);
    if (!state) return undefined;
    if (state.blockedUntil !== undefined) {
      if (now < state.blockedUntil) return state;
    } else if (now - state.since < KEY_FAILURE_WINDOW_MS) {
      return state;
    }
    addresses.delete(ip);
    return undefined;
  };

  return {
    blockedFor(ip) {
      const now = clock.now().getTime();
      const until = current(ip, now)?.blockedUntil;
      return until === undefined ? undefined : Math.max(1, Math.ceil((until - now) / 1000));
    },
    record(ip, keyDigest, kind) {
      const now = clock.now().getTime();
      const logKey = `${ip}\u0000${keyDigest}`;
      const loggedAt = lastLogged.get(logKey);
      const log = loggedAt === undefined || now - loggedAt >= REPEAT_LOG_INTERVAL_MS;
      if (log) lastLogged.set(logKey, now);
      if (addresses.size > PRUNE_AT || lastLogged.size > PRUNE_AT) prune(now);

      let state = current(ip, now);
      if (kind === 'retired') return { distinct: state?.keys.size ?? 0, nowBlocked: false, log };
      if (!state) {
        state = { since: now, keys: new Set() };
        addresses.set(ip, state);
      }
      // Past the limit nothing more is learnt; the set stays small.
      if (state.blockedUntil === undefined) state.keys.add(keyDigest);
      const nowBlocked = state.blockedUntil === undefined && state.keys.size >= limit;
      if (nowBlocked) state.blockedUntil = now + KEY_FAILURE_WINDOW_MS;
      return { distinct: state.keys.size, nowBlocked, log };
    },
  };
}
