/**
 * `ortto`: Ortto (formerly Autopilot). A journey's "Send to webhook" action
 * POSTs JSON naming the person in `contact_id` (the URL carries only
 * `wpf_action` and `access_key`); the person is then read from Ortto's API:
 *
 *   POST person/get-by-ids        {contact_ids, fields}  → {contacts: {<id>: {id, fields}}}
 *   POST person/get               {limit, fields, filter} → {contacts: [{id, fields}] | null, …}
 *   POST person/merge             {people, merge_by: ['str::person_id'], async}
 *   POST person/custom-field/get  {}                      → {fields: [{field: {id, name, display_type}}]}
 *   POST tags/get                 {}                      → [{id, name, …}]
 *   POST person/get               {limit, offset, fields} → a page of people with their tags, for imports
 *
 * Fields are keyed by Ortto field id (`str::first`, `str:cm:plan`). Tags are
 * applied by name, so a tag's id here is its name.
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { createExpiringCache } from '../expiring-cache.js';
import { parseAnswer } from '../parse-answer.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import { createOrttoClient, ORTTO_API_URLS, ORTTO_REGIONS, orttoApiUrl } from './ortto.client.js';
import {
  BUILT_IN_FIELDS,
  contactFromPerson,
  customFieldList,
  mergeValue,
  TAGS_PSEUDO_FIELD,
  tagsOf,
} from './ortto.mapping.js';
import {
  CustomFieldsSchema,
  GetByIdsSchema,
  MergeSchema,
  PersonListSchema,
  PersonPageSchema,
  TagsSchema,
  type Person,
} from './ortto.schemas.js';
import { isOrttoWebhook, parseOrttoWebhook } from './ortto.webhook.js';

const settingsSchema = z
  .object({
    api_key: z
      .string()
      .trim()
      .min(1, 'api_key is required: the private key of an Ortto "Custom API" data source'),
    region: z
      .preprocess(
        (value) => (typeof value === 'string' ? value.trim().toLowerCase() || 'rest' : value),
        z.enum(ORTTO_REGIONS, { error: 'region must be rest, au or eu' }),
      )
      .default('rest'),
  })
  .loose();
type OrttoSettings = z.infer<typeof settingsSchema>;

/** People per page when listing for an import (Ortto allows 1–500). */
const LIST_PAGE_SIZE = 100;

/** How long one connector keeps the custom field list it read. */
const CUSTOM_FIELDS_TTL_MS = 60_000;

/** Checks an answer of `route` against its schema. */
const parse = <T>(schema: z.ZodType<T>, body: unknown, route: string): T =>
  parseAnswer(schema, body, 'Ortto', route);

export const orttoConnector = {
  type: 'ortto',
  label: 'Ortto',
  settingsSchema,
  secretSettings: ['api_key'],
  // The "rest of world" host; create() swaps in the host of the connection's region.
  defaultApiUrl: ORTTO_API_URLS.rest,
  defaultFieldMap: { 'str::email': 'email', 'str::first': 'first_name', 'str::last': 'last_name' },
  // Ortto quotes 10 requests a second for its Professional plan (more on bigger plans); stay
  // under it, as our window counts request starts and Ortto's counts arrivals.
  defaultRateLimit: { requests: 8, windowMs: 1_000 },
  contactSource: 'api',
  unmappedFieldsAsMeta: false,
  timeoutMs: 10_000,
  webhookSetup: {
    style: 'url',
    note: 'Data sources → New data source → Webhook (advanced): paste one of these URLs, keep POST and untick Send activity payload; the person comes in the JSON body.',
  },
  create(connection, { http, clock }): CrmConnector {
    const { api_key: apiKey, region } = connection.settings;
    const client = createOrttoClient(http, orttoApiUrl(connection.apiUrl, region), apiKey);

    /** Custom fields, read once a minute at most: a run needs their ids to ask for their values. */
    const customFields = createExpiringCache(clock, CUSTOM_FIELDS_TTL_MS, async () => {
      const route = 'person/custom-field/get';
      return customFieldList(parse(CustomFieldsSchema, await client.post(route, {}), route));
    });

    const getPerson = async (
      contactId: string,
      fieldIds: readonly string[],
      signal?: AbortSignal,
    ): Promise<Person> => {
      const route = 'person/get-by-ids';
      const body = await client.post(route, { contact_ids: [contactId], fields: fieldIds }, signal);
      const { contacts } = parse(GetByIdsSchema, body, route);
      const person = Array.isArray(contacts)
        ? contacts.find((candidate) => candidate.id === contactId)
        : contacts && Object.hasOwn(contacts, contactId)
          ? contacts[contactId]
          : undefined;
      if (!person)
        throw new AppError('CONTACT_NOT_FOUND', `Ortto has no person with id ${contactId}`);
      return person;
    };

    return {
      type: 'ortto',
      parseWebhook: parseOrttoWebhook,
      recognizesWebhook: isOrttoWebhook,
      async loadContact(contactId, call): Promise<ContactData> {
        // The custom fields are shared by every run and loaded without a run's signal.
        call?.signal?.throwIfAborted();
        const custom = await customFields.get();
        const wanted = new Set([...BUILT_IN_FIELDS, ...custom].map((field) => field.id));
        return contactFromPerson(
          contactId,
          await getPerson(contactId, [...wanted, TAGS_PSEUDO_FIELD], call?.signal),
        );
      },
      async getContactTags(contactId) {
        return tagsOf(await getPerson(contactId, [TAGS_PSEUDO_FIELD]));
      },
      async findContactByEmail(email) {
        const route = 'person/get';
        const body = await client.post(route, {
          limit: 1,
          fields: ['str::email'],
          filter: { '$str::is': { field_id: 'str::email', value: email.trim() } },
        });
        return parse(PersonListSchema, body, route).contacts?.[0]?.id ?? null;
      },
      async listTags(call): Promise<CrmTag[]> {
        const answer = await client.post('tags/get', {}, call?.signal);
        const names = (parse(TagsSchema, answer, 'tags/get') ?? []).map((tag) => tag.name);
        return [...new Set(names)].map((name) => ({ id: name, label: name }));
      },
      async listFields(): Promise<CrmField[]> {
        return [...BUILT_IN_FIELDS, ...(await customFields.get())];
      },
      async updateContact(contactId, fields, call) {
        if (Object.keys(fields).length === 0) return;
        const values = Object.fromEntries(
          Object.entries(fields).map(([fieldId, text]) => [fieldId, mergeValue(fieldId, text)]),
        );
        const route = 'person/merge';
        // Synchronous, so the answer says whether this person was written; the calls are rare
        // (one per created user) and the connection's rate limiter bounds their concurrency.
        const body = await client.post(
          route,
          {
            people: [{ fields: { ...values, 'str::person_id': contactId } }],
            merge_by: ['str::person_id'],
            async: false,
          },
          call?.signal,
        );
        const outcome = parse(MergeSchema, body, route).people?.[0];
        if (outcome?.status === 'invalid' || outcome?.error) {
          throw new AppError(
            'CRM_REJECTED',
            `${route}: ${outcome.error ?? `person ${contactId} was not written`}`,
          );
        }
      },
      async testConnection() {
        await client.post('person/get', { limit: 1, fields: ['str::first'] });
      },
      async listContacts({ tagId, cursor }) {
        // Ortto's filters on tags are not documented: every person is read with its tags and the
        // tag is matched here, by name (Ortto applies tags by name).
        const offset = cursor === null ? 0 : Number(cursor);
        if (!Number.isInteger(offset) || offset < 0)
          throw new AppError('INVALID_REQUEST', `not an Ortto list position: ${cursor}`);
        const route = 'person/get';
        const body = await client.post(route, {
          limit: LIST_PAGE_SIZE,
          offset,
          fields: ['str::email', TAGS_PSEUDO_FIELD],
        });
        const page = parse(PersonPageSchema, body, route);
        const people = page.contacts ?? [];
        const next = page.next_offset ?? offset + people.length;
        return {
          contactIds: people
            .filter((person) => tagId === undefined || tagsOf(person).includes(tagId))
            .map((person) => person.id),
          next: page.has_more === true && next > offset ? String(next) : null,
        };
      },
    };
  },
} satisfies ConnectorDefinition<OrttoSettings>;
