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
 *
 * Fields are keyed by Ortto field id (`str::first`, `str:cm:plan`). Tags are
 * applied by name, so a tag's id here is its name.
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { parseTagList } from '../payload/index.js';
import type { ConnectorDefinition, ContactData, CrmConnector, CrmField, CrmTag } from '../types.js';
import { createOrttoClient, ORTTO_API_URLS, ORTTO_REGIONS, orttoApiUrl } from './ortto.client.js';
import { BUILT_IN_FIELDS, fieldText, mergeValue, TAGS_PSEUDO_FIELD } from './ortto.fields.js';

const settingsSchema = z
  .object({
    api_key: z.string().trim().min(1, 'api_key is required: the private key of an Ortto "Custom API" data source'),
    region: z
      .preprocess(
        (value) => (typeof value === 'string' ? value.trim().toLowerCase() || 'rest' : value),
        z.enum(ORTTO_REGIONS, { error: 'region must be rest, au or eu' }),
      )
      .default('rest'),
  })
  .loose();
type OrttoSettings = z.infer<typeof settingsSchema>;

/** How long one connector keeps the custom field list it read. */
const CUSTOM_FIELDS_TTL_MS = 60_000;

const PersonSchema = z.object({
  id: z.coerce.string(),
  fields: z.record(z.string(), z.unknown()).nullish().transform((fields) => fields ?? {}),
});
type Person = z.infer<typeof PersonSchema>;

const GetByIdsSchema = z.object({
  contacts: z.union([z.record(z.string(), PersonSchema), z.array(PersonSchema)]).nullish(),
});
const PersonListSchema = z.object({ contacts: z.array(PersonSchema).nullish() });
const CustomFieldsSchema = z.object({
  fields: z
    .array(z.object({ field: z.object({ id: z.string(), name: z.string().nullish(), display_type: z.string().nullish() }) }))
    .nullish(),
});
const TagsSchema = z.array(z.object({ name: z.coerce.string() })).nullable();
const MergeSchema = z.object({
  people: z.array(z.object({ status: z.string().nullish(), error: z.string().nullish() })).nullish(),
});

/** Validates an answer's shape; an unexpected one is reported with the route, never as a crash. */
function parseAnswer<T>(schema: z.ZodType<T>, body: unknown, route: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues[0]?.path.join('.') || 'body';
  throw new AppError('CRM_REJECTED', `${route}: unexpected answer from Ortto (${where}: ${parsed.error.issues[0]?.message ?? 'invalid'})`);
}

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
  create(connection, { http, clock }): CrmConnector {
    const { api_key: apiKey, region } = connection.settings;
    const client = createOrttoClient(http, orttoApiUrl(connection.apiUrl, region), apiKey);

    let customFields: { until: number; fields: Promise<CrmField[]> } | undefined;
    /** Custom fields, read once a minute at most: a run needs their ids to ask for their values. */
    const listCustomFields = (): Promise<CrmField[]> => {
      const now = clock.now().getTime();
      if (customFields && customFields.until > now) return customFields.fields;
      const route = 'person/custom-field/get';
      const fields = client.post(route, {}).then((body) =>
        (parseAnswer(CustomFieldsSchema, body, route).fields ?? []).map(({ field }) => ({
          id: field.id,
          label: field.name || field.id,
          type: field.display_type ?? undefined,
        })),
      );
      const entry = { until: now + CUSTOM_FIELDS_TTL_MS, fields };
      customFields = entry;
      void fields.catch(() => {
        if (customFields === entry) customFields = undefined;
      });
      return fields;
    };

    const getPerson = async (contactId: string, fieldIds: readonly string[]): Promise<Person> => {
      const route = 'person/get-by-ids';
      const body = await client.post(route, { contact_ids: [contactId], fields: fieldIds });
      const { contacts } = parseAnswer(GetByIdsSchema, body, route);
      const person = Array.isArray(contacts)
        ? contacts.find((candidate) => candidate.id === contactId)
        : contacts && Object.hasOwn(contacts, contactId)
          ? contacts[contactId]
          : undefined;
      if (!person) throw new AppError('CONTACT_NOT_FOUND', `Ortto has no person with id ${contactId}`);
      return person;
    };

    const tagsOf = (person: Person): string[] => [...new Set(parseTagList(person.fields[TAGS_PSEUDO_FIELD]) ?? [])];

    return {
      type: 'ortto',
      parseWebhook({ params }) {
        // Ortto's body has both `contact_id` (the person) and `id` (not the person, as far as
        // anyone can tell); `id` is only a fallback for senders that send nothing else.
        const contactId = params.contact_id?.trim() || params.id?.trim() || undefined;
        return { contactId, email: params.email?.trim() || undefined };
      },
      async loadContact(contactId): Promise<ContactData> {
        const custom = await listCustomFields();
        const wanted = new Set([...BUILT_IN_FIELDS, ...custom].map((field) => field.id));
        const person = await getPerson(contactId, [...wanted, TAGS_PSEUDO_FIELD]);
        const fields: Record<string, string> = {};
        for (const [fieldId, value] of Object.entries(person.fields)) {
          if (fieldId === TAGS_PSEUDO_FIELD) continue;
          const text = fieldText(value);
          if (text !== undefined) fields[fieldId] = text;
        }
        const tags = tagsOf(person);
        return {
          id: contactId,
          email: fields['str::email']?.trim() || undefined,
          fields,
          tags,
          tagLabels: Object.fromEntries(tags.map((name) => [name, name])),
        };
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
        return parseAnswer(PersonListSchema, body, route).contacts?.[0]?.id ?? null;
      },
      async listTags(): Promise<CrmTag[]> {
        const names = (parseAnswer(TagsSchema, await client.post('tags/get', {}), 'tags/get') ?? []).map((tag) => tag.name);
        return [...new Set(names)].map((name) => ({ id: name, label: name }));
      },
      async listFields(): Promise<CrmField[]> {
        return [...BUILT_IN_FIELDS, ...(await listCustomFields())];
      },
      async updateContact(contactId, fields) {
        if (Object.keys(fields).length === 0) return;
        const values = Object.fromEntries(Object.entries(fields).map(([fieldId, text]) => [fieldId, mergeValue(fieldId, text)]));
        const route = 'person/merge';
        // Synchronous, so the answer says whether this person was written; the calls are rare
        // (one per created user) and the connection's rate limiter bounds their concurrency.
        const body = await client.post(route, {
          people: [{ fields: { ...values, 'str::person_id': contactId } }],
          merge_by: ['str::person_id'],
          async: false,
        });
        const outcome = parseAnswer(MergeSchema, body, route).people?.[0];
        if (outcome?.status === 'invalid' || outcome?.error) {
          throw new AppError('CRM_REJECTED', `${route}: ${outcome.error ?? `person ${contactId} was not written`}`);
        }
      },
      async testConnection() {
        await client.post('person/get', { limit: 1, fields: ['str::first'] });
      },
    };
  },
} satisfies ConnectorDefinition<OrttoSettings>;
