/**
 * `testcrm`: a small, fully specified CRM API used to exercise the core end
 * to end (the test suite runs a fake of it). It doubles as the reference for
 * writing a connector: JSON REST, bearer token, tags as ids with labels.
 *
 *   GET   /contacts/:id        → {id, email, fields:{…}, tags:[ids]}   404 unknown
 *   GET   /contacts?email=     → [{id, email}]
 *   PATCH /contacts/:id        {fields:{…}}
 *   GET   /tags                → [{id, label}]
 *   GET   /fields              → [{id, label, type}]
 */
import { z } from 'zod';
import { requireApiUrl } from '../api-url.js';
import { parseAnswer } from '../parse-answer.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import { createTestCrmClient } from './testcrm.client.js';
import { contactFromAnswer } from './testcrm.mapping.js';
import { ContactSchema, ContactSearchSchema, FieldsSchema, TagsSchema } from './testcrm.schemas.js';
import { parseTestCrmWebhook } from './testcrm.webhook.js';

const settingsSchema = z.object({ api_key: z.string().min(1, 'api_key is required') }).loose();
type TestCrmSettings = z.infer<typeof settingsSchema>;

/** Fetches `path` and checks the answer against its schema. */
type Get = <T>(
  schema: z.ZodType<T>,
  path: string,
  what: string,
  signal?: AbortSignal,
) => Promise<T>;

export const testCrmConnector = {
  type: 'testcrm',
  label: 'Test CRM',
  settingsSchema,
  secretSettings: ['api_key'],
  defaultApiUrl: null,
  defaultFieldMap: { email: 'email', first_name: 'first_name', last_name: 'last_name' },
  defaultRateLimit: { requests: 600, windowMs: 60_000 },
  contactSource: 'api',
  unmappedFieldsAsMeta: false,
  timeoutMs: 10_000,
  webhookSetup: {
    style: 'url',
    contactIdMergeField: 'CONTACT_ID',
    note: 'Call one of these URLs with the contact id.',
  },
  create(connection, { http }): CrmConnector {
    const client = createTestCrmClient(
      http,
      requireApiUrl(connection),
      connection.settings.api_key,
    );
    const get: Get = async (schema, path, what, signal) =>
      parseAnswer(schema, await client.get(path, what, signal), 'the test CRM', what);

    return {
      type: 'testcrm',
      parseWebhook: parseTestCrmWebhook,
      async loadContact(contactId, call): Promise<ContactData> {
        const what = `contact ${contactId}`;
        const path = `/contacts/${encodeURIComponent(contactId)}`;
        return contactFromAnswer(await get(ContactSchema, path, what, call?.signal));
      },
      async getContactTags(contactId) {
        return [...((await this.loadContact(contactId)).tags ?? [])];
      },
      async findContactByEmail(email) {
        const rows = await get(
          ContactSearchSchema,
          `/contacts?email=${encodeURIComponent(email)}`,
          'contact search',
        );
        return rows.find((row) => row.email.toLowerCase() === email.toLowerCase())?.id ?? null;
      },
      async listTags(call): Promise<CrmTag[]> {
        return get(TagsSchema, '/tags', 'tags', call?.signal);
      },
      async listFields(): Promise<CrmField[]> {
        return get(FieldsSchema, '/fields', 'fields');
      },
      async updateContact(contactId, fields, call) {
        await client.patch(
          `/contacts/${encodeURIComponent(contactId)}`,
          { fields },
          `update contact ${contactId}`,
          call?.signal,
        );
      },
      async testConnection() {
        await client.get('/tags', 'connection test');
      },
    };
  },
} satisfies ConnectorDefinition<TestCrmSettings>;
