/**
 * `customerly`: Customerly (live chat, helpdesk, e-mail marketing). Contacts
 * are Customerly users keyed by e-mail, so the contact id is the e-mail.
 *
 *   GET  /users?email=           → {data: user}   | {error: {message: "User doesn't exist"}}
 *   GET  /users/list?page=0&per_page=50 → {data: {users: [user…]}}   (attribute keys for listFields)
 *   POST /users  {users: [{email, name?, user_id?, attributes: {…}}]} → {data: {inserted, not_added?}}
 *   GET  /tags                   → {data: [name…]}
 *   GET  /users/list?page=N&per_page=50 → a page of users, for imports (tags read from the
 *        rows; a row without them is looked up by e-mail)
 *
 * Auth is `Authorization: Bearer <token>`; a bad token comes back as HTTP 500
 * with "Access token not found.", which is read as a permanent auth failure.
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { requireApiUrl } from '../api-url.js';
import { parseAnswer } from '../parse-answer.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import { createCustomerlyClient } from './customerly.client.js';
import {
  BUILT_IN_FIELDS,
  attributeFieldId,
  contactFromUser,
  joinName,
  notAdded,
  planUserWrite,
  rejectionReason,
  splitName,
  tagNames,
} from './customerly.mapping.js';
import {
  TagListSchema,
  UserListSchema,
  UserSchema,
  type CustomerlyUser,
} from './customerly.schemas.js';
import { isCustomerlyWebhook, parseCustomerlyWebhook } from './customerly.webhook.js';

/** Users per page when listing for an import. */
const LIST_PAGE_SIZE = 50;

const settingsSchema = z
  .object({
    access_token: z
      .string()
      .trim()
      .min(1, 'access_token is required (Customerly → Project Settings → Public API)'),
  })
  .loose();
type CustomerlySettings = z.infer<typeof settingsSchema>;

const BUILT_IN_LABELS: Readonly<Record<string, string>> = {
  email: 'E-mail',
  name: 'Name',
  user_id: 'User ID (your own id for the user)',
  first_name: 'First name (first word of Name)',
  last_name: 'Last name (rest of Name)',
};

/** How many users `listFields` samples for attribute keys: the first page of the user list. */
const FIELD_SAMPLE_SIZE = 50;

/** Checks an answer of `what` against its schema. */
const shaped = <T>(schema: z.ZodType<T>, value: unknown, what: string): T =>
  parseAnswer(schema, value, 'Customerly', what);

export const customerlyConnector = {
  type: 'customerly',
  label: 'Customerly',
  settingsSchema,
  secretSettings: ['access_token'],
  defaultApiUrl: 'https://api.customerly.io/v1',
  defaultFieldMap: { email: 'email', first_name: 'first_name', last_name: 'last_name' },
  // Customerly publishes no limit. One call a second stays well under what comparable
  // APIs allow, and update_tags webhooks that carry tags cost no call at all.
  defaultRateLimit: { requests: 60, windowMs: 60_000 },
  contactSource: 'api',
  unmappedFieldsAsMeta: false,
  timeoutMs: 10_000,
  webhookSetup: {
    style: 'url',
    note: 'Settings → Webhooks: paste one of these URLs and tick the events; Customerly sends the contact in its JSON body.',
  },
  create(connection, { http }): CrmConnector {
    const api = createCustomerlyClient(
      http,
      requireApiUrl(connection),
      connection.settings.access_token,
    );

    const fetchUser = async (email: string, signal?: AbortSignal): Promise<CustomerlyUser> =>
      shaped(
        UserSchema,
        await api.get(`/users?email=${encodeURIComponent(email)}`, `user ${email}`, signal),
        `user ${email}`,
      );

    return {
      type: 'customerly',
      parseWebhook: parseCustomerlyWebhook,
      recognizesWebhook: isCustomerlyWebhook,
      async loadContact(contactId, call): Promise<ContactData> {
        return contactFromUser(contactId, await fetchUser(contactId, call?.signal));
      },
      async getContactTags(contactId) {
        return [...((await this.loadContact(contactId)).tags ?? [])];
      },
      async findContactByEmail(email) {
        try {
          return (await fetchUser(email.trim())).email.trim();
        } catch (error) {
          if (error instanceof AppError && error.code === 'CONTACT_NOT_FOUND') return null;
          throw error;
        }
      },
      async listTags(call): Promise<CrmTag[]> {
        const names = tagNames(
          shaped(TagListSchema, await api.get('/tags', 'tags', call?.signal), 'tags'),
        );
        return names.map((name) => ({ id: name, label: name }));
      },
      async listFields(): Promise<CrmField[]> {
        // Customerly has no API for attribute definitions: the keys on recent users stand in for them.
        const what = 'user list';
        const { users } = shaped(
          UserListSchema,
          await api.get(`/users/list?page=0&per_page=${FIELD_SAMPLE_SIZE}`, what),
          what,
        );
        const keys = new Set<string>();
        for (const row of users) {
          const attributes = UserSchema.safeParse(row).data?.attributes ?? {};
          for (const key of Object.keys(attributes)) keys.add(key);
        }
        const builtIns = BUILT_IN_FIELDS.map((id) => ({
          id,
          label: BUILT_IN_LABELS[id] ?? id,
          type: id === 'email' ? 'email' : 'text',
        }));
        const attributes = [...keys].sort().map((key) => ({
          id: attributeFieldId(key),
          label: `Attribute ${key}`,
          type: 'attribute',
        }));
        return [...builtIns, ...attributes];
      },
      async updateContact(contactId, fields, call) {
        const { email: newEmail, ...rest } = fields;
        if (
          newEmail !== undefined &&
          newEmail.trim().toLowerCase() !== contactId.trim().toLowerCase()
        ) {
          throw new AppError(
            'CRM_REJECTED',
            `the e-mail is how Customerly finds user ${contactId}; it cannot be changed from here`,
          );
        }
        const write = planUserWrite(rest);
        const user: Record<string, unknown> = { email: contactId, ...write.topLevel };
        const { first, last } = write.nameParts;
        if (first !== undefined || last !== undefined) {
          // Customerly keeps one name: fill in the half not given from the stored name.
          const current =
            first !== undefined && last !== undefined
              ? { first, last }
              : splitName((await fetchUser(contactId, call?.signal)).name ?? '');
          user.name = joinName(first ?? current.first, last ?? current.last);
        }
        if (Object.keys(write.attributes).length > 0) user.attributes = write.attributes;

        const what = `update user ${contactId}`;
        const rejected = notAdded(await api.post('/users', { users: [user] }, what, call?.signal));
        if (rejected.length > 0) {
          // The items echo what was sent (a returned password among it), so only their reasons are shown.
          const reasons = rejected.map(rejectionReason).filter((reason) => reason !== undefined);
          const why = reasons.length > 0 ? `: ${reasons.join('; ')}` : '';
          throw new AppError(
            'CRM_REJECTED',
            `${what}: Customerly listed the user in not_added${why}`,
          );
        }
      },
      async listContacts({ tagId, cursor }) {
        const page = cursor === null ? 0 : Number(cursor);
        if (!Number.isInteger(page) || page < 0)
          throw new AppError('INVALID_REQUEST', `not a Customerly list page: ${cursor}`);
        const what = `user list (page ${page + 1})`;
        const { users } = shaped(
          UserListSchema,
          await api.get(`/users/list?page=${page}&per_page=${LIST_PAGE_SIZE}`, what),
          what,
        );
        const rows = users
          .map((row) => UserSchema.safeParse(row).data)
          .filter((user): user is CustomerlyUser => user !== undefined && user.email.trim() !== '');
        const ids: string[] = [];
        for (const user of rows) {
          const email = user.email.trim();
          if (tagId === undefined) ids.push(email);
          else {
            // Whether list rows carry tags is not documented: a row without them is read in full.
            const tags = user.tags ? tagNames(user.tags) : (await fetchUser(email)).tags;
            if (tags && tagNames(tags).includes(tagId)) ids.push(email);
          }
        }
        // The list ends with a short (or empty) page.
        return { contactIds: ids, next: users.length < LIST_PAGE_SIZE ? null : String(page + 1) };
      },
      async testConnection() {
        await api.get('/tags', 'connection test');
      },
    };
  },
} satisfies ConnectorDefinition<CustomerlySettings>;
