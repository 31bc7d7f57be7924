/**
 * One run: everything due for one contact, done once. Loads the contact
 * (from the webhook or the CRM), then creates or updates its user by the
 * rules in rules.ts. CRM calls happen outside the database transaction.
 */
import type { Kysely } from 'kysely';
import { revokeAccess, storeNewPassword } from '../accounts/password-change.js';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import type { ContactData } from '../connectors/types.js';
import { listRoles, type Role } from '../directory/role.repository.js';
import { generatePassword, hashPassword, verifyPassword } from '../directory/passwords.js';
import { getTagLabels, saveTagLabels } from '../directory/tag.repository.js';
import {
  addUserTags,
  findUserByContact,
  findLinkedContact,
  findUserByEmail,
  getUserMeta,
  getUserTagIds,
  insertUser,
  linkContact,
  lockUser,
  loginExists,
  removeUserTags,
  setUserMeta,
  updateUser,
  type Db,
} from '../directory/user.repository.js';
import { AppError, type ErrorCode } from '../errors.js';
import { MASK } from '../lib/secrets.js';
import { enqueueMail } from '../mail/mail.repository.js';
import type { RunPlan } from '../inbox/coalesce.js';
import type { Settings } from '../settings/settings.js';
import type { DB, UserRow, UserUpdate } from '../storage/schema.js';
import {
  diffTags,
  isAdminRole,
  isValidEmail,
  mapContact,
  resolveRole,
  sanitizeLogin,
  shownFields,
  usernameBase,
  usernameCandidate,
  type Action,
  type MappedContact,
} from './rules.js';

export interface RunDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly random?: () => number;
  /** The webhook event the run answers (linked from the queued welcome e-mail). */
  readonly eventId?: number | null;
  /** Aborted when the run lost its lease of the contact. */
  readonly signal?: AbortSignal | undefined;
  /** Called first inside each write transaction: throws (rolling it back) when the run lost its lease. */
  readonly fence?: ((trx: Db) => Promise<void>) | undefined;
}

export interface TagReport {
  added: string[];
  removed: string[];
  current: string[];
}

export interface RunResult {
  status: 'done' | 'skipped';
  action: Action;
  contactId: string;
  userId: number | null;
  login?: string | undefined;
  created: boolean;
  /** What came from the CRM (or the webhook): mapped fields only, secrets redacted. */
  loaded: {
    source: 'webhook' | 'api';
    email?: string | undefined;
    fields: Record<string, string>;
    tags?: string[] | undefined;
  };
  changes: string[];
  tags: TagReport;
  notices: string[];
  /** Why a skipped run changed nothing. */
  skipReason?: string | undefined;
  passwordGenerated?: boolean | undefined;
  returnPassword?: 'written' | 'failed' | undefined;
  /** queued: a welcome e-mail waits in the mail queue; skipped: asked for, but the user already existed. */
  welcomeEmail: 'queued' | 'not requested' | 'skipped';
  /** The mail queue entry of the welcome e-mail. */
  welcomeEmailId?: number | undefined;
}

const MAX_LOGIN_ATTEMPTS = 25;

/** Runs the plan for one contact of one connection. Throws AppError on failure. */
export async function runContact(
  deps: RunDeps,
  connection: Connection,
  plan: RunPlan,
): Promise<RunResult> {
  const { db, clock } = deps;
  const notices: string[] = [];
  const contact = await gatherContact(connection, plan);
  const mapped = mapContact(
    contact,
    connection.fieldMap,
    connection.definition.unmappedFieldsAsMeta,
  );
  const tagLabels = contact.tags ? await labelTags(deps, connection, contact, notices) : undefined;

  const base: Omit<RunResult, 'status' | 'userId' | 'created' | 'changes' | 'tags'> = {
    action: plan.action,
    contactId: plan.contactId,
    loaded: {
      source: contactSourceOf(connection, plan),
      email: contact.email,
      // The Return Password field holds a password whatever its name.
      fields: shownFields(contact.fields, connection.fieldMap, {
        unmappedAsMeta: connection.definition.unmappedFieldsAsMeta,
        extraSecrets: connection.returnPasswordField ? [connection.returnPasswordField] : [],
      }),
      tags: contact.tags ? contact.tags.map((id) => tagLabels?.get(id) ?? id) : undefined,
    },
    notices,
    welcomeEmail: 'not requested',
  };

  const roles = await listRoles(db);
  // Hashing takes tens of milliseconds: do it before the transaction so it never holds the database.
  const password = plan.action === 'add' ? await preparePassword(mapped) : undefined;
  let generatedPassword: string | undefined;
  const wantsWelcome =
    plan.action === 'add' && (plan.sendNotification === true || deps.settings.send_welcome_email);
  let welcomeEmailId: number | undefined;
  deps.signal?.throwIfAborted();
  const outcome = await db.transaction().execute(async (trx) => {
    await deps.fence?.(trx);
    const match = await findUser(trx, connection.id, plan, mapped, roles);
    if (match?.refused) {
      // add: failing is the safe answer. Updating the user would hand it to this contact,
      // and creating a second user with its e-mail is never allowed; a failed event shows
      // in the event list and can be replayed once the links are sorted out.
      if (plan.action === 'add') {
        throw new AppError(
          match.refused.code,
          `user #${match.refused.userId}; contact ${plan.contactId} was not linked and no user was created`,
        );
      }
      notices.push(
        `${match.refused.reason}; contact ${plan.contactId} was not linked to it and nothing was changed`,
      );
      return {
        status: 'skipped' as const,
        user: undefined,
        created: false,
        changes: [] as string[],
        tags: emptyTags(),
        skipReason: match.refused.reason,
      };
    }
    const user = match?.user;
    if (!user && plan.action !== 'add') {
      notices.push(
        `No user is linked to contact ${plan.contactId}${plan.email ? ` or has the e-mail ${plan.email}` : ''}; nothing to update`,
      );
      return {
        status: 'skipped' as const,
        user: undefined,
        created: false,
        changes: [] as string[],
        tags: emptyTags(),
        skipReason: 'no matching user',
      };
    }
    const now = clock.now().toISOString();
    if (!user) {
      const created = await createUser(
        trx,
        deps,
        mapped,
        plan,
        roles,
        notices,
        password ?? (await preparePassword(mapped)),
      );
      generatedPassword = created.generatedPassword;
      await linkContact(trx, connection.id, plan.contactId, created.user.id, now);
      const tags = await applyTags(
        trx,
        connection.id,
        created.user.id,
        contact.tags,
        tagLabels,
        now,
      );
      if (wantsWelcome) {
        // Queued in the same transaction as the user: both happen, or neither.
        welcomeEmailId = await enqueueMail(
          trx,
          {
            kind: 'welcome',
            userId: created.user.id,
            to: created.user.email,
            eventId: deps.eventId,
          },
          now,
        );
      }
      return {
        status: 'done' as const,
        user: created.user,
        created: true,
        changes: ['created'],
        tags,
      };
    }
    await linkContact(trx, connection.id, plan.contactId, user.id, now);
    const changes =
      plan.action === 'update_tags'
        ? []
        : await updateExistingUser(trx, user, mapped, plan, roles, deps, notices);
    const tags = await applyTags(trx, connection.id, user.id, contact.tags, tagLabels, now);
    return { status: 'done' as const, user, created: false, changes, tags };
  });
  if (
    outcome.user &&
    !outcome.created &&
    plan.action !== 'update_tags' &&
    mapped.user_pass?.trim()
  ) {
    if (isAdminRole(outcome.user.role, roles)) {
      notices.push(
        `User #${outcome.user.id} holds the admin role "${outcome.user.role}", whose password webhooks never change; kept it`,
      );
    } else if (await updatePassword(deps, outcome.user, mapped)) {
      outcome.changes.push('password');
    }
  }

  if (wantsWelcome && outcome.user && !outcome.created) {
    notices.push(`User #${outcome.user.id} already existed, so no welcome e-mail was sent`);
  }
  if (contact.tags === undefined && outcome.user) {
    notices.push('The webhook carried no tags, so the user\u2019s tags were left as they were');
  }
  const result: RunResult = {
    ...base,
    welcomeEmail: wantsWelcome && outcome.user && !outcome.created ? 'skipped' : 'not requested',
    status: outcome.status,
    userId: outcome.user?.id ?? null,
    login: outcome.user?.login,
    created: outcome.created,
    changes: outcome.changes,
    tags: outcome.tags,
    skipReason: 'skipReason' in outcome ? outcome.skipReason : undefined,
  };
  if (outcome.created) {
    result.passwordGenerated = generatedPassword !== undefined;
    if (welcomeEmailId !== undefined) {
      result.welcomeEmail = 'queued';
      result.welcomeEmailId = welcomeEmailId;
    }
    if (generatedPassword !== undefined && connection.returnPasswordField) {
      result.returnPassword = await returnPassword(
        connection,
        plan.contactId,
        generatedPassword,
        notices,
      );
    }
  }
  return result;
}

function contactSourceOf(connection: Connection, plan: RunPlan): 'webhook' | 'api' {
  return plan.action === 'update_tags' && plan.snapshotHasTags
    ? 'webhook'
    : connection.definition.contactSource;
}

/** The contact from the webhook when it carries what the action needs, else from the CRM API. */
async function gatherContact(connection: Connection, plan: RunPlan): Promise<ContactData> {
  if (connection.definition.contactSource === 'webhook') {
    return plan.snapshot ?? { id: plan.contactId, fields: {} };
  }
  if (plan.action === 'update_tags' && plan.snapshot && plan.snapshotHasTags) return plan.snapshot;
  return connection.connector.loadContact(plan.contactId);
}

/** Labels for the contact's tags: known ones from storage, unknown ones from the CRM's tag list. */
async function labelTags(
  deps: RunDeps,
  connection: Connection,
  contact: ContactData,
  notices: string[],
): Promise<Map<string, string>> {
  const ids = contact.tags ?? [];
  const now = deps.clock.now().toISOString();
  if (contact.tagLabels) {
    const carried = ids.filter((id) => contact.tagLabels?.[id] !== undefined);
    await saveTagLabels(
      deps.db,
      connection.id,
      carried.map((id) => ({ id, label: contact.tagLabels?.[id] ?? id })),
      now,
    );
  }
  let labels = await getTagLabels(deps.db, connection.id, ids);
  if (ids.some((id) => !labels.has(id))) {
    try {
      await saveTagLabels(deps.db, connection.id, await connection.connector.listTags(), now);
      labels = await getTagLabels(deps.db, connection.id, ids);
    } catch (error) {
      notices.push(
        `Could not load tag names from the CRM (${error instanceof Error ? error.message : String(error)}); showing tag ids`,
      );
    }
  }
  return labels;
}

/** A user found for the contact, or one found by e-mail that the contact may not take over. */
type UserMatch =
  | { user: UserRow; refused?: undefined }
  | { user?: undefined; refused: { code: ErrorCode; userId: number; reason: string } };

/**
 * The user linked to the contact; else one with the `email` parameter
 * (update and update_tags only) or the contact's own e-mail. A user found by
 * e-mail is linked only when it holds no admin role and no other contact of
 * this connection is linked to it: an e-mail address proves nothing about
 * who sent the webhook.
 */
async function findUser(
  db: Db,
  connectionId: string,
  plan: RunPlan,
  mapped: MappedContact,
  roles: readonly Role[],
): Promise<UserMatch | undefined> {
  const linked = await findUserByContact(db, connectionId, plan.contactId);
  if (linked) return { user: linked };
  for (const email of plan.action === 'add' ? [mapped.email] : [plan.email, mapped.email]) {
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
    return { user: byEmail };
  }
  return undefined;
}

interface PreparedPassword {
  hash: string;
  /** Set when the password was generated rather than taken from the contact. */
  generated: string | undefined;
}

/** A password the contact carries; the mask (from a replay of a webhook stored before sealing) is none. */
function isGivenPassword(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '' && value !== MASK;
}

/** The contact's mapped password, or a generated one, hashed. */
async function preparePassword(mapped: MappedContact): Promise<PreparedPassword> {
  const given = isGivenPassword(mapped.user_pass) ? mapped.user_pass : undefined;
  const generated = given === undefined ? generatePassword() : undefined;
  return { hash: await hashPassword(given ?? generated ?? ''), generated };
}

/** Sets the contact's mapped password on an existing user when it differs; true when changed. */
async function updatePassword(
  deps: RunDeps,
  user: UserRow,
  mapped: MappedContact,
): Promise<boolean> {
  if (!isGivenPassword(mapped.user_pass)) return false;
  if (await verifyPassword(mapped.user_pass, user.password_hash)) return false;
  const hash = await hashPassword(mapped.user_pass);
  // The old password no longer opens anything: logins made with it end, open links are spent.
  await deps.db.transaction().execute(async (trx) => {
    await deps.fence?.(trx);
    await storeNewPassword(
      trx,
      { userId: user.id, passwordHash: hash },
      deps.clock.now().toISOString(),
    );
  });
  return true;
}

async function createUser(
  db: Db,
  deps: RunDeps,
  mapped: MappedContact,
  plan: RunPlan,
  roles: readonly Role[],
  notices: string[],
  password: PreparedPassword,
): Promise<{ user: UserRow; generatedPassword: string | undefined }> {
  const email = mapped.email;
  if (!email) throw new AppError('CONTACT_HAS_NO_EMAIL', `contact ${plan.contactId}`);
  if (!isValidEmail(email))
    throw new AppError('INVALID_EMAIL', `"${email}" (contact ${plan.contactId})`);

  const role = resolveRole(mapped.role ?? plan.role, roles, deps.settings.default_role);
  if (role.notice) notices.push(role.notice);
  // The default role is checked when set, but a role can be made an admin role afterwards.
  if (isAdminRole(role.slug, roles)) {
    throw new AppError(
      'INVALID_SETTING',
      `default_role "${role.slug}" is an admin role, which webhooks never assign; choose another`,
    );
  }
  const login = await uniqueLogin(db, deps, mapped, email, notices);

  const now = deps.clock.now().toISOString();
  const firstName = mapped.first_name?.trim() ?? '';
  const lastName = mapped.last_name?.trim() ?? '';
  const user = await insertUser(db, {
    login,
    email,
    email_lower: email.toLowerCase(),
    password_hash: password.hash,
    password_generated: password.generated === undefined ? 0 : 1,
    role: role.slug,
    first_name: firstName,
    last_name: lastName,
    display_name:
      mapped.display_name?.trim() || [firstName, lastName].filter(Boolean).join(' ') || login,
    created_at: now,
    updated_at: now,
  });
  await setUserMeta(db, user.id, mapped.meta);
  return { user, generatedPassword: password.generated };
}

async function uniqueLogin(
  db: Db,
  deps: RunDeps,
  mapped: MappedContact,
  email: string,
  notices: string[],
): Promise<string> {
  const requested = sanitizeLogin(mapped.user_login ?? '');
  const format = requested ? 'email' : deps.settings.username_format;
  const base =
    requested ||
    usernameBase(format, { email, first_name: mapped.first_name, last_name: mapped.last_name }) ||
    sanitizeLogin(email.toLowerCase());
  const random = deps.random ?? Math.random;
  for (let attempt = 0; attempt < MAX_LOGIN_ATTEMPTS; attempt += 1) {
    const candidate = usernameCandidate(base, attempt, random, format);
    if (!(await loginExists(db, candidate))) {
      if (requested && candidate !== requested) {
        notices.push(`Username "${requested}" is taken; the new user is "${candidate}"`);
      }
      return candidate;
    }
  }
  throw new AppError('LOGIN_TAKEN', `no free username found for "${base}"`);
}

async function updateExistingUser(
  db: Db,
  user: UserRow,
  mapped: MappedContact,
  plan: RunPlan,
  roles: readonly Role[],
  deps: RunDeps,
  notices: string[],
): Promise<string[]> {
  const changes: string[] = [];
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
  const requestedRole = mapped.role ?? plan.role;
  if (requestedRole?.trim()) {
    if (isAdmin) {
      notices.push(
        `User #${user.id} holds the admin role "${user.role}", which webhooks never change`,
      );
    } else {
      const role = resolveRole(requestedRole, roles, deps.settings.default_role);
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
    const now = deps.clock.now().toISOString();
    await updateUser(db, user.id, { ...update, updated_at: now });
    // Password links and logins were handed to the old address: they end with it.
    if (update.email !== undefined) await revokeAccess(db, user.id, now);
  }
  return changes;
}

function emptyTags(): TagReport {
  return { added: [], removed: [], current: [] };
}

/** Makes the contact's tags the user's tag set for this connection; undefined leaves them alone. */
async function applyTags(
  db: Db,
  connectionId: string,
  userId: number,
  tagIds: readonly string[] | undefined,
  labels: ReadonlyMap<string, string> | undefined,
  at: string,
): Promise<TagReport> {
  const current = await getUserTagIds(db, userId, connectionId);
  const label = async (ids: readonly string[]) => {
    const known = labels ?? (await getTagLabels(db, connectionId, ids));
    const stored = await getTagLabels(
      db,
      connectionId,
      ids.filter((id) => !known.has(id)),
    );
    return ids.map((id) => known.get(id) ?? stored.get(id) ?? id);
  };
  if (tagIds === undefined) return { added: [], removed: [], current: await label(current) };
  const diff = diffTags(current, tagIds);
  await addUserTags(db, userId, connectionId, diff.added, at);
  await removeUserTags(db, userId, connectionId, diff.removed);
  return {
    added: await label(diff.added),
    removed: await label(diff.removed),
    current: await label([...new Set(tagIds)]),
  };
}

async function returnPassword(
  connection: Connection,
  contactId: string,
  password: string,
  notices: string[],
): Promise<'written' | 'failed'> {
  const field = connection.returnPasswordField;
  if (!field) return 'failed';
  try {
    await connection.connector.updateContact(contactId, { [field]: password });
    notices.push(`Generated password written to CRM field ${field}`);
    return 'written';
  } catch (error) {
    notices.push(
      `Could not write the generated password to CRM field ${field}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 'failed';
  }
}
