/**
 * The site's access key: ≥128-bit random, rotatable with a grace period during
 * which the previous key still works. Stored sealed and checked against a
 * keyed digest in constant time, so a database dump alone gives no key.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { isSealed, sameDigest, type Sealer } from '../lib/seal.js';
import type { Db, AccessKeysTable } from '../storage/schema.js';

/** 24 random bytes: 192 bits, 32 URL-safe characters. */
function generateAccessKey(): string {
  return randomBytes(24).toString('base64url');
}

/** A short, non-reversible name for a key, safe to log. */
function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export interface AccessKeyInfo {
  secret: string;
  fingerprint: string;
  createdAt: string;
  expiresAt: string | null;
}

/** Keys that are valid now: the current one and any still in their grace period (sealed). */
function activeKeyRows(db: Db, now: string) {
  return db
    .selectFrom('access_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('id', 'desc')
    .execute();
}

function newKeyRow(secret: string, sealer: Sealer, createdAt: string): Omit<AccessKeysTable, 'id'> {
  return {
    secret: sealer.seal(secret),
    secret_hash: sealer.digest(secret).toString('base64url'),
    fingerprint: keyFingerprint(secret),
    created_at: createdAt,
    expires_at: null,
  };
}

function openSecret(sealer: Sealer, sealed: string): string {
  try {
    return sealer.open(sealed);
  } catch {
    throw new AppError(
      'INVALID_CONFIG',
      'the access key was sealed with another encryption key (CRM_BRIDGE_ENCRYPTION_KEY or <data dir>/encryption.key); restore that key, or make a new access key with `crm-bridge access-key rotate --grace-hours 0`',
    );
  }
}

/**
 * Seals keys stored in clear by earlier versions and gives every key its
 * digest. Run whenever a process that holds the sealing key opens the database.
 */
export async function sealStoredAccessKeys(db: Db, sealer: Sealer): Promise<number> {
  const rows = await db.selectFrom('access_keys').select(['id', 'secret', 'secret_hash']).execute();
  let sealed = 0;
  for (const row of rows) {
    if (isSealed(row.secret) && row.secret_hash !== null) continue;
    const secret = isSealed(row.secret) ? openSecret(sealer, row.secret) : row.secret;
    await db
      .updateTable('access_keys')
      .set({
        secret: sealer.seal(secret),
        secret_hash: sealer.digest(secret).toString('base64url'),
      })
      .where('id', '=', row.id)
      .execute();
    sealed += 1;
  }
  return sealed;
}

/** The current key, created on first use (`created` tells, so it is printed once). */
export async function currentAccessKey(
  db: Db,
  clock: Clock,
  sealer: Sealer,
): Promise<AccessKeyInfo & { created: boolean }> {
  const now = clock.now().toISOString();
  const current = (await activeKeyRows(db, now)).find((row) => row.expires_at === null);
  if (current) {
    return {
      secret: openSecret(sealer, current.secret),
      fingerprint: current.fingerprint,
      createdAt: current.created_at,
      expiresAt: null,
      created: false,
    };
  }
  const secret = generateAccessKey();
  const row = newKeyRow(secret, sealer, now);
  await db.insertInto('access_keys').values(row).execute();
  return { secret, fingerprint: row.fingerprint, createdAt: now, expiresAt: null, created: true };
}

/** Makes a new current key; the old one stays valid for `graceMs`. */
export async function rotateAccessKey(
  db: Db,
  clock: Clock,
  sealer: Sealer,
  graceMs: number,
): Promise<AccessKeyInfo> {
  const now = clock.now();
  const graceEnd = new Date(now.getTime() + graceMs).toISOString();
  const secret = generateAccessKey();
  const row = newKeyRow(secret, sealer, now.toISOString());
  await db.transaction().execute(async (trx) => {
    // Every older key ends with this grace period at the latest: rotating with no grace revokes them all.
    await trx
      .updateTable('access_keys')
      .set({ expires_at: graceEnd })
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', graceEnd)]))
      .execute();
    await trx.insertInto('access_keys').values(row).execute();
  });
  return { secret, fingerprint: row.fingerprint, createdAt: row.created_at, expiresAt: null };
}

export interface KeyChecker {
  /** The fingerprint of the matching key, or null. */
  check(candidate: string | undefined): Promise<string | null>;
}

/**
 * Checks keys against a short-lived cache of the active keys' digests, so the
 * webhook hot path does not query for them; a rotation is seen within `cacheMs`.
 */
export function createKeyChecker(
  db: Db,
  clock: Clock,
  sealer: Sealer,
  cacheMs = 2_000,
): KeyChecker {
  let cached:
    | {
        until: number;
        keys: Array<{ digest: Buffer; fingerprint: string; expiresAt: string | null }>;
      }
    | undefined;
  const keys = async () => {
    const now = clock.now();
    if (!cached || cached.until <= now.getTime()) {
      const active = await activeKeyRows(db, now.toISOString());
      cached = {
        until: now.getTime() + cacheMs,
        keys: active
          .filter((row) => row.secret_hash !== null)
          .map((row) => ({
            digest: Buffer.from(row.secret_hash ?? '', 'base64url'),
            fingerprint: row.fingerprint,
            expiresAt: row.expires_at,
          })),
      };
    }
    return cached.keys;
  };
  return {
    async check(candidate) {
      if (!candidate) return null;
      const given = sealer.digest(candidate);
      const now = clock.now().toISOString();
      let match: string | null = null;
      // Compare against every key, so timing does not reveal which matched.
      for (const key of await keys()) {
        const valid = key.expiresAt === null || key.expiresAt > now;
        if (sameDigest(given, key.digest) && valid) match = key.fingerprint;
      }
      return match;
    },
  };
}

/** The keys valid now, newest first, without their secrets: the current one and those in their grace period. */
export async function listActiveKeys(
  db: Db,
  clock: Clock,
): Promise<Array<Omit<AccessKeyInfo, 'secret'>>> {
  const rows = await activeKeyRows(db, clock.now().toISOString());
  return rows.map((row) => ({
    fingerprint: row.fingerprint,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  }));
}
