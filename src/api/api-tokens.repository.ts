/**
 * API tokens: `cb_<prefix>_<secret>`. Only the SHA-256 of the whole token is
 * stored; the prefix is kept in clear so a token can be recognised in lists.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret, newSecret } from '../lib/secret-hash.js';
import type { Db } from '../storage/schema.js';

const TOKEN_PATTERN = /^cb_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

/** A token as shown to people: never its secret or hash. */
export interface ApiTokenInfo {
  id: number;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** True when `raw` has the shape of a token this service issues (checked before any query). */
function looksLikeApiToken(raw: string): boolean {
  return TOKEN_PATTERN.test(raw);
}

/** How a token is shown in lists: `cb_1a2b3c4d_…`. */
export function displayPrefix(prefix: string): string {
  return `cb_${prefix}_…`;
}

/** Creates a token; the returned `token` is the only copy of the secret that will ever exist. */
export async function createApiToken(
  db: Db,
  name: string,
  now: Date,
): Promise<ApiTokenInfo & { token: string }> {
  const prefix = randomBytes(4).toString('hex');
  const token = `cb_${prefix}_${newSecret()}`;
  const createdAt = now.toISOString();
  const row = await db
    .insertInto('api_tokens')
    .values({
      name,
      token_hash: hashSecret(token),
      prefix,
      created_at: createdAt,
      last_used_at: null,
      revoked_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, name, prefix, createdAt, lastUsedAt: null, revokedAt: null, token };
}

export async function listApiTokens(db: Db): Promise<ApiTokenInfo[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at'])
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  }));
}

export type RevokeOutcome = 'revoked' | 'already_revoked' | 'not_found';

export async function revokeApiToken(db: Db, id: number, now: Date): Promise<RevokeOutcome> {
  const updated = await db
    .updateTable('api_tokens')
    .set({ revoked_at: now.toISOString() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (updated) return 'revoked';
  const exists = await db
    .selectFrom('api_tokens')
    .select('id')
    .where('id', '=', id)
    .executeTakeFirst();
  return exists ? 'already_revoked' : 'not_found';
}

export interface ActiveApiToken {
  id: number;
  name: string;
  lastUsedAt: string | null;
}

/** The token `raw` names, unless it is unknown or revoked. */
export async function findActiveApiToken(db: Db, raw: string): Promise<ActiveApiToken | undefined> {
  if (!looksLikeApiToken(raw)) return undefined;
  const row = await db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'last_used_at'])
    .where('token_hash', '=', hashSecret(raw))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ? { id: row.id, name: row.name, lastUsedAt: row.last_used_at } : undefined;
}

/** Records a use, unless one was recorded less than `minIntervalMs` ago (by any process). */
export async function touchApiToken(
  db: Db,
  id: number,
  now: Date,
  minIntervalMs: number,
): Promise<void> {
  const cutoff = new Date(now.getTime() - minIntervalMs).toISOString();
  await db
    .updateTable('api_tokens')
    .set({ last_used_at: now.toISOString() })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', cutoff)]))
    .execute();
}
