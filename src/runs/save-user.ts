/**
 * The run's one transaction: find the contact's user, create or update it,
 * link the contact, apply its tags and queue the welcome e-mail. Either all
 * of it happens or none.
 */
import type { Kysely } from 'kysely';
import type { PasswordKeyring } from '../directory/passwords.js';
import { revokeAccess } from '../accounts/password-change.js';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import type { ContactData } from '../connectors/types.js';
import type { Role } from '../directory/role.repository.js';
import { linkContact } from '../directory/user.repository.js';
import { applyTags, type TagReport } from '../directory/user-tags.js';
import {
  createUserFromContact,
  findUserForContact,
  preparePassword,
  updateUserFromContact,
  type MappedContact,
  type PreparedPassword,
} from '../directory/user-upsert.js';
import { AppError } from '../errors.js';
import { queueCrmWrite } from '../inbox/crm-writes.repository.js';
import type { Sealer } from '../lib/seal.js';
import { enqueueMail } from '../mail/mail.repository.js';
import type { Settings } from '../settings/settings.js';
import type { DB, UserRow } from '../storage/schema.js';
import type { RunPlan } from './plan.js';
import { returnPasswordFields } from './return-password.js';

export interface SaveUserInput {
  contact: ContactData;
  mapped: MappedContact;
  tagLabels: ReadonlyMap<string, string> | undefined;
  roles: readonly Role[];
  /**
   * Prepared before the transaction (hashing takes tens of milliseconds); undefined when the run
   * expected an existing user, in which case a user missing after all gets one prepared here.
   */
  password: PreparedPassword | undefined;
  wantsWelcome: boolean;
}

export interface SavedUser {
  status: 'done' | 'skipped';
  user: UserRow | undefined;
  created: boolean;
  changes: string[];
  tags: TagReport;
  skipReason?: string | undefined;
  notices: string[];
  generatedPassword?: string | undefined;
  welcomeEmailId?: number | undefined;
}

export async function saveUser(
  deps: {
    readonly db: Kysely<DB>;
    readonly clock: Clock;
    readonly settings: Settings;
    readonly random?: (() => number) | undefined;
    readonly eventId?: number | null | undefined;
    readonly keyring: PasswordKeyring;
    /** Seals a generated password queued for the CRM's Return Password field. */
    readonly sealer: Sealer;
    /** Throws when the run lost its lease; called first in the transaction, so nothing is written. */
    readonly fence?: ((trx: Kysely<DB>) => Promise<void>) | undefined;
  },
  connection: Connection,
  plan: RunPlan,
  input: SaveUserInput,
): Promise<SavedUser> {
  const { mapped, roles } = input;
  return deps.db.transaction().execute(async (trx): Promise<SavedUser> => {
    await deps.fence?.(trx);
    const emails = plan.action === 'add' ? [mapped.email] : [plan.email, mapped.email];
    const match = await findUserForContact(trx, connection.id, plan.contactId, emails, roles);
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
      return skipped(
        match.refused.reason,
        `${match.refused.reason}; contact ${plan.contactId} was not linked to it and nothing was changed`,
      );
    }
    const user = match?.user;
    if (!user && plan.action !== 'add') {
      return skipped(
        'no matching user',
        `No user is linked to contact ${plan.contactId}${plan.email ? ` or has the e-mail ${plan.email}` : ''}; nothing to update`,
      );
    }
    const now = deps.clock.now().toISOString();
    if (!user) {
      const password = input.password ?? (await preparePassword(mapped, deps.keyring));
      const created = await createUserFromContact(trx, {
        mapped,
        contactId: plan.contactId,
        requestedRole: plan.role,
        roles,
        defaultRole: deps.settings.default_role,
        usernameFormat: deps.settings.username_format,
        random: deps.random ?? Math.random,
        password,
        now,
      });
      await linkContact(trx, connection.id, plan.contactId, created.user.id, now);
      const tags = await applyTags(
        trx,
        connection.id,
        created.user.id,
        input.contact.tags,
        input.tagLabels,
        now,
      );
      // The generated password goes back to the CRM through the outbox, committed with the
      // user: a crash before the CRM call leaves the write queued, never lost.
      if (password.generated !== undefined && connection.returnPasswordField) {
        await queueCrmWrite(
          trx,
          {
            connectionId: connection.id,
            contactId: plan.contactId,
            userId: created.user.id,
            eventId: deps.eventId ?? null,
            kind: 'return_password',
            field: connection.returnPasswordField,
            // The password with the login, id and registration date mapped beside it.
            sealedValue: deps.sealer.seal(
              JSON.stringify(
                returnPasswordFields(
                  connection.returnPasswordField,
                  connection.fieldMap,
                  password.generated,
                  {
                    id: created.user.id,
                    login: created.user.login,
                    createdAt: created.user.created_at,
                  },
                ),
              ),
            ),
          },
          now,
        );
      }
      // Queued in the same transaction as the user: both happen, or neither.
      const welcomeEmailId = input.wantsWelcome
        ? await enqueueMail(
            trx,
            {
              kind: 'welcome',
              userId: created.user.id,
              to: created.user.email,
              eventId: deps.eventId,
            },
            now,
          )
        : undefined;
      return {
        status: 'done',
        user: created.user,
        created: true,
        changes: ['created'],
        tags,
        notices: created.notices,
        generatedPassword: password.generated,
        welcomeEmailId,
      };
    }
    if (!match.linked) await linkContact(trx, connection.id, plan.contactId, user.id, now);
    const updated =
      plan.action === 'update_tags'
        ? { changes: [], notices: [], emailChanged: false }
        : await updateUserFromContact(trx, user, {
            mapped,
            requestedRole: plan.role,
            roles,
            defaultRole: deps.settings.default_role,
            now,
          });
    // Password links and logins were handed to the old address: they end with it.
    if (updated.emailChanged) await revokeAccess(trx, user.id, now);
    const tags = await applyTags(
      trx,
      connection.id,
      user.id,
      input.contact.tags,
      input.tagLabels,
      now,
    );
    return {
      status: 'done',
      user,
      created: false,
      changes: updated.changes,
      tags,
      notices: updated.notices,
    };
  });
}

function skipped(reason: string, notice: string): SavedUser {
  return {
    status: 'skipped',
    user: undefined,
    created: false,
    changes: [],
    tags: { added: [], removed: [], current: [] },
    skipReason: reason,
    notices: [notice],
  };
}
