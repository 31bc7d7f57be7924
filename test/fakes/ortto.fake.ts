/**
 * A fake Ortto API, built from shared/crm/ortto.md, so the Ortto connector
 * meets Ortto's quirks over a real socket: POST-only JSON routes under
 * `/v1`, typed field ids (`str::email`, `str:cm:…`), `person/get` returning an
 * array while `person/get-by-ids` returns an object keyed by id, name-based
 * tags created on demand, region-bound keys and a 429 with `try-in-seconds`.
 *
 * Regions: the real hosts differ per region (api.ap3api.com,
 * api.au.ap3api.com, api.eu.ap3api.com). One local server cannot own three
 * host names, so the region is a path prefix instead: `${url}/v1` is "rest",
 * `${url}/au/v1` and `${url}/eu/v1` the others. The key belongs to one
 * region; used under another prefix it is rejected exactly like an unknown
 * key, as the real region's database has never heard of it.
 *
 * Decisions where the notes say "unconfirmed":
 * - Bad, missing or wrong-region key: 401 with `{"error":"…"}`. Answered before
 *   the rate limiter, so it does not use up the window. The bad-credential IP
 *   block (15 in 15 s) is not modelled: tests of auth failures would trip it.
 * - Default rate limit 10 requests per 1000 ms, the Professional plan's
 *   10 req/s; `try-in-seconds` is the seconds until the window frees a slot
 *   (at least 1). No `Retry-After` and no rate headers, as documented.
 * - `person/merge` with `async: true` answers `{"status":"queued"}` per person
 *   *without* `person_id` (a queued create has no id yet), but applies the
 *   change at once. A person that fails validation is reported as
 *   `{"status":"invalid","error":…}`; only when no person is valid does the
 *   whole call fail with the 400 envelope ("No valid contacts provided …").
 * - `tags` pseudo-field: array of names, omitted (like any unset field) when
 *   the person has none. Unknown ids in `fields` are ignored, not refused.
 * - `str::email` comparisons ignore case; other `$str::is` are exact.
 * - `emptyContactsAsNull` makes `person/get` answer `"contacts": null` on no
 *   match, the other shape the notes say clients must accept.
 * - Webhook Content-Type: `application/json`.
 * Every answer from the handler carries `X-Version` and CORS headers like the
 * recorded responses; failures injected with `failNext` come from the shared
 * base without them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createWindowLimiter,
  startFakeHttpServer,
  type FakeHttpServer,
  type FakeReply,
  type RecordedRequest,
  extendFake,
} from './fake-http.js';
import { isJsonScalar } from '../../src/lib/json.js';

type OrttoRegion = 'rest' | 'au' | 'eu';

interface OrttoContact {
  /** 24 hex characters. */
  id: string;
  /** Field id → value; unset fields are absent. */
  fields: Record<string, unknown>;
  /** Tag names. */
  tags: string[];
}

interface OrttoCustomField {
  id: string;
  name: string;
  display_type: string;
  liquid_name: string;
  dic_items?: string[];
}

export interface FakeOrttoOptions {
  apiKey?: string;
  region?: OrttoRegion;
  rateLimit?: { limit: number; windowMs: number };
  latencyMs?: number;
  /** Seed Jane Smith (id 006913c5b9ca58778a137d00, tag "WP User"); default true. */
  withSampleContact?: boolean;
  /** Answer `"contacts": null` instead of `[]` when `person/get` matches nobody. */
  emptyContactsAsNull?: boolean;
}

export interface FakeOrtto extends FakeHttpServer {
  /** The API URL for the configured region, e.g. `${url}/v1` or `${url}/au/v1`. */
  readonly apiUrl: string;
  readonly region: OrttoRegion;
  readonly apiKey: string;
  apiUrlFor(region: OrttoRegion): string;
  /** Adds a person; returns the new 24-hex id. */
  addContact(contact: {
    email: string;
    first?: string;
    last?: string;
    fields?: Record<string, unknown>;
    tags?: string[];
  }): string;
  /** A copy of the stored person, or undefined. */
  getContact(id: string): OrttoContact | undefined;
  /** Sets a field; `undefined`, `null` or `''` unsets it. */
  setField(id: string, fieldId: string, value: unknown): void;
  /** Replaces the person's tags by name, creating unknown tags. */
  setTags(id: string, names: string[]): void;
  /** Declares a custom field such as `str:cm:wp-password`. */
  addCustomField(id: string, name: string, displayType?: string, dicItems?: string[]): void;
}

export const ORTTO_SAMPLE_CONTACT_ID = '006913c5b9ca58778a137d00';
/** Shaped like the recorded `X-Version` values. */
export const ORTTO_FAKE_VERSION = 'fake-2510290108-0000-0000000';
const ORTTO_MAX_PEOPLE_PER_MERGE = 100;

const DEFAULT_RATE_LIMIT = { limit: 10, windowMs: 1000 };
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

const BUILT_IN_FIELDS = new Set([
  'str::first',
  'str::last',
  'str::email',
  'phn::phone',
  'geo::city',
  'geo::country',
  'geo::region',
  'str::postal',
]);
/** A field value as sorting compares it: a scalar as text, anything else as empty. */
function sortText(value: unknown): string {
  return isJsonScalar(value) ? String(value) : '';
}

/** Identity pseudo-fields: accepted in requests, never stored or returned as fields. */
const ID_FIELDS = new Set(['str::person_id', 'str::id']);
const CUSTOM_FIELD_PATTERN = /^[a-z]{3}:cm:[a-z0-9][a-z0-9-]*$/;

const COMMON_HEADERS = {
  'x-version': ORTTO_FAKE_VERSION,
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
};

/** A new person/object id shaped like Ortto's: "00", 8 hex of epoch seconds, 12 random hex, "00". */
function createOrttoId(): string {
  const seconds = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0')
    .slice(-8);
  return `00${seconds}${randomBytes(6).toString('hex')}00`;
}

interface StoredTag {
  id: number;
  name: string;
  created_at: string;
  last_used: string;
}

type Body = Record<string, unknown>;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

const isUnset = (value: unknown): boolean => value === undefined || value === null || value === '';

const header = (req: RecordedRequest, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const json = (status: number, body: unknown): FakeReply => ({ status, body });

/** Ortto's observed error envelope. */
const errorEnvelope = (status: number, error: string, details?: unknown[]): FakeReply =>
  json(status, { request_id: randomUUID(), code: status, error, ...(details ? { details } : {}) });

/** Splits `/au/v1/person/get` into region and route; undefined when the path is not an API path. */
function parseApiPath(path: string): { region: OrttoRegion; route: string } | undefined {
  const match = /^\/(?:(au|eu)\/)?v1\/(.+?)\/?$/.exec(path);
  if (!match?.[2]) return undefined;
  return { region: (match[1] as OrttoRegion | undefined) ?? 'rest', route: match[2] };
}

/** Starts a fake Ortto account on 127.0.0.1. */
export async function startFakeOrtto(options: FakeOrttoOptions = {}): Promise<FakeOrtto> {
  const apiKey = options.apiKey ?? 'test-ortto-key';
  const region = options.region ?? 'rest';
  const { limit, windowMs } = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const limiter = createWindowLimiter(limit, windowMs);

  const contacts = new Map<string, OrttoContact>();
  const tags = new Map<string, StoredTag>();
  const customFields = new Map<string, OrttoCustomField>();

  // ---- state --------------------------------------------------------------

  const ensureTag = (name: string): void => {
    const now = new Date().toISOString();
    const existing = tags.get(name);
    if (existing) {
      existing.last_used = now;
      return;
    }
    tags.set(name, { id: tags.size + 1, name, created_at: now, last_used: now });
  };

  const requireContact = (id: string): OrttoContact => {
    const contact = contacts.get(id);
    if (!contact) throw new Error(`fake Ortto: no person ${id}`);
    return contact;
  };

  const writeField = (contact: OrttoContact, fieldId: string, value: unknown): void => {
    if (isUnset(value)) delete contact.fields[fieldId];
    else contact.fields[fieldId] = value;
  };

  const findByEmail = (email: string): OrttoContact | undefined => {
    const wanted = email.trim().toLowerCase();
    return [...contacts.values()].find(
      (c) =>
        typeof c.fields['str::email'] === 'string' &&
        c.fields['str::email'].toLowerCase() === wanted,
    );
  };

  const addCustomField = (
    id: string,
    name: string,
    displayType = 'text',
    dicItems?: string[],
  ): void => {
    if (!CUSTOM_FIELD_PATTERN.test(id))
      throw new Error(`fake Ortto: custom field id must look like str:cm:slug, got ${id}`);
    const slug = id.slice(id.indexOf(':cm:') + 4);
    customFields.set(id, {
      id,
      name,
      display_type: displayType,
      liquid_name: `people.custom.${slug}`,
      ...(dicItems ? { dic_items: [...dicItems] } : {}),
    });
  };

  const insertContact = (
    { email, first, last, fields = {}, tags: names = [] }: Parameters<FakeOrtto['addContact']>[0],
    fixedId?: string,
  ): string => {
    let id = fixedId ?? createOrttoId();
    while (fixedId === undefined && contacts.has(id)) id = createOrttoId();
    const contact: OrttoContact = { id, fields: {}, tags: [] };
    writeField(contact, 'str::email', email);
    writeField(contact, 'str::first', first);
    writeField(contact, 'str::last', last);
    for (const [fieldId, value] of Object.entries(fields)) writeField(contact, fieldId, value);
    for (const name of names) ensureTag(name);
    contact.tags = [...new Set(names)];
    contacts.set(id, contact);
    return id;
  };
  const addContact: FakeOrtto['addContact'] = (contact) => insertContact(contact);

  addCustomField('str:cm:wp-username', 'WP Username');
  addCustomField('str:cm:wp-password', 'WP Password');
  addCustomField('str:cm:plan', 'Plan', 'single_select', ['Basic', 'Pro']);
  ensureTag('WP User');
  ensureTag('VIP');
  if (options.withSampleContact ?? true) {
    insertContact(
      { email: 'jane@example.com', first: 'Jane', last: 'Smith', tags: ['WP User'] },
      ORTTO_SAMPLE_CONTACT_ID,
    );
  }

  // ---- routes -------------------------------------------------------------

  /** The person as Ortto returns it: only requested fields that hold a value. */
  const view = (
    contact: OrttoContact,
    fieldIds: string[],
  ): { id: string; fields: Record<string, unknown> } => {
    const fields: Record<string, unknown> = {};
    for (const fieldId of fieldIds) {
      if (fieldId === 'tags') {
        if (contact.tags.length > 0) fields.tags = [...contact.tags];
      } else if (fieldId in contact.fields) {
        fields[fieldId] = structuredClone(contact.fields[fieldId]);
      }
    }
    return { id: contact.id, fields };
  };

  /** Compiles the subset of Ortto filters the fake understands; a string is an error message. */
  const compileFilter = (filter: unknown): ((c: OrttoContact) => boolean) | string => {
    if (filter === undefined || filter === null) return () => true;
    if (!isRecord(filter)) return 'filter must be an object';
    const entries = Object.entries(filter);
    const [entry] = entries;
    if (!entry || entries.length !== 1) return 'filter must have exactly one operator';
    const [operator, operand] = entry;
    if (operator === '$and' || operator === '$or') {
      if (!Array.isArray(operand)) return `${operator} expects an array`;
      const parts = operand.map(compileFilter);
      const failed = parts.find((p): p is string => typeof p === 'string');
      if (failed) return failed;
      const predicates = parts as Array<(c: OrttoContact) => boolean>;
      return operator === '$and'
        ? (c) => predicates.every((p) => p(c))
        : (c) => predicates.some((p) => p(c));
    }
    if (operator === '$str::is') {
      if (
        !isRecord(operand) ||
        typeof operand.field_id !== 'string' ||
        typeof operand.value !== 'string'
      ) {
        return '$str::is expects {field_id, value} strings';
      }
      const fieldId = operand.field_id;
      const value = operand.value;
      if (ID_FIELDS.has(fieldId)) return (c) => c.id === value;
      if (fieldId === 'str::email') return (c) => findByEmail(value)?.id === c.id;
      return (c) => c.fields[fieldId] === value;
    }
    return `filter operator ${operator} is not supported by the fake`;
  };

  const requestedFields = (body: Body): string[] | FakeReply => {
    if (body.fields === undefined) return [];
    if (!isStringArray(body.fields))
      return errorEnvelope(400, 'fields must be an array of field ids');
    return body.fields;
  };

  const personGet = (body: Body): FakeReply => {
    const limitValue = body.limit ?? DEFAULT_LIMIT;
    if (
      typeof limitValue !== 'number' ||
      !Number.isInteger(limitValue) ||
      limitValue < 1 ||
      limitValue > MAX_LIMIT
    ) {
      return errorEnvelope(400, `limit must be an integer between 1 and ${MAX_LIMIT}`);
    }
    const offset = body.offset ?? 0;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
      return errorEnvelope(400, 'offset must be a non-negative integer');
    }
    const fieldIds = requestedFields(body);
    if (!Array.isArray(fieldIds)) return fieldIds;
    const predicate = compileFilter(body.filter);
    if (typeof predicate === 'string') return errorEnvelope(400, predicate);

    const matches = [...contacts.values()].filter(predicate);
    if (typeof body.sort_by_field_id === 'string') {
      const sortField = body.sort_by_field_id;
      const direction = body.sort_order === 'desc' ? -1 : 1;
      matches.sort(
        (a, b) =>
          direction * sortText(a.fields[sortField]).localeCompare(sortText(b.fields[sortField])),
      );
    }
    const page = matches.slice(offset, offset + limitValue);
    const nextOffset = offset + page.length;
    return json(200, {
      contacts:
        page.length === 0 && options.emptyContactsAsNull
          ? null
          : page.map((c) => view(c, fieldIds)),
      meta: {
        total_contacts: contacts.size,
        total_organizations: 0,
        total_matches: matches.length,
        total_subscribers: contacts.size,
      },
      offset,
      next_offset: nextOffset,
      cursor_id: createOrttoId(),
      has_more: nextOffset < matches.length,
    });
  };

  const personGetByIds = (body: Body): FakeReply => {
    if (!isStringArray(body.contact_ids))
      return errorEnvelope(400, 'contact_ids must be an array of person ids');
    const fieldIds = requestedFields(body);
    if (!Array.isArray(fieldIds)) return fieldIds;
    const found: Record<string, unknown> = {};
    for (const id of body.contact_ids) {
      const contact = contacts.get(id);
      if (contact) found[id] = view(contact, fieldIds);
    }
    return json(200, { contacts: found });
  };

  const tagsGet = (body: Body): FakeReply => {
    const query = typeof body.q === 'string' ? body.q.toLowerCase() : '';
    const rows = [...tags.values()]
      .filter((t) => t.name.toLowerCase().includes(query))
      .map((t) => {
        const count = [...contacts.values()].filter((c) => c.tags.includes(t.name)).length;
        return {
          id: t.id,
          instance_id: 'fake-instance',
          name: t.name,
          source: 'api',
          created_by_id: '000000000000000000000000',
          created_by_name: '',
          created_by_email: '',
          created_at: t.created_at,
          last_used: t.last_used,
          count,
          sms_opted_in: 0,
          subscribers: count,
          type: '',
        };
      });
    return json(200, rows);
  };

  type MergeOutcome = { person_id?: string; status: string; error?: string };

  /** Checks one entry of `people`; returns an error message or undefined. */
  const validatePerson = (person: unknown): string | undefined => {
    if (!isRecord(person) || !isRecord(person.fields))
      return 'person must be an object with fields';
    for (const [fieldId, value] of Object.entries(person.fields)) {
      const known =
        BUILT_IN_FIELDS.has(fieldId) || ID_FIELDS.has(fieldId) || customFields.has(fieldId);
      if (!known)
        return `failed to validate field ${fieldId} in schema: ${fieldId}: Object not found`;
      if (fieldId.startsWith('str:') && !isUnset(value)) {
        if (typeof value !== 'string')
          return `failed to validate field ${fieldId}: expected a string`;
        if (value.length > 255)
          return `failed to validate field ${fieldId}: longer than 255 characters`;
      }
      if (fieldId.startsWith('txt:') && typeof value === 'string' && value.length > 4000) {
        return `failed to validate field ${fieldId}: longer than 4000 characters`;
      }
    }
    if (person.tags !== undefined && !isStringArray(person.tags))
      return 'tags must be an array of names';
    if (person.unset_tags !== undefined && !isStringArray(person.unset_tags))
      return 'unset_tags must be an array of names';
    return undefined;
  };

  const mergeOne = (
    person: Record<string, unknown>,
    byPersonId: boolean,
    queued: boolean,
  ): MergeOutcome => {
    const fields = person.fields as Record<string, unknown>;
    let contact: OrttoContact | undefined;
    let created = false;
    if (byPersonId) {
      const personId = fields['str::person_id'];
      if (typeof personId !== 'string')
        return { status: 'invalid', error: 'str::person_id is required when merging by it' };
      contact = contacts.get(personId);
      if (!contact) return { status: 'invalid', error: `person ${personId} not found` };
    } else {
      const email = fields['str::email'];
      if (typeof email !== 'string' || email === '')
        return { status: 'invalid', error: 'str::email is required when merging by it' };
      contact = findByEmail(email);
      if (!contact) {
        contact = requireContact(addContact({ email }));
        created = true;
      }
    }
    for (const [fieldId, value] of Object.entries(fields)) {
      if (!ID_FIELDS.has(fieldId)) writeField(contact, fieldId, value);
    }
    const add = (person.tags as string[] | undefined) ?? [];
    const remove = new Set((person.unset_tags as string[] | undefined) ?? []);
    for (const name of add) ensureTag(name);
    contact.tags = [...new Set([...contact.tags, ...add])].filter((name) => !remove.has(name));
    if (queued) return { status: 'queued' };
    return { person_id: contact.id, status: created ? 'created' : 'merged' };
  };

  const personMerge = (body: Body): FakeReply => {
    const people = body.people;
    if (!Array.isArray(people) || people.length === 0)
      return errorEnvelope(400, 'people must be a non-empty array');
    if (people.length > ORTTO_MAX_PEOPLE_PER_MERGE) {
      return errorEnvelope(
        400,
        `at most ${ORTTO_MAX_PEOPLE_PER_MERGE} people can be merged per request`,
      );
    }
    const mergeBy = body.merge_by ?? ['str::email'];
    if (!isStringArray(mergeBy) || mergeBy.length === 0)
      return errorEnvelope(400, 'merge_by must be an array of field ids');
    if (mergeBy.includes('str::person_id') && mergeBy.length > 1) {
      return errorEnvelope(400, 'str::person_id must be the only merge_by field');
    }
    if (!mergeBy.every((f) => f === 'str::email' || f === 'str::person_id')) {
      return errorEnvelope(400, `merge_by ${mergeBy.join(',')} is not supported by the fake`);
    }
    const byPersonId = mergeBy[0] === 'str::person_id';
    const queued = body.async === true;

    const outcomes: MergeOutcome[] = people.map((person: unknown) => {
      const problem = validatePerson(person);
      if (problem) return { status: 'invalid', error: problem };
      return mergeOne(person as Record<string, unknown>, byPersonId, queued);
    });
    const invalid = outcomes.filter((o) => o.status === 'invalid');
    if (invalid.length === outcomes.length) {
      return errorEnvelope(
        400,
        `No valid contacts provided (${invalid[0]?.error ?? 'invalid'})`,
        invalid,
      );
    }
    return json(200, { people: outcomes });
  };

  const customFieldGet = (): FakeReply =>
    json(200, {
      fields: [...customFields.values()].map((f) => ({
        field: structuredClone(f),
        tracked_value: false,
      })),
    });

  const routes: Record<string, (body: Body) => FakeReply> = {
    'person/get': personGet,
    'person/get-by-ids': personGetByIds,
    'person/merge': personMerge,
    'person/custom-field/get': customFieldGet,
    'tags/get': tagsGet,
  };

  const answer = (req: RecordedRequest): FakeReply => {
    const api = parseApiPath(req.path);
    const routeHandler = api ? routes[api.route] : undefined;
    if (!api || !routeHandler) return json(404, { error: `Not found: ${req.path}` });
    // A key only exists in its own region; elsewhere it is as unknown as a typo.
    if (header(req, 'x-api-key') !== apiKey || api.region !== region) {
      return json(401, { error: 'Unauthorized: invalid API key for this region' });
    }
    const rate = limiter.hit();
    if (!rate.allowed) {
      return json(429, {
        error: {
          code: 'rate-limit',
          message: 'rate limit',
          'try-in-seconds': Math.max(1, rate.resetSeconds),
        },
      });
    }
    if (req.method !== 'POST')
      return { status: 405, body: { error: 'Method not allowed' }, headers: { allow: 'POST' } };
    let body: unknown = {};
    if (req.body.trim() !== '') {
      try {
        body = JSON.parse(req.body);
      } catch {
        return errorEnvelope(400, 'request body is not valid JSON');
      }
    }
    if (!isRecord(body)) return errorEnvelope(400, 'request body must be a JSON object');
    return routeHandler(body);
  };

  const handle = (req: RecordedRequest): FakeReply => {
    const reply = answer(req);
    return { ...reply, headers: { ...COMMON_HEADERS, ...reply.headers } };
  };

  const server = await startFakeHttpServer(handle);
  server.latencyMs = options.latencyMs ?? 0;
  const apiUrlFor = (r: OrttoRegion): string =>
    r === 'rest' ? `${server.url}/v1` : `${server.url}/${r}/v1`;

  const fake = extendFake<FakeOrtto>(server, {
    apiUrl: apiUrlFor(region),
    region,
    apiKey,
    apiUrlFor,
    addContact,
    getContact(id) {
      const contact = contacts.get(id);
      return contact ? structuredClone(contact) : undefined;
    },
    setField(id, fieldId, value) {
      writeField(requireContact(id), fieldId, value);
    },
    setTags(id, names) {
      const contact = requireContact(id);
      for (const name of names) ensureTag(name);
      contact.tags = [...new Set(names)];
    },
    addCustomField,
  });
  return fake;
}

export interface OrttoWebhookOptions {
  action: string;
  accessKey: string;
  /** The Ortto person id, sent as `contact_id` in the body. */
  contactId: string;
  email: string;
  /** The body's `id`; defaults to a value different from `contactId` (it is not the person id). */
  id?: string;
  path?: string;
  /** Merged last, so it can add person fields or pin `run_id`, `campaign_id` … */
  extra?: Record<string, unknown>;
}

/**
 * Sends a journey/playbook "Send to webhook" request like Ortto's: the
 * WP Fusion parameters in the query (no contact id there), the person in a
 * JSON body.
 */
export async function sendOrttoWebhook(
  baseUrl: string,
  opts: OrttoWebhookOptions,
): Promise<Response> {
  const url = new URL(`${baseUrl}${opts.path ?? '/'}`);
  url.searchParams.append('wpf_action', opts.action);
  // The shape title is the URL as the admin typed it; leave the secret out of the payload.
  const shapeTitle = url.toString();
  url.searchParams.append('access_key', opts.accessKey);
  let id = opts.id ?? createOrttoId();
  while (opts.id === undefined && id === opts.contactId) id = createOrttoId();
  const body = {
    campaign_id: createOrttoId(),
    campaign_name: 'WP user import',
    contact_id: opts.contactId,
    email: opts.email,
    id,
    run_id: createOrttoId(),
    shape_id: '1',
    shape_title: shapeTitle,
    time: new Date().toISOString(),
    webhook_id: createOrttoId(),
    ...opts.extra,
  };
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
