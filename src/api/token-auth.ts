/**
 * Checks API tokens. A valid token is remembered for `cacheMs`, so a busy
 * site costs one query every couple of seconds rather than one per request,
 * and a revocation (made by the CLI, in another process) is seen within
 * `cacheMs`. The last use is written at most once per `touchEveryMs`.
 */
import type { Kysely } from 'kysely';
import { hashSecret } from '../lib/secret-hash.js';
import type { Clock } from '../clock.js';
import type { DB } from '../storage/schema.js';
import { findActiveApiToken, touchApiToken } from './api-tokens.repository.js';

export interface ApiTokenIdentity {
  id: number;
  name: string;
}

export interface TokenVerifier {
  /** The token's identity, or null when it is unknown or revoked. */
  verify(raw: string): Promise<ApiTokenIdentity | null>;
}

export interface TokenVerifierOptions {
  cacheMs?: number | undefined;
  touchEveryMs?: number;
}

/** Beyond this many cached tokens the cache starts over (sites have a handful of tokens). */
const MAX_CACHED = 1_000;

export function createTokenVerifier(
  db: Kysely<DB>,
  clock: Clock,
  options: TokenVerifierOptions = {},
): TokenVerifier {
  const cacheMs = options.cacheMs ?? 2_000;
  const touchEveryMs = options.touchEveryMs ?? 60_000;
  // Keyed by hash, so the raw secrets do not sit in memory longer than a request.
  const cache = new Map<string, { identity: ApiTokenIdentity; until: number }>();
  const lastTouched = new Map<number, number>();

  const touch = async (identity: ApiTokenIdentity, now: Date) => {
    const last = lastTouched.get(identity.id);
    if (last !== undefined && now.getTime() - last < touchEveryMs) return;
    lastTouched.set(identity.id, now.getTime());
    await touchApiToken(db, identity.id, now, touchEveryMs);
  };

  return {
    async verify(raw) {
      const now = clock.now();
      const key = hashSecret(raw);
      const cached = cache.get(key);
      if (cached && cached.until > now.getTime()) {
        await touch(cached.identity, now);
        return cached.identity;
      }
      cache.delete(key);
      const token = await findActiveApiToken(db, raw);
      if (!token) return null;
      const identity = { id: token.id, name: token.name };
      if (token.lastUsedAt !== null && !lastTouched.has(token.id))
        lastTouched.set(token.id, Date.parse(token.lastUsedAt));
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, { identity, until: now.getTime() + cacheMs });
      await touch(identity, now);
      return identity;
    },
  };
}
