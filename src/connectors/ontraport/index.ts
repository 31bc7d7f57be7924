/**
 * `ontraport`: Ontraport's REST API (one generic object interface; contacts
 * are objectID 0, tags objectID 14). Ontraport sends no contact data with its
 * webhooks: the admin puts `contact_id=[Contact ID]` in the URL, and we load
 * the contact by id.
 *
 *   GET /object?objectID=0&id=N               → every field of the contact, as text
 *   GET /object/getByEmail?objectID=0&email=  → {id}; 400, 404 or empty data when none
 *   GET /objects?objectID=14&start=N&range=50 → one page of tags (all object types)
 *   GET /objects/meta?format=byId&objectID=0  → contact fields, dropdown options
 *   PUT /objects {objectID:0, id, …fields, background_request:true}
 *   GET /objects?objectID=0&start=N&range=50&listFields=id          → a page of contacts (imports)
 *   GET /objects/tag?objectID=0&tag_id=T&start=N&range=50&listFields=id → a page of contacts with a tag
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { requireApiUrl } from '../api-url.js';
import { createExpiringCache } from '../expiring-cache.js';
import { parseAnswer } from '../parse-answer.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import { createOntraportClient, type OntraportClient } from './ontraport.client.js';
import {
  contactFieldsOf,
  decodeIdList,
  fieldList,
  fieldTexts,
  idOf,
  labelOptions,
  optionFieldsOf,
  type OptionField,
} from './ontraport.mapping.js';
import {
  CONTACT_OBJECT_ID,
  ContactRowsSchema,
  MetaSchema,
  RecordSchema,
  TAG_OBJECT_ID,
  TagRowSchema,
} from './ontraport.schemas.js';
import { parseOntraportWebhook } from './ontraport.webhook.js';

/** Ontraport's largest (and default) page of `GET /objects` (tags and contacts alike). */
const TAG_PAGE_SIZE = 50;
/** A guard against a server that ignores `start`: 20 000 tags is far beyond any real account. */
const MAX_TAG_PAGES = 400;
/**
 * How long one connector instance reuses the field meta for dropdown labels. The registry
 * rebuilds instances every few seconds, so in practice runs close together share one read.
 */
const META_REUSE_MS = 60_000;

/** A switch that also takes the text the CLI stores (`--set dropdown_labels=false`). */
const flag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])])
  .transform((value) =>
    typeof value === 'boolean' ? value : ['true', '1', 'yes', 'on'].includes(value),
  );

const settingsSchema = z
  .object({
    app_id: z
      .string()
      .trim()
      .min(1, 'app_id is required (Ontraport: Administration → Integrations → API keys)'),
    api_key: z
      .string()
      .trim()
      .min(1, 'api_key is required (Ontraport: Administration → Integrations → API keys)'),
    /** Show dropdown and multi-select values by their labels instead of option ids. */
    dropdown_labels: flag.default(true),
  })
  .loose();
type OntraportSettings = z.infer<typeof settingsSchema>;

export const ontraportConnector = {
  type: 'ontraport',
  label: 'Ontraport',
  settingsSchema,
  secretSettings: ['api_key'],
  defaultApiUrl: 'https://api.ontraport.com/1',
  defaultFieldMap: { email: 'email', firstname: 'first_name', lastname: 'last_name' },
  // Ontraport allows 180 calls per rolling minute per account.
  defaultRateLimit: { requests: 180, windowMs: 60_000 },
  contactSource: 'api',
  unmappedFieldsAsMeta: false,
  // Ontraport support has warned that answers can take far longer than usual; a slow answer beats a retry storm.
  timeoutMs: 30_000,
  webhookSetup: {
    style: 'url',
    contactIdMergeField: '[Contact ID]',
    note: 'In a campaign or automation, add a "Send to URL" (ping URL) step with one of these URLs; keep [Contact ID] exactly as written.',
  },
  create(connection, { http, clock }): CrmConnector {
    const client: OntraportClient = createOntraportClient(http, requireApiUrl(connection), {
      appId: connection.settings.app_id,
      apiKey: connection.settings.api_key,
    });

    /** The contact object's fields from the meta answer. */
    const fieldMeta = async (what: string) => {
      const data = await client.call({
        method: 'GET',
        path: '/objects/meta',
        query: { format: 'byId', objectID: CONTACT_OBJECT_ID },
        what,
        scope: 'account',
      });
      return contactFieldsOf(parseAnswer(MetaSchema, data, 'Ontraport', what));
    };

    /** Option labels of dropdown and multi-select fields, read once for the runs this instance serves. */
    const optionFields = createExpiringCache<Map<string, OptionField>>(
      clock,
      META_REUSE_MS,
      async () => optionFieldsOf(await fieldMeta('field meta')),
    );

    /** The contact's fields as text, exactly as Ontraport holds them. */
    const fetchContact = async (
      contactId: string,
      signal?: AbortSignal,
    ): Promise<Record<string, string>> => {
      const what = `contact ${contactId}`;
      const data = await client.call({
        method: 'GET',
        path: '/object',
        query: { objectID: CONTACT_OBJECT_ID, id: contactId },
        what,
        scope: 'contact',
        signal,
      });
      const record = RecordSchema.safeParse(data);
      // An empty `data` (`[]`, `{}`, null) is how some accounts answer for a deleted contact.
      if (!record.success || Object.keys(record.data).length === 0) {
        throw new AppError('CONTACT_NOT_FOUND', `${what}: Ontraport returned no data`);
      }
      return fieldTexts(record.data);
    };

    return {
      type: 'ontraport',
      parseWebhook: parseOntraportWebhook,
      async loadContact(contactId, call): Promise<ContactData> {
        // The option labels are shared by every run and loaded without a run's signal: an
        // aborted run must not start that load and leave it behind.
        call?.signal?.throwIfAborted();
        const [raw, options] = await Promise.all([
          fetchContact(contactId, call?.signal),
          connection.settings.dropdown_labels ? optionFields.get() : undefined,
        ]);
        const fields = options ? labelOptions(raw, options) : raw;
        return {
          id: raw.id || contactId,
          email: raw.email?.trim() || undefined,
          fields,
          tags: decodeIdList(raw.contact_cat ?? ''),
        };
      },
      async getContactTags(contactId) {
        return decodeIdList((await fetchContact(contactId)).contact_cat ?? '');
      },
      async findContactByEmail(email) {
        const request = {
          method: 'GET',
          path: '/object/getByEmail',
          query: { objectID: CONTACT_OBJECT_ID, email },
          what: 'contact search by e-mail',
          scope: 'account',
        } as const;
        const response = await client.send(request);
        // Older accounts answer 400 for an unknown address, newer ones 404, some 200 with empty data: all "none".
        if (response.status === 400 || response.status === 404) return null;
        return idOf(client.read(response, request));
      },
      async listTags(call): Promise<CrmTag[]> {
        const tags = new Map<string, string>();
        for (let page = 0; page < MAX_TAG_PAGES; page += 1) {
          const data = await client.call({
            method: 'GET',
            path: '/objects',
            query: {
              objectID: TAG_OBJECT_ID,
              start: String(page * TAG_PAGE_SIZE),
              range: String(TAG_PAGE_SIZE),
            },
            what: `tags (page ${page + 1})`,
            scope: 'account',
            signal: call?.signal,
          });
          const rows = Array.isArray(data) ? data : [];
          let fresh = 0;
          for (const row of rows) {
            const tag = TagRowSchema.safeParse(row);
            if (!tag.success || tags.has(tag.data.tag_id)) continue;
            fresh += 1;
            // Tags of custom objects share the list; a missing type is an older account's contact tag.
            const type = tag.data.object_type_id;
            if (type === undefined || type === CONTACT_OBJECT_ID)
              tags.set(tag.data.tag_id, tag.data.tag_name);
          }
          if (rows.length < TAG_PAGE_SIZE || fresh === 0) break;
        }
        return [...tags].map(([id, label]) => ({ id, label }));
      },
      async listFields(): Promise<CrmField[]> {
        return fieldList(await fieldMeta('field list'));
      },
      async updateContact(contactId, fields, call) {
        await client.call({
          method: 'PUT',
          path: '/objects',
          // Background mode: Ontraport validates, answers at once and writes afterwards, as its
          // support advised for slow accounts; its answer then carries no `attrs` to read.
          json: { ...fields, objectID: 0, id: contactId, background_request: true },
          what: `update contact ${contactId}`,
          scope: 'contact',
          signal: call?.signal,
        });
      },
      async testConnection() {
        await fieldMeta('connection test');
      },
      async listContacts({ tagId, cursor }) {
        const start = cursor === null ? 0 : Number(cursor);
        if (!Number.isInteger(start) || start < 0)
          throw new AppError('INVALID_REQUEST', `not an Ontraport list position: ${cursor}`);
        const what = `contacts${tagId === undefined ? '' : ` with tag ${tagId}`} from ${start}`;
        const data = await client.call({
          method: 'GET',
          path: tagId === undefined ? '/objects' : '/objects/tag',
          query: {
            objectID: CONTACT_OBJECT_ID,
            ...(tagId === undefined ? {} : { tag_id: tagId }),
            start: String(start),
            range: String(TAG_PAGE_SIZE),
            listFields: 'id',
          },
          what,
          scope: 'account',
        });
        // An account without contacts answers with an empty `data` of any shape.
        const rows = Array.isArray(data)
          ? parseAnswer(ContactRowsSchema, data, 'Ontraport', what)
          : [];
        return {
          contactIds: rows.map((row) => row.id),
          next: rows.length < TAG_PAGE_SIZE ? null : String(start + rows.length),
        };
      },
    };
  },
} satisfies ConnectorDefinition<OntraportSettings>;
