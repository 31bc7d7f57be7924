/**
 * A logged-in user choosing a new password. Wrong current passwords count
 * against the same per-account limit as failed logins, so a borrowed
 * session cannot be used to guess the password.
 */
import type { Kysely } from 'kysely';
import { verifyPassword } from '../directory/passwords.js';
import type { DB, UserRow } from '../storage/schema.js';
import { LOGIN_WINDOW_MS, type AuthDeps } from './authenticate.js';
import { hitLimit, peekLimit } from './rate-limits.js';
import { deleteOtherSessions } from './sessions.repository.js';

export type CurrentPasswordCheck = { ok: true } | { ok: false; reason: 'wrong' } | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** Checks the password a user typed as their current one, counting failures like failed logins. */
export async function verifyCurrentPassword(deps: AuthDeps, user: UserRow, password: string): Promise<CurrentPasswordCheck> {
  const now = deps.clock.now();
  const key = `login:user:${user.id}`;
  const failures = await peekLimit(deps.db, key, now);
  if (failures.count >= deps.settings.login_limit_per_account) {
    return { ok: false, reason: 'rate_limited', retryAfterSeconds: failures.retryAfterSeconds };
  }
  if (password !== '' && (await verifyPassword(password, user.password_hash))) return { ok: true };
  await hitLimit(deps.db, key, LOGIN_WINDOW_MS, now);
  return { ok: false, reason: 'wrong' };
}

/**
 * Stores the new hash (computed by the caller, outside the transaction) and,
 * together with it, spends the user's open set-password links and ends every
 * other session: whoever knew the old password or held a link loses access.
 */
export async function changePassword(
  db: Kysely<DB>,
  change: { userId: number; passwordHash: string; keepSessionSecret: string },
  now: Date,
): Promise<void> {
  const at = now.toISOString();
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: change.passwordHash, password_generated: 0, updated_at: at })
      .where('id', '=', change.userId)
      .execute();
    await trx.updateTable('password_tokens').set({ used_at: at }).where('user_id', '=', change.userId).where('used_at', 'is', null).execute();
    await deleteOtherSessions(trx, change.userId, change.keepSessionSecret);
  });
}
