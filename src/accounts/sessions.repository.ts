/**
 * Login sessions. The cookie holds a random secret and the table only its
 * SHA-256, so a database leak opens no session. Callers pass the secret;
 * hashing stays in here.
 */
import type { Kysely } from 'kysely';
import type { DB, UserRow } from '../storage/schema.js';
import { hashSecret, newSecret } from '../lib/secret-hash.js';

/** last_seen_at is written at most this often, so page views stay reads. */
const SESSION_TOUCH_INTERVAL_MS = 60_000;

export interface NewSession {
  userId: number;
  ttlMs: number;
  ip: string | null;
  userAgent: string | null;
}

/** Starts a session; the returned secret goes in the cookie and is never stored. */
export async function createSession(
  db: Kysely<DB>,
  session: NewSession,
  now: Date,
): Promise<{ secret: string; expiresAt: Date }> {
  const secret = newSecret();
  const expiresAt = new Date(now.getTime() + session.ttlMs);
  await db
    .insertInto('sessions')
    .values({
      id_hash: hashSecret(secret),
      user_id: session.userId,
      created_at: now.toISOString(),
      expires_at: expiresAt.toISOString(),
      last_seen_at: now.toISOString(),
      // Headers are client-controlled: keep the stored copy bounded.
      ip: session.ip?.slice(0, 64) ?? null,
      user_agent: session.userAgent?.slice(0, 512) ?? null,
    })
    .execute();
  return { secret, expiresAt };
}

export interface ActiveSession {
  user: UserRow;
  expiresAt: string;
}

/** The user of an unexpired session, noting that it was seen (at most once a minute). */
export async function resumeSession(
  db: Kysely<DB>,
  secret: string,
  now: Date,
): Promise<ActiveSession | undefined> {
  if (!secret) return undefined;
  const idHash = hashSecret(secret);
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select([
      'sessions.expires_at as session_expires_at',
      'sessions.last_seen_at as session_last_seen_at',
    ])
    .where('sessions.id_hash', '=', idHash)
    .where('sessions.expires_at', '>', now.toISOString())
    .executeTakeFirst();
  if (!row) return undefined;
  const { session_expires_at: expiresAt, session_last_seen_at: lastSeenAt, ...user } = row;
  if (now.getTime() - Date.parse(lastSeenAt) >= SESSION_TOUCH_INTERVAL_MS) {
    await db
      .updateTable('sessions')
      .set({ last_seen_at: now.toISOString() })
      .where('id_hash', '=', idHash)
      .execute();
  }
  return { user, expiresAt };
}

export async function deleteSession(db: Kysely<DB>, secret: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', hashSecret(secret)).execute();
}

/** Ends every session of the user, except the one holding `keepSecret` when given. */
export async function deleteUserSessions(
  db: Kysely<DB>,
  userId: number,
  keepSecret?: string,
): Promise<void> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (keepSecret !== undefined) query = query.where('id_hash', '<>', hashSecret(keepSecret));
  await query.execute();
}

export async function pruneSessions(db: Kysely<DB>, now: Date): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()).execute();
}
