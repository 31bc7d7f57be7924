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
import { bodyExcerpt, errorForStatus, parseJson, type HttpResponse } from '../http-client.js';
import { requireApiUrl } from '../api-url.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';

const settingsSchema = z.object({ api_key: z.string().min(1, 'api_key is required') }).loose();
type TestCrmSettings = z.infer<typeof settingsSchema>;

const ContactSchema = z.object({
  id: z.coerce.string(),
  email: z.string().optional().nullable(),
  fields: z.record(z.string(), z.unknown()).default({}),
  tags: z.array(z.coerce.string()).default([]),
});

function expectOk(response: HttpResponse, what: string): unknown {
  if (response.status >= 200 && response.status < 300) return parseJson(response.text);
  const body = parseJson(response.text) as { error?: unknown } | undefined;
  const message = typeof body?.error === 'string' ? body.error : bodyExcerpt(response.text);
  throw errorForStatus(response, `${what}: ${message}`);
}

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
  create(connection, { http }): CrmConnector {
    const base = requireApiUrl(connection).replace(/\/+$/, '');
    const headers = { authorization: `Bearer ${connection.settings.api_key}` };
    const get = async (path: string, what: string) =>
      expectOk(await http.send({ method: 'GET', url: base + path, headers }), what);

    return {
      type: 'testcrm',
      parseWebhook(input) {
        return { contactId: input.params.contact_id?.trim() || undefined, email: input.params.email?.trim() || undefined };
      },
      async loadContact(contactId): Promise<ContactData> {
        const parsed = ContactSchema.parse(await get(`/contacts/${encodeURIComponent(contactId)}`, `contact ${contactId}`));
        const fields = Object.fromEntries(
          Object.entries(parsed.fields).map(([key, value]) => [key, value === null ? '' : String(value)]),
        );
        return { id: parsed.id, email: parsed.email ?? undefined, fields, tags: parsed.tags };
      },
      async getContactTags(contactId) {
        return [...((await this.loadContact(contactId)).tags ?? [])];
      },
      async findContactByEmail(email) {
        const rows = z
          .array(z.object({ id: z.coerce.string(), email: z.string() }))
          .parse(await get(`/contacts?email=${encodeURIComponent(email)}`, 'contact search'));
        return rows.find((row) => row.email.toLowerCase() === email.toLowerCase())?.id ?? null;
      },
      async listTags(): Promise<CrmTag[]> {
        return z.array(z.object({ id: z.coerce.string(), label: z.string() })).parse(await get('/tags', 'tags'));
      },
      async listFields(): Promise<CrmField[]> {
        return z
          .array(z.object({ id: z.string(), label: z.string(), type: z.string().optional() }))
          .parse(await get('/fields', 'fields'));
      },
      async updateContact(contactId, fields) {
        const response = await http.send({
          method: 'PATCH',
          url: `${base}/contacts/${encodeURIComponent(contactId)}`,
          headers,
          json: { fields },
        });
        expectOk(response, `update contact ${contactId}`);
      },
      async testConnection() {
        await get('/tags', 'connection test');
      },
    };
  },
} satisfies ConnectorDefinition<TestCrmSettings>;
