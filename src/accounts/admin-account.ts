/**
 * The first administrator (and any later one): a user holding an admin role
 * with a generated password nobody knows, and a single-use link to choose
 * one. Made from the command line only; webhooks never create or change
 * such a user (see actions/rules.ts).
 */
import type { Kysely } from 'kysely';
import { sanitizeLogin } from '../directory/username.js';
import { isValidEmail } from '../lib/email.js';
import { writeActivity } from '../activity/activity.repository.js';
import type { Clock } from '../clock.js';
import { generatePassword, hashPassword } from '../directory/passwords.js';
import { listRoles } from '../directory/role.repository.js';
import {
  findUserByEmail,
  insertUser,
  loginExists,
  updateUser,
} from '../directory/user.repository.js';
import { AppError } from '../errors.js';
import type { DB, UserRow } from '../storage/schema.js';
import { createPasswordToken } from './password-tokens.repository.js';

export interface AdminAccountInput {
  email: string;
  /** Defaults to the e-mail address. */
  login?: string | undefined;
  /** How long the set-password link stays valid. */
  linkTtlMs: number;
}

export interface AdminAccount {
  user: UserRow;
  /** True when a user with this e-mail existed and was given the admin role. */
  promoted: boolean;
  /** The raw set-password token: shown once, only its hash is kept. */
  token: string;
  expiresAt: Date;
}

/** The admin role new administrators get: `administrator`, else the first admin role. */
async function adminRole(db: Kysely<DB>): Promise<string> {
  const roles = (await listRoles(db)).filter((role) => role.isAdmin);
  const role = roles.find((entry) => entry.slug === 'administrator') ?? roles[0];
  if (!role)
    throw new AppError('INVALID_CONFIG', 'no admin role exists; add one with roles add --admin');
  return role.slug;
}

export async function createAdminAccount(
  deps: { db: Kysely<DB>; clock: Clock },
  input: AdminAccountInput,
): Promise<AdminAccount> {
  const { db, clock } = deps;
  const email = input.email.trim();
  if (!isValidEmail(email))
    throw new AppError('INVALID_REQUEST', `"${email}" is not an e-mail address`);
  const role = await adminRole(db);
  const at = clock.now().toISOString();
  let user = await findUserByEmail(db, email);
  const promoted = user !== undefined;
  if (user) {
    await updateUser(db, user.id, { role, updated_at: at });
    user = { ...user, role, updated_at: at };
  } else {
    const login = sanitizeLogin(input.login?.trim() || email);
    if (login === '') throw new AppError('INVALID_REQUEST', 'the login has no usable characters');
    if (await loginExists(db, login))
      throw new AppError(
        'INVALID_REQUEST',
        `the login "${login}" is taken; choose another with --login`,
      );
    user = await insertUser(db, {
      login,
      email,
      email_lower: email.toLowerCase(),
      password_hash: await hashPassword(generatePassword()),
      password_generated: 1,
      role,
      first_name: '',
      last_name: '',
      display_name: login,
      created_at: at,
      updated_at: at,
    });
  }
  const token = await createPasswordToken(
    db,
    { userId: user.id, purpose: 'welcome', ttlMs: input.linkTtlMs },
    clock.now(),
  );
  await writeActivity(
    db,
    [
      {
        level: 'notice',
        action: 'admin',
        userId: user.id,
        message: promoted
          ? `Command line: ${user.login} was given the ${role} role`
          : `Command line: administrator ${user.login} created`,
      },
    ],
    at,
  );
  return { user, promoted, token: token.raw, expiresAt: token.expiresAt };
}
