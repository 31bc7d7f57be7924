/**
 * One run: everything due for one contact, done once. The contact is
 * loaded (from the webhook or the CRM), its tags labelled, its user created
 * or updated in one transaction (a generated password is queued in the same
 * transaction for the CRM's Return Password field); then, outside it, the
 * password is set and the contact's queued CRM write-backs are sent. Each step
 * returns its notices.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import { listRoles, type Role } from '../directory/role.repository.js';
import type { TagReport } from '../directory/user-tags.js';
import type { PasswordKeyring } from '../directory/passwords.js';
import {
  findUserForContact,
  isGivenPassword,
  preparePassword,
  type MappedContact,
  type PreparedPassword,
} from '../directory/user-upsert.js';
import type { Action } from '../inbox/actions.js';
import type { Settings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';
import type { Sealer } from '../lib/seal.js';
import { contactSourceOf, gatherContact } from './contact-source.js';
import { sendCrmWrites, type CrmWritesOutcome } from './crm-writes.js';
import { updatePassword } from './password-update.js';
import type { RunPlan } from './plan.js';
import { mapContact, shownFields } from './rules.js';
import { saveUser } from './save-user.js';
import { labelTags, resolveTagReferences } from './tag-labels.js';

export interface RunDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly random?: (() => number) | undefined;
  /** The webhook event the run answers (linked from the queued welcome e-mail). */
  readonly eventId?: number | null;
  /** Hashes and checks generated passwords (the service's sealer). */
  readonly keyring: PasswordKeyring;
  /** Seals and opens the values of CRM write-backs (the outbox). */
  readonly sealer: Sealer;
  /** Aborted when the run lost its lease of the contact. */
  readonly signal?: AbortSignal | undefined;
  /** Called first inside each write transaction: throws (rolling it back) when the run lost its lease. */
  readonly fence?: RunFence | undefined;
}

/** Checks, inside a write transaction, that the run still holds its contact's lease. */
type RunFence = (trx: Kysely<DB>) => Promise<void>;

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
  /** What became of the contact's CRM write-backs (a generated password) in this run. */
  returnPassword?: CrmWritesOutcome | undefined;
  /** queued: a welcome e-mail waits in the mail queue; skipped: asked for, but the user already existed. */
  welcomeEmail: 'queued' | 'not requested' | 'skipped';
  /** The mail queue entry of the welcome e-mail. */
  welcomeEmailId?: number | undefined;
}

/** Runs the plan for one contact of one connection. Throws AppError on failure. */
export async function runContact(
  deps: RunDeps,
  connection: Connection,
  plan: RunPlan,
): Promise<RunResult> {
  const unmappedAsMeta = connection.definition.unmappedFieldsAsMeta;
  const gathered = await gatherContact(connection, plan, deps.signal);
  const contact = plan.tagsByReference
    ? await resolveTagReferences(deps, connection, gathered)
    : gathered;
  const mapped = mapContact(contact, connection.fieldMap, unmappedAsMeta);
  const labelled = contact.tags ? await labelTags(deps, connection, contact) : undefined;

  const roles = await listRoles(deps.db);
  const password =
    plan.action === 'add'
      ? await passwordForNewUser(deps, connection, plan, mapped, roles)
      : undefined;
  const wantsWelcome =
    plan.action === 'add' && (plan.sendNotification === true || deps.settings.send_welcome_email);
  deps.signal?.throwIfAborted();
  const saved = await saveUser(deps, connection, plan, {
    contact,
    mapped,
    tagLabels: labelled?.labels,
    roles,
    password,
    wantsWelcome,
  });
  const existing = saved.user && !saved.created ? saved.user : undefined;

  const passwordSet =
    existing && plan.action !== 'update_tags' && mapped.user_pass?.trim()
      ? await updatePassword(deps, existing, mapped, roles)
      : undefined;
  const changes = passwordSet?.changed ? [...saved.changes, 'password'] : saved.changes;
  // The contact's queued write-backs: this run's, and any a crash or a CRM outage left behind.
  const returned = await sendCrmWrites(
    deps,
    { connectionId: connection.id, contactId: plan.contactId },
    () => Promise.resolve(connection),
  );

  const notices = [
    ...(labelled?.notices ?? []),
    ...saved.notices,
    ...(passwordSet?.notices ?? []),
    ...(wantsWelcome && existing
      ? [`User #${existing.id} already existed, so no welcome e-mail was sent`]
      : []),
    ...(contact.tags === undefined && saved.user
      ? ['The webhook carried no tags, so the user\u2019s tags were left as they were']
      : []),
    ...returned.notices,
    ...returned.problems,
  ];
  const welcomeEmail =
    saved.welcomeEmailId !== undefined
      ? 'queued'
      : wantsWelcome && existing
        ? 'skipped'
        : 'not requested';

  return {
    action: plan.action,
    contactId: plan.contactId,
    loaded: {
      source: contactSourceOf(connection, plan),
      email: contact.email,
      // The Return Password field holds a password whatever its name.
      fields: shownFields(contact.fields, connection.fieldMap, {
        unmappedAsMeta,
        extraSecrets: connection.returnPasswordField ? [connection.returnPasswordField] : [],
      }),
      tags: contact.tags ? contact.tags.map((id) => labelled?.labels.get(id) ?? id) : undefined,
    },
    notices,
    welcomeEmail,
    status: saved.status,
    userId: saved.user?.id ?? null,
    login: saved.user?.login,
    created: saved.created,
    changes,
    tags: saved.tags,
    skipReason: saved.skipReason,
    ...(saved.created ? { passwordGenerated: saved.generatedPassword !== undefined } : {}),
    ...(saved.welcomeEmailId !== undefined ? { welcomeEmailId: saved.welcomeEmailId } : {}),
    ...(returned.outcome ? { returnPassword: returned.outcome } : {}),
  };
}

/**
 * The password a new user would get, prepared before the transaction: hashing a password the CRM
 * gave takes tens of milliseconds and must never hold the database. When the contact already has
 * a user, a given password is not hashed here: `updatePassword` handles it. (A generated one costs
 * microseconds, so it is made without looking.)
 */
async function passwordForNewUser(
  deps: RunDeps,
  connection: Connection,
  plan: RunPlan,
  mapped: MappedContact,
  roles: readonly Role[],
): Promise<PreparedPassword | undefined> {
  if (isGivenPassword(mapped.user_pass)) {
    const match = await findUserForContact(
      deps.db,
      connection.id,
      plan.contactId,
      [mapped.email],
      roles,
    );
    if (match) return undefined;
  }
  return preparePassword(mapped, deps.keyring);
}
