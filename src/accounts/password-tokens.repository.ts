/**
 * Single-use set-password links. The raw token exists only in the e-mail;
 * the table keeps its SHA-256, so a database leak gives no usable link.
 */
import type { Kysely } from 'kysely';
import { hashSecret, newSecret } from '../lib/secret-hash.js';
import type { DB, TokenPurpose } from '../storage/schema.js';

export async function createPasswordToken(
  db: Kysely<DB>,
  token: { userId: number; purpose: TokenPurpose; ttlMs: number },
  now: Date,
): Promise<{ raw: string; expiresAt: Date }> {
  const raw = newSecret();
  const expiresAt = new Date(now.getTime() + token.ttlMs);
  await db
    .insertInto('password_tokens')
    .values({
      token_hash: hashSecret(raw),
      user_id: token.userId,
      purpose: token.purpose,
      created_at: now.toISOString(),
      expires_at: expiresAt.toISOString(),
      used_at: null,
    })
    .execute();
  return { raw, expiresAt };
}

/** Removes a token that never reached its user (the e-mail carrying it was not sent). */
export async function deletePasswordToken(db: Kysely<DB>, raw: string): Promise<void> {
  await db.deleteFrom('password_tokens').where('token_hash', '=', hashSecret(raw)).execute();
}

export type TokenLookup =
  | { status: 'valid'; userId: number; purpose: TokenPurpose; expiresAt: string }
  | { status: 'expired' | 'used' | 'unknown' };

export async function lookupPasswordToken(
  db: Kysely<DB>,
  raw: string,
  now: Date,
): Promise<TokenLookup> {
  if (!raw) return { status: 'unknown' };
  const row = await db
    .selectFrom('password_tokens')
    .selectAll()
    .where('token_hash', '=', hashSecret(raw))
    .executeTakeFirst();
  if (!row) return { status: 'unknown' };
  if (row.used_at !== null) return { status: 'used' };
  if (row.expires_at <= now.toISOString()) return { status: 'expired' };
  return { status: 'valid', userId: row.user_id, purpose: row.purpose, expiresAt: row.expires_at };
}

/** Spends the token if it is open and unexpired; the user it belongs to, or undefined. */
export async function spendPasswordToken(
  db: Kysely<DB>,
  raw: string,
  now: Date,
): Promise<number | undefined> {
  const at = now.toISOString();
  const spent = await db
    .updateTable('password_tokens')
    .set({ used_at: at })
    .where('token_hash', '=', hashSecret(raw))
    .where('used_at', 'is', null)
    .where('expires_at', '>', at)
    .returning('user_id')
    .executeTakeFirst();
  return spent?.user_id;
}

/** Spends every open link of the user. */
export async function spendOpenTokens(db: Kysely<DB>, userId: number, at: string): Promise<void> {
  await db
    .updateTable('password_tokens')
    .set({ used_at: at })
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
}

/** Drops links that expired or were used more than a week ago. */
export async function prunePasswordTokens(db: Kysely<DB>, now: Date): Promise<void> {
  const weekAgo = new Date(now.getTime() - 7 * 24 * 3_600_000).toISOString();
  await db.deleteFrom('password_tokens').where('expires_at', '<', weekAgo).execute();
}
