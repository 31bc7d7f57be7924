/**
 * Checks a login (username or e-mail) and password, with rate limits per
 * client address and per account. Used by the login page and the REST API.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { hashPassword, needsRehash, verifyPassword } from '../directory/passwords.js';
import {
  findUserByEmail,
  findUserByLogin,
  replacePasswordHash,
} from '../directory/user.repository.js';
import type { Settings } from '../settings/settings.js';
import type { DB, UserRow } from '../storage/schema.js';
import { hashSecret } from '../lib/secret-hash.js';
import { clearLimit, hitLimit } from './rate-limits.js';

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

/** The per-account counter of login attempts (and current-password checks). */
export function accountLimitKey(user: Pick<UserRow, 'id'>): string {
  return `login:user:${user.id}`;
}

/** Where a login attempt came from: the login page, or a site asking over the REST API. */
export type LoginChannel = 'page' | 'api';

/**
 * Per-address counters, one set per channel: the API's `client_ip` is the
 * site's word for its visitor, and must not spend the login page's budget
 * of the same address (nor the other way round).
 */
function addressLimitKey(channel: LoginChannel, ip: string): string {
  return channel === 'page' ? `login:ip:${ip}` : `api-login:ip:${ip}`;
}

/** Names nobody has are counted under their hash: people type passwords into login fields. */
function unknownNameLimitKey(identifier: string): string {
  return `login:name:${hashSecret(identifier.trim().toLowerCase())}`;
}

/** Finds the user a login form names: e-mail when it has an @ and matches, else username. */
export async function findUserForLogin(
  db: Kysely<DB>,
  identifier: string,
): Promise<UserRow | undefined> {
  const name = identifier.trim();
  if (!name) return undefined;
  if (name.includes('@')) {
    const byEmail = await findUserByEmail(db, name);
    if (byEmail) return byEmail;
  }
  return findUserByLogin(db, name);
}

/**
 * Every attempt is counted, per address and per account, before the
 * password is checked, each in one statement that returns the new count:
 * parallel guesses each get their own number, so at most
 * `login_limit_per_account` of them reach the hash in a window. A success
 * clears the account's count. Unknown names are counted like accounts, so
 * the answers never tell which names exist.
 */
export async function authenticate(
  deps: AuthDeps,
  input: {
    identifier: string;
    password: string;
    ip?: string | undefined;
    channel?: LoginChannel | undefined;
  },
): Promise<AuthOutcome> {
  const { db, settings } = deps;
  const now = deps.clock.now();
  const user = await findUserForLogin(db, input.identifier);
  if (input.ip !== undefined) {
    const perIp = await hitLimit(
      db,
      addressLimitKey(input.channel ?? 'page', input.ip),
      LOGIN_WINDOW_MS,
      now,
    );
    if (perIp.count > settings.login_limit_per_ip)
      return {
        ok: false,
        reason: 'rate_limited',
        retryAfterSeconds: perIp.retryAfterSeconds,
        user,
      };
  }
  const accountKey = user ? accountLimitKey(user) : unknownNameLimitKey(input.identifier);
  const attempt = await hitLimit(db, accountKey, LOGIN_WINDOW_MS, now);
  if (attempt.count > settings.login_limit_per_account) {
    return {
      ok: false,
      reason: 'rate_limited',
      retryAfterSeconds: attempt.retryAfterSeconds,
      user,
    };
  }
  const matches = await verifyPassword(
    input.password,
    user?.password_hash ?? (await throwawayHash()),
  );
  if (!user || !matches || input.password === '') return { ok: false, reason: 'invalid', user };
  await clearLimit(db, accountKey);
  if (needsRehash(user.password_hash)) {
    // The only moment the password is known: an old-format hash becomes argon2id now.
    const passwordHash = await hashPassword(input.password);
    await replacePasswordHash(db, user.id, user.password_hash, passwordHash);
    return { ok: true, user: { ...user, password_hash: passwordHash } };
  }
  return { ok: true, user };
}
