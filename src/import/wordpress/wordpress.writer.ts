/**
 * Stores one imported WordPress user in the user directory, inside the
 * caller's transaction: created, or matched by e-mail and completed. Running it again for the same user changes nothing, so an import
 * can be run again, or resumed after an interruption, safely.
 */
import { isAdminRole } from '../../directory/roles.js';
import type { Role } from '../../directory/role.repository.js';
import {
  addUserTags,
  findLinkedContact,
  findUserByContact,
  findUserByEmail,
  findUserByLogin,
  getUserMeta,
  getUserTagIds,
  insertUser,
  linkContact,
  lockUser,
  setUserMeta,
  updateUser,
} from '../../directory/user.repository.js';
import type { Db, UserRow, UserUpdate } from '../../storage/schema.js';
import type { ImportedUser } from './wordpress.mapper.js';

export interface UserOutcome {
  status: 'created' | 'updated' | 'unchanged' | 'skipped';
  /** Why a user was skipped. */
  reason?: string | undefined;
  /** What changed on a matched user. */
  changes: string[];
  passwordCarried: boolean;
  contactLinked: boolean;
  tagsAdded: number;
  /** Things the site owner should know (a link not made, a role not given). */
  notices: string[];
}

export interface WriteTarget {
  readonly connectionId: string | undefined;
  readonly roles: readonly Role[];
  readonly defaultRole: string;
  /** The hash given to users whose WordPress hash cannot be carried (nobody knows its password). */
  readonly unusableHash: string;
  readonly at: string;
}

/** The first of the user's WordPress roles that exists here, else the default role. */
function roleFor(user: ImportedUser, target: WriteTarget): string {
  return (
    user.roles.find((slug) => target.roles.some((role) => role.slug === slug)) ?? target.defaultRole
  );
}

export async function writeImportedUser(
  db: Db,
  user: ImportedUser,
  target: WriteTarget,
): Promise<UserOutcome> {
  const outcome: UserOutcome = {
    status: 'unchanged',
    changes: [],
    passwordCarried: false,
    contactLinked: false,
    tagsAdded: 0,
    notices: [],
  };
  // By e-mail, which WordPress keeps unique: WP Fusion sites can hold two users with one
  // contact id, and matching by contact would fold the second into the first.
  let row: UserRow | undefined = await findUserByEmail(db, user.email);
  if (!row) {
    const holder = await findUserByLogin(db, user.login);
    if (holder)
      return {
        ...outcome,
        status: 'skipped',
        reason: 'the username is taken here by a user with another e-mail address',
      };
    row = await insertUser(db, {
      login: user.login,
      email: user.email,
      email_lower: user.email.toLowerCase(),
      password_hash: user.passwordHash ?? target.unusableHash,
      password_generated: user.passwordHash ? 0 : 1,
      role: roleFor(user, target),
      first_name: user.firstName,
      last_name: user.lastName,
      display_name: user.displayName || [user.firstName, user.lastName].filter(Boolean).join(' '),
      created_at: user.registeredAt ?? target.at,
      updated_at: target.at,
    });
    outcome.status = 'created';
    outcome.passwordCarried = user.passwordHash !== undefined;
    if (!user.passwordHash)
      outcome.notices.push('no WordPress password hash to carry: the user sets one by e-mail');
  } else {
    await lockUser(db, row.id);
    await completeUser(db, row, user, target, outcome);
  }
  const userId = row.id;
  const created = outcome.status === 'created';

  if (target.connectionId && user.contactId)
    await linkImportedContact(db, userId, user.contactId, target, outcome);
  // Tags come over with the link: once linked, the CRM's webhooks keep them (a tag the CRM
  // removed since must not come back when the import runs again), and a contact linked to
  // someone else is theirs, tags included.
  const bringTags = outcome.contactLinked || (created && !user.contactId);
  if (target.connectionId && bringTags && user.tagIds.length > 0) {
    const have = created
      ? new Set<string>()
      : new Set(await getUserTagIds(db, userId, target.connectionId));
    const missing = user.tagIds.filter((id) => !have.has(id));
    if (missing.length > 0) {
      await addUserTags(db, userId, target.connectionId, missing, target.at);
      outcome.tagsAdded = missing.length;
      if (!created) outcome.changes.push(`tags +${missing.length}`);
    }
  }
  if (Object.keys(user.meta).length > 0) {
    const meta = created ? {} : await getUserMeta(db, userId);
    const newMeta = Object.fromEntries(
      Object.entries(user.meta).filter(([key]) => !Object.hasOwn(meta, key)),
    );
    if (Object.keys(newMeta).length > 0) {
      await setUserMeta(db, userId, newMeta);
      if (!created) outcome.changes.push(`meta ${Object.keys(newMeta).join(', ')}`);
    }
  }
  if (outcome.status === 'unchanged' && outcome.changes.length > 0) outcome.status = 'updated';
  return outcome;
}

/**
 * A user who is already here keeps what they have: names are only filled in,
 * meta and tags only added. The WordPress password replaces only a generated
 * one nobody chose; an admin here keeps their role, and nobody is made an
 * admin by matching an e-mail address (a webhook may have created that user).
 */
async function completeUser(
  db: Db,
  row: UserRow,
  user: ImportedUser,
  target: WriteTarget,
  outcome: UserOutcome,
): Promise<void> {
  const changes: UserUpdate = {};
  if (!row.first_name && user.firstName) changes.first_name = user.firstName;
  if (!row.last_name && user.lastName) changes.last_name = user.lastName;
  if (!row.display_name && user.displayName) changes.display_name = user.displayName;
  if (row.password_generated === 1 && user.passwordHash) {
    changes.password_hash = user.passwordHash;
    changes.password_generated = 0;
    outcome.passwordCarried = true;
  }
  const wanted = roleFor(user, target);
  if (wanted !== row.role) {
    if (isAdminRole(row.role, target.roles)) {
      outcome.notices.push(`keeps the admin role "${row.role}" it has here`);
    } else if (isAdminRole(wanted, target.roles)) {
      outcome.notices.push(
        `not made "${wanted}": an admin role is never given to a user who was already here (a webhook may have made that account)`,
      );
    } else {
      changes.role = wanted;
    }
  }
  const changed = Object.keys(changes);
  if (changed.length === 0) return;
  await updateUser(db, row.id, { ...changes, updated_at: target.at });
  outcome.changes.push(
    ...changed
      .map((name) => (name === 'password_hash' ? 'password' : name))
      .filter((name) => name !== 'password_generated'),
  );
}

async function linkImportedContact(
  db: Db,
  userId: number,
  contactId: string,
  target: WriteTarget,
  outcome: UserOutcome,
): Promise<void> {
  const connectionId = target.connectionId ?? '';
  const owner = await findUserByContact(db, connectionId, contactId);
  if (owner?.id === userId) return;
  if (owner) {
    // Two WordPress users with one contact id (WP Fusion allows it): the first keeps the link.
    outcome.notices.push(`contact ${contactId} is already linked to user #${owner.id}; not linked`);
    return;
  }
  const current =
    outcome.status === 'created' ? undefined : await findLinkedContact(db, userId, connectionId);
  if (current !== undefined) {
    outcome.notices.push(
      `already linked to contact ${current} of this connection; contact ${contactId} not linked`,
    );
    return;
  }
  await linkContact(db, connectionId, contactId, userId, target.at);
  outcome.contactLinked = true;
  if (outcome.status !== 'created') outcome.changes.push('contact link');
}
