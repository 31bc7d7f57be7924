/**
 * Creating and updating a user from a contact's mapped fields: finding the
 * user a contact means, a free login for a new one, the changes for an
 * existing one. Runs inside the caller's transaction; says what it did and
 * what it declined as notices.
 */
import { AppError, type ErrorCode } from '../errors.js';
import { isValidEmail } from '../lib/email.js';
import { MASK } from '../lib/secrets.js';
import type { Db, UserRow, UserUpdate } from '../storage/schema.js';
import {
  generatePassword,
  hashGeneratedPassword,
  hashPassword,
  type PasswordKeyring,
} from './passwords.js';
import type { Role } from './role.repository.js';
import { isAdminRole, resolveRole } from './roles.js';
import {
  findLinkedContact,
  findUserByContact,
  findUserByEmail,
  getUserMeta,
  insertUser,
  lockUser,
  loginExists,
  setUserMeta,
  updateUser,
} from './user.repository.js';
import { nextUsernameCandidate, sanitizeLogin, usernameBase } from './username.js';
import type { UsernameFormatName } from '../settings/settings.js';

/** The user fields a contact supplies through its connection's field mapping. */
export interface MappedContact {
  email?: string | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  display_name?: string | undefined;
  user_login?: string | undefined;
  user_pass?: string | undefined;
  role?: string | undefined;
  meta: Record<string, string>;
}

/** A user found for the contact, or one found by e-mail that the contact may not take over. */
export type UserMatch =
  /** `linked`: found by this contact's link, which therefore exists already. */
  | { user: UserRow; linked: boolean; refused?: undefined }
  | { user?: undefined; refused: { code: ErrorCode; userId: number; reason: string } };

const MAX_LOGIN_ATTEMPTS = 25;

/**
 * The user linked to the contact; else one with one of `emails`, in order.
 * A user found by e-mail is linked only when it holds no admin role and no
 * other contact of this connection is linked to it: an e-mail address proves
 * nothing about who sent the webhook.
 */
export async function findUserForContact(
  db: Db,
  connectionId: string,
  contactId: string,
  emails: readonly (string | undefined)[],
  roles: readonly Role[],
): Promise<UserMatch | undefined> {
  const linked = await findUserByContact(db, connectionId, contactId);
  if (linked) return { user: linked, linked: true };
  for (const email of emails) {
    if (!email) continue;
    const byEmail = await findUserByEmail(db, email);
    if (!byEmail) continue;
    if (isAdminRole(byEmail.role, roles)) {
      return {
        refused: {
          code: 'ADMIN_NOT_LINKABLE',
          userId: byEmail.id,
          reason: `User #${byEmail.id} with the e-mail ${email} holds the admin role "${byEmail.role}", which webhooks never link to a contact`,
        },
      };
    }
    await lockUser(db, byEmail.id);
    if ((await findLinkedContact(db, byEmail.id, connectionId)) !== undefined) {
      return {
        refused: {
          code: 'USER_LINKED_TO_OTHER_CONTACT',
          userId: byEmail.id,
          reason: `User #${byEmail.id} with the e-mail ${email} is already linked to another contact of connection ${connectionId}`,
        },
      };
    }
    return { user: byEmail, linked: false };
  }
  return undefined;
}

export interface PreparedPassword {
  hash: string;
  /** Set when the password was generated rather than taken from the contact. */
  generated: string | undefined;
}

/** A password the contact carries; the mask (from a replay of a webhook stored before sealing) is none. */
export function isGivenPassword(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '' && value !== MASK;
}

/**
 * The contact's mapped password hashed with argon2id (off the event loop), or a generated one
 * hashed with the fast keyed scheme: a 96-bit random secret needs no slow hash.
 */
export async function preparePassword(
  mapped: MappedContact,
  keyring: PasswordKeyring,
): Promise<PreparedPassword> {
  if (isGivenPassword(mapped.user_pass))
    return { hash: await hashPassword(mapped.user_pass), generated: undefined };
  const generated = generatePassword();
  return { hash: hashGeneratedPassword(generated, keyring), generated };
}

export interface NewUserInput {
  mapped: MappedContact;
  contactId: string;
  /** The `role` parameter, used when no field maps to the role. */
  requestedRole: string | undefined;
  roles: readonly Role[];
  defaultRole: string;
  usernameFormat: UsernameFormatName;
  random: () => number;
  password: PreparedPassword;
  now: string;
}

/** Creates the user a contact describes; throws AppError when it cannot. */
export async function createUserFromContact(
  db: Db,
  input: NewUserInput,
): Promise<{ user: UserRow; notices: string[] }> {
  const { mapped, contactId, roles } = input;
  const notices: string[] = [];
  const email = mapped.email;
  if (!email) throw new AppError('CONTACT_HAS_NO_EMAIL', `contact ${contactId}`);
  if (!isValidEmail(email))
    throw new AppError('INVALID_EMAIL', `"${email}" (contact ${contactId})`);

  const role = resolveRole(mapped.role ?? input.requestedRole, roles, input.defaultRole);
  if (role.notice) notices.push(role.notice);
  // The default role is checked when set, but a role can be made an admin role afterwards.
  if (isAdminRole(role.slug, roles)) {
    throw new AppError(
      'INVALID_SETTING',
      `default_role "${role.slug}" is an admin role, which webhooks never assign; choose another`,
    );
  }
  const login = await uniqueLogin(db, input, email);
  if (login.notice) notices.push(login.notice);

  const firstName = mapped.first_name?.trim() ?? '';
  const lastName = mapped.last_name?.trim() ?? '';
  const user = await insertUser(db, {
    login: login.login,
    email,
    email_lower: email.toLowerCase(),
    password_hash: input.password.hash,
    password_generated: input.password.generated === undefined ? 0 : 1,
    role: role.slug,
    first_name: firstName,
    last_name: lastName,
    display_name:
      mapped.display_name?.trim() || [firstName, lastName].filter(Boolean).join(' ') || login.login,
    created_at: input.now,
    updated_at: input.now,
  });
  await setUserMeta(db, user.id, mapped.meta);
  return { user, notices };
}

async function uniqueLogin(
  db: Db,
  input: NewUserInput,
  email: string,
): Promise<{ login: string; notice?: string }> {
  const { mapped } = input;
  const requested = sanitizeLogin(mapped.user_login ?? '');
  const base =
    requested ||
    usernameBase(
      input.usernameFormat,
      { email, first_name: mapped.first_name, last_name: mapped.last_name },
      input.random,
    ) ||
    sanitizeLogin(email.toLowerCase());
  let candidate = base;
  for (let attempt = 0; attempt < MAX_LOGIN_ATTEMPTS; attempt += 1) {
    // Each clash appends digits to the name tried before, as WP Fusion does.
    if (attempt > 0) candidate = sanitizeLogin(nextUsernameCandidate(candidate, input.random));
    if (!(await loginExists(db, candidate))) {
      if (requested && candidate !== requested) {
        return {
          login: candidate,
          notice: `Username "${requested}" is taken; the new user is "${candidate}"`,
        };
      }
      return { login: candidate };
    }
  }
  throw new AppError('LOGIN_TAKEN', `no free username found for "${base}"`);
}

export interface UserChanges {
  changes: string[];
  notices: string[];
  /** The e-mail changed: links and logins handed to the old address must end. */
  emailChanged: boolean;
}

/** Applies a contact's mapped fields to an existing user (admins keep their e-mail and role). */
export async function updateUserFromContact(
  db: Db,
  user: UserRow,
  input: {
    mapped: MappedContact;
    requestedRole: string | undefined;
    roles: readonly Role[];
    defaultRole: string;
    now: string;
  },
): Promise<UserChanges> {
  const { mapped, roles } = input;
  const changes: string[] = [];
  const notices: string[] = [];
  const update: UserUpdate = {};
  const isAdmin = isAdminRole(user.role, roles);
  if (mapped.email && mapped.email.toLowerCase() !== user.email_lower) {
    const owner = await findUserByEmail(db, mapped.email);
    if (isAdmin)
      notices.push(
        `User #${user.id} holds the admin role "${user.role}", whose e-mail webhooks never change; kept ${user.email}`,
      );
    else if (!isValidEmail(mapped.email))
      notices.push(`E-mail "${mapped.email}" is not valid; kept "${user.email}"`);
    else if (owner && owner.id !== user.id)
      notices.push(`E-mail ${mapped.email} belongs to user #${owner.id}; kept ${user.email}`);
    else {
      update.email = mapped.email;
      update.email_lower = mapped.email.toLowerCase();
      changes.push('email');
    }
  }
  for (const field of ['first_name', 'last_name', 'display_name'] as const) {
    const value = mapped[field];
    if (value !== undefined && value.trim() !== user[field]) {
      update[field] = value.trim();
      changes.push(field);
    }
  }
  const requestedRole = mapped.role ?? input.requestedRole;
  if (requestedRole?.trim()) {
    if (isAdmin) {
      notices.push(
        `User #${user.id} holds the admin role "${user.role}", which webhooks never change`,
      );
    } else {
      const role = resolveRole(requestedRole, roles, input.defaultRole);
      if (role.notice) notices.push(role.notice);
      if (role.slug !== user.role && !role.notice) {
        update.role = role.slug;
        changes.push('role');
      }
    }
  }
  const meta = await getUserMeta(db, user.id);
  const metaChanges = Object.fromEntries(
    Object.entries(mapped.meta).filter(([key, value]) => meta[key] !== value),
  );
  await setUserMeta(db, user.id, metaChanges);
  changes.push(...Object.keys(metaChanges).map((key) => `meta.${key}`));
  if (Object.keys(update).length > 0 || changes.length > 0) {
    await updateUser(db, user.id, { ...update, updated_at: input.now });
  }
  return { changes, notices, emailChanged: update.email !== undefined };
}
