/**
 * The site's access key: ≥128-bit random, rotatable with a grace period during
 * which the previous key still works. Stored sealed and checked against a
 * keyed digest in constant time, so a database dump alone gives no key.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { isSealed, sameDigest, type Sealer } from '../lib/seal.js';
import type { Db, AccessKeysTable } from '../storage/schema.js';

/** 24 random bytes: 192 bits, 32 URL-safe characters. */
function generateAccessKey(): string {
  return randomBytes(24).toString('base64url');
}

/** Bits a key of our own carries; an imported key with fewer is called weak. */
const STRONG_KEY_BITS = 128;
const MAX_KEY_LENGTH = 256;

/**
 * Why `key` cannot be an access key, or undefined when it can. A key travels
 * in URLs and form fields and is compared as sent, so it holds no spaces or
 * control characters.
 */
function accessKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.length > MAX_KEY_LENGTH) return `the key is longer than ${MAX_KEY_LENGTH} characters`;
  if (/[\s\p{Cc}]/u.test(key)) return 'the key holds spaces or control characters';
  return undefined;
}

/**
 * About how many bits a key holds if its characters were drawn at random from
 * the smallest usual alphabet that contains them (digits, hex, letters, base64url,
 * printable ASCII). Short keys such as WP Fusion's score far below 128.
 */
function estimatedKeyBits(key: string): number {
  const alphabet = /^[0-9]+$/.test(key)
    ? 10
    : /^[0-9a-f]+$/.test(key) || /^[0-9A-F]+$/.test(key)
      ? 16
      : /^[A-Za-z0-9]+$/.test(key)
        ? 62
        : /^[A-Za-z0-9_-]+$/.test(key)
          ? 64
          : 95;
  return Math.floor(key.length * Math.log2(alphabet));
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
    fingerprint: sealer.fingerprint(secret),
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
 * Seals keys stored in clear by earlier versions, gives every key its digest,
 * and replaces the unkeyed fingerprints earlier versions kept (a plain hash
 * prefix would let a short key be found by guessing). Run whenever a process
 * that holds the sealing key opens the database.
 */
export async function sealStoredAccessKeys(db: Db, sealer: Sealer): Promise<number> {
  const rows = await db
    .selectFrom('access_keys')
    .select(['id', 'secret', 'secret_hash', 'fingerprint'])
    .execute();
  let changed = 0;
  for (const row of rows) {
    const sealedWell = isSealed(row.secret) && row.secret_hash !== null;
    const secret = isSealed(row.secret) ? openSecret(sealer, row.secret) : row.secret;
    const fingerprint = sealer.fingerprint(secret);
    if (sealedWell && row.fingerprint === fingerprint) continue;
    await db
      .updateTable('access_keys')
      .set(
        sealedWell
          ? { fingerprint }
          : {
              secret: sealer.seal(secret),
              secret_hash: sealer.digest(secret).toString('base64url'),
              fingerprint,
            },
      )
      .where('id', '=', row.id)
      .execute();
    changed += 1;
  }
  return changed;
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
export function rotateAccessKey(
  db: Db,
  clock: Clock,
  sealer: Sealer,
  graceMs: number,
): Promise<AccessKeyInfo> {
  return replaceAccessKey(db, clock, sealer, generateAccessKey(), graceMs);
}

/**
 * Makes `secret` the current key (one carried over from another system, such
 * as WP Fusion's); the old one stays valid for `graceMs`. Setting the key that
 * is already current changes nothing.
 */
export async function setAccessKey(
  db: Db,
  clock: Clock,
  sealer: Sealer,
  secret: string,
  graceMs: number,
): Promise<AccessKeyInfo & { changed: boolean }> {
  const problem = accessKeyProblem(secret);
  if (problem) throw new AppError('INVALID_ACCESS_KEY', problem);
  const now = clock.now().toISOString();
  const current = (await activeKeyRows(db, now)).find((row) => row.expires_at === null);
  if (
    current?.secret_hash &&
    sameDigest(sealer.digest(secret), Buffer.from(current.secret_hash, 'base64url'))
  ) {
    return {
      secret,
      fingerprint: current.fingerprint,
      createdAt: current.created_at,
      expiresAt: null,
      changed: false,
    };
  }
  return { ...(await replaceAccessKey(db, clock, sealer, secret, graceMs)), changed: true };
}

async function replaceAccessKey(
  db: Db,
  clock: Clock,
  sealer: Sealer,
  secret: string,
  graceMs: number,
): Promise<AccessKeyInfo> {
  const now = clock.now();
  const graceEnd = new Date(now.getTime() + graceMs).toISOString();
  const row = newKeyRow(secret, sealer, now.toISOString());
  const replace = async (trx: Db) => {
    // Every older key ends with this grace period at the latest: rotating with no grace revokes them all.
    await trx
      .updateTable('access_keys')
      .set({ expires_at: graceEnd })
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', graceEnd)]))
      .execute();
    await trx.insertInto('access_keys').values(row).execute();
  };
  // An import sets the key inside its own transaction; alone, the two writes get one of theirs.
  if (db.isTransaction) await replace(db);
  else await db.transaction().execute(replace);
  return { secret, fingerprint: row.fingerprint, createdAt: row.created_at, expiresAt: null };
}

export interface KeyChecker {
  /** The fingerprint of the matching key, or null. */
  check(candidate: string | undefined): Promise<string | null>;
  /**
   * The fingerprint of a key that matches `candidate` but has been retired
   * (rotated away and past its grace period), or null: an automation still
   * sending it is a mistake to report, not an attack.
   */
  retired(candidate: string | undefined): Promise<string | null>;
}

/**
 * Checks keys against a short-lived cache of the keys' digests, so the
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
      // Retired keys too: one a CRM still sends is told apart from a guess.
      const rows = await db.selectFrom('access_keys').selectAll().orderBy('id', 'desc').execute();
      cached = {
        until: now.getTime() + cacheMs,
        keys: rows
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
  /** The fingerprint of the key matching `candidate` among those `wanted` accepts. */
  const find = async (
    candidate: string | undefined,
    wanted: (valid: boolean) => boolean,
  ): Promise<string | null> => {
    if (!candidate) return null;
    const given = sealer.digest(candidate);
    const now = clock.now().toISOString();
    let match: string | null = null;
    // Compare against every key, so timing does not reveal which matched.
    for (const key of await keys()) {
      const valid = key.expiresAt === null || key.expiresAt > now;
      if (sameDigest(given, key.digest) && wanted(valid)) match = key.fingerprint;
    }
    return match;
  };
  return {
    check: (candidate) => find(candidate, (valid) => valid),
    retired: (candidate) => find(candidate, (valid) => !valid),
  };
}

/**
 * What to tell the owner when a key holds fewer than about 128 random bits (WP Fusion's
 * 8-character keys do), naming the key as `name`; undefined for a strong key.
 */
export function weakAccessKeyWarning(key: string, name: string): string | undefined {
  const bits = estimatedKeyBits(key);
  if (bits >= STRONG_KEY_BITS) return undefined;
  return (
    `${name} is weak (${key.length} characters, about ${bits} bits; keys made here have 192): ` +
    'anyone who guesses it can create users and change their tags and roles. ' +
    'Once every CRM automation works with it, replace it: ' +
    '`crm-bridge access-key rotate --grace-hours 72` prints a strong key, and the old one keeps working ' +
    'for 72 hours while you give the CRMs the new one.'
  );
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
