/**
 * One run: everything due for one contact, done once. The contact is
 * loaded (from the webhook or the CRM), its tags labelled, its user created
 * or updated in one transaction; then, outside it, the password is set and a
 * generated one written back to the CRM. Each step returns its notices.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import { listRoles } from '../directory/role.repository.js';
import type { TagReport } from '../directory/user-tags.js';
import { preparePassword } from '../directory/user-upsert.js';
import type { Action } from '../inbox/actions.js';
import type { Settings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';
import { contactSourceOf, gatherContact } from './contact-source.js';
import { updatePassword } from './password-update.js';
import type { RunPlan } from './plan.js';
import { returnPassword } from './return-password.js';
import { mapContact, shownFields } from './rules.js';
import { saveUser } from './save-user.js';
import { labelTags } from './tag-labels.js';

export interface RunDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly random?: () => number;
  /** The webhook event the run answers (linked from the queued welcome e-mail). */
  readonly eventId?: number | null;
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

/** Runs the plan for one contact of one connection. Throws AppError on failure. */
export async function runContact(
  deps: RunDeps,
  connection: Connection,
  plan: RunPlan,
): Promise<RunResult> {
  const unmappedAsMeta = connection.definition.unmappedFieldsAsMeta;
  const contact = await gatherContact(connection, plan);
  const mapped = mapContact(contact, connection.fieldMap, unmappedAsMeta);
  const labelled = contact.tags ? await labelTags(deps, connection, contact) : undefined;

  const roles = await listRoles(deps.db);
  // Hashing takes tens of milliseconds: do it before the transaction so it never holds the database.
  const password = plan.action === 'add' ? await preparePassword(mapped) : undefined;
  const wantsWelcome =
    plan.action === 'add' && (plan.sendNotification === true || deps.settings.send_welcome_email);
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
  const returned =
    saved.created && saved.generatedPassword !== undefined && connection.returnPasswordField
      ? await returnPassword(connection, plan.contactId, saved.generatedPassword)
      : undefined;

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
    ...(returned?.notices ?? []),
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
    ...(returned ? { returnPassword: returned.outcome } : {}),
  };
}
