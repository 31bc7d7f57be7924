/**
 * The site's access key: ≥128-bit random, compared in constant time, and
 * rotatable with a grace period during which the previous key still works.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { DB } from '../storage/schema.js';

type Db = Kysely<DB>;

/** 24 random bytes: 192 bits, 32 URL-safe characters. */
export function generateAccessKey(): string {
  return randomBytes(24).toString('base64url');
}

/** A short, non-reversible name for a key, safe to log. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export interface AccessKeyInfo {
  secret: string;
  fingerprint: string;
  createdAt: string;
  expiresAt: string | null;
}

/** Keys that are valid now: the current one and any still in their grace period. */
export async function activeAccessKeys(db: Db, now: string): Promise<AccessKeyInfo[]> {
  const rows = await db
    .selectFrom('access_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('id', 'desc')
    .execute();
  return rows.map((row) => ({
    secret: row.secret,
    fingerprint: row.fingerprint,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  }));
}

/** The current key, created on first use. */
export async function currentAccessKey(db: Db, clock: Clock): Promise<AccessKeyInfo> {
  const now = clock.now().toISOString();
  const current = (await activeAccessKeys(db, now)).find((key) => key.expiresAt === null);
  if (current) return current;
  const secret = generateAccessKey();
  const row = { secret, fingerprint: keyFingerprint(secret), created_at: now, expires_at: null };
  await db.insertInto('access_keys').values(row).execute();
  return { secret, fingerprint: row.fingerprint, createdAt: now, expiresAt: null };
}

/** Makes a new current key; the old one stays valid for `graceMs`. */
export async function rotateAccessKey(db: Db, clock: Clock, graceMs: number): Promise<AccessKeyInfo> {
  const now = clock.now();
  const graceEnd = new Date(now.getTime() + graceMs).toISOString();
  const secret = generateAccessKey();
  const fingerprint = keyFingerprint(secret);
  await db.transaction().execute(async (trx) => {
    // Every older key ends with this grace period at the latest: rotating with no grace revokes them all.
    await trx
      .updateTable('access_keys')
      .set({ expires_at: graceEnd })
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', graceEnd)]))
      .execute();
    await trx
      .insertInto('access_keys')
      .values({ secret, fingerprint, created_at: now.toISOString(), expires_at: null })
      .execute();
  });
  return { secret, fingerprint, createdAt: now.toISOString(), expiresAt: null };
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export interface KeyChecker {
  /** The fingerprint of the matching key, or null. */
  check(candidate: string | undefined): Promise<string | null>;
}

/**
 * Checks keys against a short-lived cache of the active keys, so the webhook
 * hot path does not query for them; a rotation is seen within `cacheMs`.
 */
export function createKeyChecker(db: Db, clock: Clock, cacheMs = 2_000): KeyChecker {
  let cached: { until: number; keys: Array<{ digest: Buffer; fingerprint: string; expiresAt: string | null }> } | undefined;
  const keys = async () => {
    const now = clock.now();
    if (!cached || cached.until <= now.getTime()) {
      const active = await activeAccessKeys(db, now.toISOString());
      cached = {
        until: now.getTime() + cacheMs,
        keys: active.map((key) => ({ digest: digest(key.secret), fingerprint: key.fingerprint, expiresAt: key.expiresAt })),
      };
    }
    return cached.keys;
  };
  return {
    async check(candidate) {
      if (!candidate) return null;
      const given = digest(candidate);
      const now = clock.now().toISOString();
      let match: string | null = null;
      // Compare against every key, so timing does not reveal which matched.
      for (const key of await keys()) {
        const valid = key.expiresAt === null || key.expiresAt > now;
        if (timingSafeEqual(given, key.digest) && valid) match = key.fingerprint;
      }
      return match;
    },
  };
}
