/**
 * A logged-in user choosing a new password. Wrong current passwords count
 * against the same per-account limit as failed logins, so a borrowed
 * session cannot be used to guess the password.
 */
import type { Kysely } from 'kysely';
import { verifyPassword } from '../directory/passwords.js';
import { updateUser } from '../directory/user.repository.js';
import type { DB, UserRow } from '../storage/schema.js';
import { accountLimitKey, LOGIN_WINDOW_MS, type AuthDeps } from './authenticate.js';
import {
  lookupPasswordToken,
  spendOpenTokens,
  spendPasswordToken,
} from './password-tokens.repository.js';
import { clearLimit, hitLimit } from './rate-limits.js';
import { deleteUserSessions } from './sessions.repository.js';

export type CurrentPasswordCheck =
  | { ok: true }
  | { ok: false; reason: 'wrong' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

/** Checks the password a user typed as their current one, counted before the hash like a login attempt. */
export async function verifyCurrentPassword(
  deps: AuthDeps,
  user: UserRow,
  password: string,
): Promise<CurrentPasswordCheck> {
  const key = accountLimitKey(user);
  const attempt = await hitLimit(deps.db, key, LOGIN_WINDOW_MS, deps.clock.now());
  if (attempt.count > deps.settings.login_limit_per_account) {
    return { ok: false, reason: 'rate_limited', retryAfterSeconds: attempt.retryAfterSeconds };
  }
  if (password === '' || !(await verifyPassword(password, user.password_hash, deps.keyring)))
    return { ok: false, reason: 'wrong' };
  await clearLimit(deps.db, key);
  return { ok: true };
}

/**
 * Ends what an account's old credentials opened, in the caller's transaction:
 * the user's open set-password links are spent and their sessions end (but
 * `keepSessionSecret`'s). Done with every password or e-mail change, so
 * whoever knew the old password, held a link or reads the old mailbox loses access.
 */
export async function revokeAccess(
  trx: Kysely<DB>,
  userId: number,
  at: string,
  keepSessionSecret?: string,
): Promise<void> {
  await spendOpenTokens(trx, userId, at);
  await deleteUserSessions(trx, userId, keepSessionSecret);
}

/**
 * A new password, in the caller's transaction: the hash (computed by the
 * caller, outside any transaction) replaces the old one and access is
 * revoked as above.
 */
export async function storeNewPassword(
  trx: Kysely<DB>,
  change: { userId: number; passwordHash: string; keepSessionSecret?: string | undefined },
  at: string,
): Promise<void> {
  await updateUser(trx, change.userId, {
    password_hash: change.passwordHash,
    password_generated: 0,
    updated_at: at,
  });
  await revokeAccess(trx, change.userId, at, change.keepSessionSecret);
}

/** A logged-in user's new password; the session in use stays. */
export async function changePassword(
  db: Kysely<DB>,
  change: { userId: number; passwordHash: string; keepSessionSecret: string },
  now: Date,
): Promise<void> {
  await db.transaction().execute((trx) => storeNewPassword(trx, change, now.toISOString()));
}

export type TokenUse =
  { status: 'done'; userId: number } | { status: 'expired' | 'used' | 'unknown' };

/**
 * Uses a set-password link, in one transaction: the link is spent and the
 * password stored as by a change, with every session ended. Two submissions
 * racing for one link: exactly one wins.
 */
export async function setPasswordWithToken(
  db: Kysely<DB>,
  raw: string,
  passwordHash: string,
  now: Date,
): Promise<TokenUse> {
  return db.transaction().execute(async (trx) => {
    const userId = await spendPasswordToken(trx, raw, now);
    if (userId === undefined) {
      const lookup = await lookupPasswordToken(trx, raw, now);
      return lookup.status === 'valid' ? { status: 'used' as const } : lookup;
    }
    await storeNewPassword(trx, { userId, passwordHash }, now.toISOString());
    return { status: 'done' as const, userId };
  });
}
