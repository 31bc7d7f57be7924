/**
 * `funnelkit`: FunnelKit Automations (formerly Autonami), a CRM inside a
 * WordPress site. Its webhook is the "Send Data To Any Source (HTTP Request)"
 * action, whose data rows (`contact_id`, `access_key`, `wpf_action`, …) come
 * in the query (GET) or in a form or JSON body (POST/PUT). The API is the
 * site's REST API, namespace `autonami-app`, with an application password.
 *
 *   GET  contacts/{id}                → result: contact (lower-case `id`, `fields`, `tags[].ID`)
 *   GET  contacts?search=&limit&offset → result: contacts (substring search)
 *   GET  contacts?limit&offset        → result: a page of contacts, for imports (tags from the
 *                                       rows; a row without them is loaded by id)
 *   GET  tags?limit&offset            → result: tags (upper-case `ID`)
 *   GET  groupfields                  → result: {fields: groups, extra_fields}
 *   POST contacts/{id}/fields         {fields: {id: value}, status: true}
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { requireApiUrl } from '../api-url.js';
import { parseAnswer } from '../parse-answer.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import {
  createFunnelKitClient,
  errorForAnswer,
  isSuccess,
  messageOf,
  ROUTE_MODES,
  type Envelope,
  type FunnelKitClient,
} from './funnelkit.client.js';
import {
  parseContact,
  parseFields,
  parseTags,
  storedValue,
  toContactData,
} from './funnelkit.mapping.js';
import { ContactSchema, type RawContact } from './funnelkit.schemas.js';
import { parseFunnelKitWebhook } from './funnelkit.webhook.js';

const USERNAME_REQUIRED = 'required: the WordPress login that owns the application password';
const PASSWORD_REQUIRED =
  'required: create one in WordPress under Users → Profile → Application Passwords';

const settingsSchema = z
  .object({
    username: z.string({ error: USERNAME_REQUIRED }).trim().min(1, USERNAME_REQUIRED),
    /** WordPress shows it in groups of four; the spaces may stay. */
    app_password: z.string({ error: PASSWORD_REQUIRED }).trim().min(1, PASSWORD_REQUIRED),
    routes: z.enum(ROUTE_MODES).default('auto'),
    // The CLI stores `key=value` text, so "false" must read as false.
    pretty_permalinks: z.union([z.boolean(), z.stringbool()]).default(true),
  })
  .loose();
type FunnelKitSettings = z.infer<typeof settingsSchema>;

const TAG_PAGE = 100;
const SEARCH_PAGE = 100;
const LIST_PAGE = 100;
/** An upper bound on pages, whatever the site answers. */
const MAX_PAGES = 200;
const UNCHANGED_MESSAGE = 'unable to update fields';

/** Keeps a value short enough for a message. */
const shorten = (text: string): string => (text.length > 60 ? `${text.slice(0, 60)}…` : text);

/** FunnelKit contact ids are numbers; anything else cannot be a contact (and would hit no route). */
function requireContactId(contactId: string): string {
  const id = contactId.trim();
  if (!/^\d+$/.test(id))
    throw new AppError(
      'CONTACT_NOT_FOUND',
      `FunnelKit contact ids are numbers; got "${shorten(id)}"`,
    );
  return id;
}

function rows(envelope: Envelope): unknown[] {
  return Array.isArray(envelope.result) ? envelope.result : [];
}

export const funnelkitConnector = {
  type: 'funnelkit',
  label: 'FunnelKit Automations',
  settingsSchema,
  secretSettings: ['app_password'],
  defaultApiUrl: null,
  defaultFieldMap: { email: 'email', f_name: 'first_name', l_name: 'last_name' },
  // Self-hosted, no limit of its own: two calls a second keeps a shared WordPress host responsive.
  defaultRateLimit: { requests: 120, windowMs: 60_000 },
  contactSource: 'api',
  unmappedFieldsAsMeta: false,
  timeoutMs: 15_000,
  webhookSetup: {
    style: 'rows',
    contactIdMergeField: '{{contact_id}}',
    note: 'In an automation, add Send Data → HTTP Request with the base URL and one data row per line below (insert {{contact_id}} with the merge tag picker).',
  },
  create(connection, { http }): CrmConnector {
    const siteUrl = requireApiUrl(connection, 'the FunnelKit site URL as its API URL');
    const { settings } = connection;
    const client: FunnelKitClient = createFunnelKitClient({
      siteUrl,
      username: settings.username,
      appPassword: settings.app_password,
      routes: settings.routes,
      prettyPermalinks: settings.pretty_permalinks,
      http,
    });

    const fetchContact = async (
      id: string,
      what: string,
      signal?: AbortSignal,
    ): Promise<RawContact> => {
      const envelope = await client.call('GET', `contacts/${id}`, what, { signal });
      // The message names the first mismatch, never a value: the result may hold a written password.
      return parseAnswer(ContactSchema, envelope.result, 'FunnelKit', what);
    };

    /** Names the fields whose stored value is not what was written (never the values: they may be passwords). */
    const unstored = (contact: RawContact, fields: Readonly<Record<string, string>>): string[] =>
      Object.entries(fields)
        .filter(([id, value]) => storedValue(contact, id) !== value)
        .map(([id]) => id);

    return {
      type: 'funnelkit',
      parseWebhook: parseFunnelKitWebhook,

      async loadContact(contactId, call): Promise<ContactData> {
        const id = requireContactId(contactId);
        return toContactData(await fetchContact(id, `contact ${id}`, call?.signal));
      },

      async getContactTags(contactId) {
        return [...((await this.loadContact(contactId)).tags ?? [])];
      },

      async findContactByEmail(email) {
        const wanted = email.trim().toLowerCase();
        if (!wanted) return null;
        // `search` matches e-mail, first and last name as substrings: only an exact e-mail counts.
        const seen = new Set<string>();
        for (let page = 0; page < MAX_PAGES; page += 1) {
          const envelope = await client.call('GET', 'contacts', 'contact search', {
            query: { search: email.trim(), limit: SEARCH_PAGE, offset: page * SEARCH_PAGE },
          });
          const contacts = rows(envelope).flatMap((row) => parseContact(row) ?? []);
          const found = contacts.find(
            (contact) =>
              String(contact.email ?? '')
                .trim()
                .toLowerCase() === wanted,
          );
          if (found) return found.id;
          const before = seen.size;
          for (const contact of contacts) seen.add(contact.id);
          if (rows(envelope).length < SEARCH_PAGE || seen.size === before) return null;
        }
        return null;
      },

      async listTags(call): Promise<CrmTag[]> {
        const tags = new Map<string, CrmTag>();
        for (let page = 0; page < MAX_PAGES; page += 1) {
          const envelope = await client.call('GET', 'tags', 'tag list', {
            query: { limit: TAG_PAGE, offset: page * TAG_PAGE },
            signal: call?.signal,
          });
          const before = tags.size;
          for (const tag of parseTags(envelope.result)) tags.set(tag.id, tag);
          // A short page ends the list; so does a page with nothing new (a site that ignores offset).
          if (rows(envelope).length < TAG_PAGE || tags.size === before) break;
        }
        return [...tags.values()];
      },

      async listContacts({ tagId, cursor }) {
        const offset = cursor === null ? 0 : Number(cursor);
        if (!Number.isInteger(offset) || offset < 0)
          throw new AppError('INVALID_REQUEST', `not a FunnelKit list position: ${cursor}`);
        const envelope = await client.call('GET', 'contacts', `contact list from ${offset}`, {
          query: { limit: LIST_PAGE, offset },
        });
        const page = rows(envelope);
        const ids: string[] = [];
        for (const contact of page.flatMap((row) => parseContact(row) ?? [])) {
          if (tagId === undefined) ids.push(contact.id);
          else {
            const tags = contact.tags
              ? (toContactData(contact).tags ?? [])
              : ((await this.loadContact(contact.id)).tags ?? []);
            if (tags.includes(tagId)) ids.push(contact.id);
          }
        }
        return {
          contactIds: ids,
          next: page.length < LIST_PAGE ? null : String(offset + page.length),
        };
      },

      async listFields(): Promise<CrmField[]> {
        const answer = await client.send('GET', 'groupfields');
        if (isSuccess(answer)) return parseFields(answer.body?.result);
        // A site without any custom field answers 500 "No fields found"; the standard ones remain.
        if (answer.response.status === 500 && /no fields found/i.test(messageOf(answer)))
          return parseFields(undefined);
        throw errorForAnswer(answer, 'field list');
      },

      async updateContact(contactId, fields, call) {
        const id = requireContactId(contactId);
        if (Object.keys(fields).length === 0) return;
        const what = `update contact ${id}`;
        const envelope = await client.call('POST', `contacts/${id}/fields`, what, {
          json: { fields, status: true },
          signal: call?.signal,
        });
        const said = typeof envelope.message === 'string' ? envelope.message.trim() : '';
        // "Unable to Update fields" means nothing changed: fine when the values are already there.
        let after =
          said.toLowerCase() === UNCHANGED_MESSAGE ? undefined : parseContact(envelope.result);
        // A returned contact that leaves a written field out proves nothing: read it back.
        if (
          !after ||
          Object.keys(fields).some((field) => after && storedValue(after, field) === undefined)
        ) {
          after = await fetchContact(id, what, call?.signal);
        }
        const missing = unstored(after, fields);
        if (missing.length > 0) {
          throw new AppError(
            'CRM_REJECTED',
            `${what}: FunnelKit did not store the value written to field${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` +
              `${said ? ` (it answered "${said}")` : ''}; the field id may not exist, or WordPress changed the text` +
              ' while sanitizing it (it strips tags, %xx codes and surrounding spaces)',
          );
        }
      },

      async testConnection() {
        await client.call('GET', 'contacts', 'connection test', { query: { limit: 1 } });
      },
    };
  },
} satisfies ConnectorDefinition<FunnelKitSettings>;
