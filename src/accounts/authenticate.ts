/**
 * Checks a login (username or e-mail) and password, with rate limits per
 * client address and per account. Used by the login page and the REST API.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { hashPassword, verifyPassword } from '../directory/passwords.js';
import { findUserByEmail, findUserByLogin } from '../directory/user.repository.js';
import type { Settings } from '../settings/settings.js';
import type { DB, UserRow } from '../storage/schema.js';
import { clearLimit, hitLimit, peekLimit } from './rate-limits.js';

export const LOGIN_WINDOW_MS = 15 * 60_000;

export interface AuthDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Pick<Settings, 'login_limit_per_ip' | 'login_limit_per_account'>;
}

/** A refusal names the account the login pointed to, if any, for the caller's activity log. */
export type AuthOutcome =
  | { ok: true; user: UserRow }
  | { ok: false; reason: 'invalid'; user: UserRow | undefined }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number; user: UserRow | undefined };

let dummyHash: Promise<string> | undefined;
/** Verifying against a throwaway hash keeps unknown names as slow as wrong passwords. */
function throwawayHash(): Promise<string> {
  dummyHash ??= hashPassword('not a password anyone has');
  return dummyHash;
}

/** The per-account counter of failed logins (and wrong current passwords). */
export function accountLimitKey(user: Pick<UserRow, 'id'>): string {
  return `login:user:${user.id}`;
}

/** Finds the user a login form names: e-mail when it has an @ and matches, else username. */
export async function findUserForLogin(db: Kysely<DB>, identifier: string): Promise<UserRow | undefined> {
  const name = identifier.trim();
  if (!name) return undefined;
  if (name.includes('@')) {
    const byEmail = await findUserByEmail(db, name);
    if (byEmail) return byEmail;
  }
  return findUserByLogin(db, name);
}

/**
 * `ip` is counted on every attempt; the account only on failures, and a
 * success clears it. Unknown names are counted like accounts, so the answers
 * never tell which names exist.
 */
export async function authenticate(
  deps: AuthDeps,
  input: { identifier: string; password: string; ip?: string | undefined },
): Promise<AuthOutcome> {
  const { db, settings } = deps;
  const now = deps.clock.now();
  const user = await findUserForLogin(db, input.identifier);
  if (input.ip !== undefined) {
    const perIp = await hitLimit(db, `login:ip:${input.ip}`, LOGIN_WINDOW_MS, now);
    if (perIp.count > settings.login_limit_per_ip) return { ok: false, reason: 'rate_limited', retryAfterSeconds: perIp.retryAfterSeconds, user };
  }
  const accountKey = user ? accountLimitKey(user) : `login:name:${input.identifier.trim().toLowerCase()}`;
  const failures = await peekLimit(db, accountKey, now);
  if (failures.count >= settings.login_limit_per_account) {
    return { ok: false, reason: 'rate_limited', retryAfterSeconds: failures.retryAfterSeconds, user };
  }
  const matches = await verifyPassword(input.password, user?.password_hash ?? (await throwawayHash()));
  if (!user || !matches || input.password === '') {
    await hitLimit(db, accountKey, LOGIN_WINDOW_MS, now);
    return { ok: false, reason: 'invalid', user };
  }
  if (failures.count > 0) await clearLimit(db, accountKey);
  return { ok: true, user };
}
