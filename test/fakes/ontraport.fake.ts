/**
 * A fake Ontraport REST API, built from shared/crm/ontraport.md, so the
 * Ontraport connector meets Ontraport's quirks over a real socket: the generic
 * `object` interface under `/1`, two auth headers, string-only values, the
 * `*\/*id*\/*` tag encoding, plain-text "Object not found", pages of 50 tags
 * and a rolling per-account rate limit announced in `X-Rate-Limit-*` headers.
 *
 * Decisions where the notes say "unconfirmed" (chosen so a client that
 * depends on the guess breaks in tests rather than in production):
 * - 401 (bad or missing `Api-Appid`/`Api-Key`): plain-text body. WP Fusion
 *   surfaces any non-200 body verbatim, and Ontraport's other error bodies we
 *   know of are plain text. 401s are answered before the rate limiter (the
 *   account is unknown until the keys match), so they carry no
 *   `X-Rate-Limit-*` headers and do not use up the window.
 * - getByEmail with an unknown email: `notFoundStatus` (404 today, 400 for the
 *   pre-2022 behaviour) with the plain-text body `Object not found`; 200 gives
 *   the third shape clients must accept, an envelope whose `data` is `[]`.
 * - `PUT /1/objects` with `background_request`: the change is applied at once,
 *   but the answer is `{"code":0,"data":"<text>"}` with no `attrs`, so a client
 *   that reads `data.attrs` in background mode fails here.
 * - 422 for an invalid email: plain-text body without field detail.
 * - `GET /1/objects/meta` without `format=byId` is keyed by object name.
 * - Contact lists (`GET /1/objects?objectID=0`, `GET /1/objects/tag`) are sorted by
 *   id and paged by `start`/`range` like the tag list; `listFields` limits the keys.
 * Failures injected with `failNext` come from the shared base and carry no
 * rate-limit headers.
 */
import { randomBytes } from 'node:crypto';
import {
  createWindowLimiter,
  parseBody,
  startFakeHttpServer,
  type FakeHttpServer,
  type FakeReply,
  type RecordedRequest,
  extendFake,
} from './fake-http.js';

/** A contact as the API returns it: every value is a string. */
type OntraportContact = Record<string, string>;

interface OntraportTag {
  tag_id: string;
  tag_name: string;
  group_id: string;
  /** "0" for contact tags; tags of other object types share the list. */
  object_type_id: string;
}

interface OntraportFieldMeta {
  alias: string;
  type: string;
  required: string;
  unique: string;
  editable: string;
  deletable: string;
  /** Option id → label, for `drop` and `list` fields. */
  options?: Record<string, string>;
}

export interface FakeOntraportOptions {
  appId?: string;
  apiKey?: string;
  accountId?: number;
  rateLimit?: { limit: number; windowMs: number };
  /** Status for getByEmail misses: 404 (current), 400 (legacy), 200 (envelope with empty `data`). */
  notFoundStatus?: 404 | 400 | 200;
  latencyMs?: number;
  /** Seed the sample contact 4711 (Jane Doe) from the notes; default true. */
  withSampleContact?: boolean;
}

export interface FakeOntraport extends FakeHttpServer {
  /** What the client is configured with: `${url}/1`. */
  readonly apiUrl: string;
  readonly appId: string;
  readonly apiKey: string;
  readonly accountId: number;
  /** Adds a contact (defaults fill every standard and custom field); returns its id. */
  addContact(partial?: Partial<OntraportContact>): string;
  /** A copy of the stored contact, or undefined. */
  getContact(id: string): OntraportContact | undefined;
  setField(id: string, key: string, value: string): void;
  /** Replaces the contact's tags, stored `*\/*id*\/*` encoded in `contact_cat`. */
  setTags(id: string, tagIds: string[]): void;
  /** Adds a tag (of contacts unless `objectTypeId` says otherwise); returns its id. */
  addTag(name: string, objectTypeId?: string): string;
  /** Adds a contact field to the meta and to every stored contact (empty value). */
  addField(key: string, alias: string, type?: string, options?: Record<string, string>): void;
}

const ONTRAPORT_CONTACT_OBJECT_ID = '0';
const ONTRAPORT_TAG_OBJECT_ID = '14';
export const ONTRAPORT_SAMPLE_CONTACT_ID = '4711';
/** Page size and maximum `range` of `GET /1/objects`. */
const ONTRAPORT_PAGE_SIZE = 50;

const DEFAULT_RATE_LIMIT = { limit: 180, windowMs: 60_000 };

/** Keys the client may not write; Ontraport maintains them itself. */
const READ_ONLY_KEYS = new Set(['id', 'date', 'dla', 'dlm', 'unique_id']);
/** Keys of a `PUT /1/objects` body that steer the request instead of naming fields. */
const CONTROL_KEYS = new Set(['objectID', 'id', 'background_request', 'use_utm_names']);

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const field = (
  alias: string,
  type: string,
  deletable: boolean,
  extra: Partial<OntraportFieldMeta> = {},
): OntraportFieldMeta => ({
  alias,
  type,
  required: '0',
  unique: '0',
  editable: '1',
  deletable: deletable ? '1' : '0',
  ...extra,
});

/** Meta of a fresh account: built-ins plus the custom fields a WP Fusion setup maps. */
function defaultFields(): Map<string, OntraportFieldMeta> {
  return new Map<string, OntraportFieldMeta>([
    ['firstname', field('First Name', 'text', false)],
    ['lastname', field('Last Name', 'text', false)],
    ['email', field('Email', 'email', false)],
    ['office_phone', field('Office Phone', 'phone', false)],
    ['address', field('Address', 'text', false)],
    ['city', field('City', 'text', false)],
    ['state', field('State', 'state', false)],
    ['zip', field('Zip Code', 'text', false)],
    ['country', field('Country', 'country', false)],
    // Non-editable and subscription fields exist so mapping UIs prove they skip them.
    ['date', field('Date Added', 'timestamp', false, { editable: '0' })],
    ['f1585', field('WP Username', 'text', true)],
    ['f1586', field('WP Password', 'text', true)],
    ['f1601', field('Plan', 'drop', true, { options: { '1': 'Basic', '2': 'Pro' } })],
    ['f1602', field('Interests', 'list', true, { options: { '1': 'News', '2': 'Offers' } })],
    ['f1610', field('Membership', 'subscription', true)],
  ]);
}

function defaultTags(): OntraportTag[] {
  return [
    { tag_id: '3', tag_name: 'Customer', group_id: '0', object_type_id: '0' },
    { tag_id: '7', tag_name: 'WP User', group_id: '0', object_type_id: '0' },
    // A tag of another object type (a custom object) so clients must filter on object_type_id.
    { tag_id: '9', tag_name: 'Partner Lead', group_id: '0', object_type_id: '10000' },
    { tag_id: '12', tag_name: 'VIP', group_id: '0', object_type_id: '0' },
  ];
}

const nowSeconds = (): string => String(Math.floor(Date.now() / 1000));

/** Encodes tag ids the way Ontraport stores them in `contact_cat`. */
export function encodeContactCat(tagIds: string[]): string {
  return tagIds.length === 0 ? '' : `*/*${tagIds.join('*/*')}*/*`;
}

/** Decodes `contact_cat` (`""`, `"*\/*"` and `"*\/*3*\/*7*\/*"` all occur). */
export function decodeContactCat(value: string): string[] {
  return value.split('*/*').filter((part) => part !== '');
}

/** Turns a JSON or form value into the string Ontraport would store. */
function toOntraportString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** Accepts the list forms clients send: `"3,7"`, `[3, 7]`, `3`. */
function toIdList(value: unknown): string[] {
  const parts = Array.isArray(value)
    ? value.map((v) => toOntraportString(v))
    : toOntraportString(value).split(',');
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const isTruthyFlag = (value: unknown): boolean =>
  value === true || value === 1 || value === 'true' || value === '1';

const header = (req: RecordedRequest, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const text = (status: number, body: string): FakeReply => ({ status, body });

/** Starts a fake Ontraport account on 127.0.0.1. */
export async function startFakeOntraport(
  options: FakeOntraportOptions = {},
): Promise<FakeOntraport> {
  const appId = options.appId ?? '2_187157_test';
  const apiKey = options.apiKey ?? 'test-key';
  const accountId = options.accountId ?? 187157;
  const notFoundStatus = options.notFoundStatus ?? 404;
  const { limit, windowMs } = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const limiter = createWindowLimiter(limit, windowMs);

  const fields = defaultFields();
  const tags: OntraportTag[] = defaultTags();
  const contacts = new Map<string, OntraportContact>();

  const envelope = (data: unknown, extra: Record<string, unknown> = {}): FakeReply => ({
    status: 200,
    body: { code: 0, data, account_id: accountId, ...extra },
  });

  const nextNumericId = (ids: Iterable<string>): string => {
    let max = 0;
    for (const id of ids) max = Math.max(max, Number.parseInt(id, 10) || 0);
    return String(max + 1);
  };

  const requireContact = (id: string): OntraportContact => {
    const contact = contacts.get(id);
    if (!contact) throw new Error(`fake Ontraport: no contact ${id}`);
    return contact;
  };

  const addContact = (partial: Partial<OntraportContact> = {}): string => {
    const id = partial.id ?? nextNumericId(contacts.keys());
    const now = nowSeconds();
    const contact: OntraportContact = {
      id,
      owner: '1',
      firstname: '',
      lastname: '',
      email: '',
      office_phone: '',
      address: '',
      city: '',
      state: '',
      zip: '',
      country: '',
      contact_cat: '',
      bulk_mail: '1',
      bulk_sms: '0',
      unique_id: randomBytes(4).toString('hex').toUpperCase().slice(0, 7),
      date: now,
      dla: now,
      dlm: now,
    };
    for (const key of fields.keys()) contact[key] ??= '';
    for (const [key, value] of Object.entries(partial)) {
      if (value !== undefined) contact[key] = value;
    }
    contact.id = id;
    contacts.set(id, contact);
    return id;
  };

  if (options.withSampleContact ?? true) {
    addContact({
      id: ONTRAPORT_SAMPLE_CONTACT_ID,
      firstname: 'Jane',
      lastname: 'Doe',
      email: 'jane@example.com',
      contact_cat: encodeContactCat(['3', '7']),
      unique_id: 'AB12CD3',
      date: '1718890920',
      dla: '1718890920',
      dlm: '1718891000',
      f1585: 'jane_d',
      f1601: '2',
    });
  }

  // ---- routes -------------------------------------------------------------

  /** GETs name the object type in the query; this fake only models contacts there. */
  const checkContactObjectId = (value: string | null): FakeReply | undefined => {
    if (value === null || value === '') return text(400, 'Missing required parameter: objectID');
    if (value !== ONTRAPORT_CONTACT_OBJECT_ID)
      return text(400, `Unsupported objectID ${value} (the fake models contacts only)`);
    return undefined;
  };

  const getContactRoute = (req: RecordedRequest, objectId: string | null): FakeReply => {
    const bad = checkContactObjectId(objectId);
    if (bad) return bad;
    const id = req.query.get('id');
    if (!id) return text(400, 'Missing required parameter: id');
    const contact = contacts.get(id);
    if (!contact) return text(404, 'Object not found');
    return envelope({ ...contact });
  };

  const getByEmailRoute = (req: RecordedRequest): FakeReply => {
    const bad = checkContactObjectId(req.query.get('objectID'));
    if (bad) return bad;
    const email = req.query.get('email');
    if (!email) return text(400, 'Missing required parameter: email');
    // Ontraport treats email addresses case-insensitively when matching contacts.
    const wanted = email.trim().toLowerCase();
    const match = [...contacts.values()].find((c) => c.email?.toLowerCase() === wanted);
    if (match) return envelope({ id: match.id });
    if (notFoundStatus === 200) return envelope([]);
    return text(notFoundStatus, 'Object not found');
  };

  /** `start` and `range` of a collection read; `range` above 50 is capped, not refused. */
  const pageOf = <T>(req: RecordedRequest, rows: T[]): T[] => {
    const start = Math.max(0, Number.parseInt(req.query.get('start') ?? '0', 10) || 0);
    const requested = Number.parseInt(req.query.get('range') ?? '', 10);
    const range =
      Number.isFinite(requested) && requested > 0
        ? Math.min(requested, ONTRAPORT_PAGE_SIZE)
        : ONTRAPORT_PAGE_SIZE;
    return rows.slice(start, start + range);
  };

  /** Contacts by id, with only the `listFields` asked for (all fields without it). */
  const contactRows = (req: RecordedRequest, rows: OntraportContact[]): FakeReply => {
    const listFields = (req.query.get('listFields') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const sorted = [...rows].sort((a, b) => Number(a.id) - Number(b.id));
    return envelope(
      pageOf(req, sorted).map((contact) =>
        listFields.length === 0
          ? { ...contact }
          : Object.fromEntries(listFields.map((name) => [name, contact[name] ?? ''])),
      ),
      { misc: [] },
    );
  };

  const listObjectsRoute = (req: RecordedRequest): FakeReply => {
    const objectId = req.query.get('objectID');
    if (objectId === null || objectId === '')
      return text(400, 'Missing required parameter: objectID');
    if (objectId === ONTRAPORT_CONTACT_OBJECT_ID) return contactRows(req, [...contacts.values()]);
    if (objectId !== ONTRAPORT_TAG_OBJECT_ID)
      return text(400, `Unsupported objectID ${objectId} (the fake lists contacts and tags only)`);
    const sorted = [...tags].sort((a, b) => Number(a.tag_id) - Number(b.tag_id));
    return envelope(
      pageOf(req, sorted).map((t) => ({ ...t })),
      { misc: [] },
    );
  };

  /** `GET /1/objects/tag`: the objects having a tag, by `tag_id` or `tag_name`, paged like `/objects`. */
  const objectsWithTagRoute = (req: RecordedRequest): FakeReply => {
    const bad = checkContactObjectId(req.query.get('objectID'));
    if (bad) return bad;
    const byName = req.query.get('tag_name');
    const tagId =
      req.query.get('tag_id') ??
      (byName === null ? null : (tags.find((t) => t.tag_name === byName)?.tag_id ?? ''));
    if (tagId === null || tagId === '')
      return text(400, 'Missing required parameter: tag_id or tag_name');
    const tagged = [...contacts.values()].filter((contact) =>
      decodeContactCat(contact.contact_cat ?? '').includes(tagId),
    );
    return contactRows(req, tagged);
  };

  const updateRoute = (req: RecordedRequest): FakeReply => {
    const body = parseBody(req);
    const objectId = toOntraportString(body.objectID);
    if (objectId === '') return text(400, 'Missing required parameter: objectID');
    if (objectId !== ONTRAPORT_CONTACT_OBJECT_ID)
      return text(400, `Unsupported objectID ${objectId} (the fake models contacts only)`);
    const id = toOntraportString(body.id);
    if (id === '') return text(400, 'Missing required parameter: id');
    const contact = contacts.get(id);
    if (!contact) return text(404, 'Object not found');

    const updates: Array<[string, string]> = [];
    for (const [key, raw] of Object.entries(body)) {
      // Unknown keys are dropped silently, as Ontraport ignores fields it does not have.
      if (CONTROL_KEYS.has(key) || READ_ONLY_KEYS.has(key) || !(key in contact)) continue;
      updates.push([key, toOntraportString(raw)]);
    }
    // Validation happens before anything is written, also in background mode.
    const email = updates.find(([key]) => key === 'email');
    if (email && email[1] !== '' && !EMAIL_PATTERN.test(email[1]))
      return text(422, 'Invalid email address');

    const changed: Record<string, string> = {};
    for (const [key, value] of updates) {
      if (contact[key] === value) continue;
      contact[key] = value;
      changed[key] = value;
    }
    const dlm = nowSeconds();
    contact.dlm = dlm;
    if (isTruthyFlag(body.background_request))
      return envelope('The update is being processed in the background.');
    return envelope({ attrs: { ...changed, dlm, id } });
  };

  const tagRoute = (req: RecordedRequest, mode: 'add' | 'remove'): FakeReply => {
    const body = parseBody(req);
    const objectId = toOntraportString(body.objectID);
    if (objectId !== ONTRAPORT_CONTACT_OBJECT_ID) return text(400, 'objectID must be 0 (contacts)');
    const ids = toIdList(body.ids);
    const listKey = mode === 'add' ? 'add_list' : 'remove_list';
    const tagIds = toIdList(body[listKey]);
    if (ids.length === 0 || tagIds.length === 0)
      return text(400, `Missing required parameter: ids or ${listKey}`);
    const known = new Set(
      tags.filter((t) => t.object_type_id === ONTRAPORT_CONTACT_OBJECT_ID).map((t) => t.tag_id),
    );
    for (const id of ids) {
      const contact = contacts.get(id);
      if (!contact) continue;
      const current = decodeContactCat(contact.contact_cat ?? '');
      const next =
        mode === 'add'
          ? [...current, ...tagIds.filter((t) => known.has(t) && !current.includes(t))]
          : current.filter((t) => !tagIds.includes(t));
      contact.contact_cat = encodeContactCat(next);
      contact.dlm = nowSeconds();
    }
    // Ontraport answers tag changes asynchronously with a message, not with the result.
    return envelope('The tag is now being processed.');
  };

  const createTagRoute = (req: RecordedRequest): FakeReply => {
    const body = parseBody(req);
    const name = toOntraportString(body.tag_name).trim();
    if (name === '') return text(400, 'Missing required parameter: tag_name');
    const id = addTag(name, toOntraportString(body.object_type_id) || ONTRAPORT_CONTACT_OBJECT_ID);
    const tag = tags.find((t) => t.tag_id === id);
    return envelope({ ...tag });
  };

  const metaRoute = (req: RecordedRequest): FakeReply => {
    const bad = checkContactObjectId(req.query.get('objectID'));
    if (bad) return bad;
    const described = {
      name: 'Contact',
      fields: Object.fromEntries([...fields].map(([key, meta]) => [key, { ...meta }])),
    };
    const key = req.query.get('format') === 'byId' ? ONTRAPORT_CONTACT_OBJECT_ID : 'Contact';
    return envelope({ [key]: described });
  };

  const route = (req: RecordedRequest): FakeReply => {
    const { method, path } = req;
    if (method === 'GET' && path === '/1/object')
      return getContactRoute(req, req.query.get('objectID'));
    if (method === 'GET' && path === '/1/Contact')
      return getContactRoute(req, ONTRAPORT_CONTACT_OBJECT_ID);
    if (method === 'GET' && path === '/1/object/getByEmail') return getByEmailRoute(req);
    if (method === 'GET' && path === '/1/objects') return listObjectsRoute(req);
    if (method === 'PUT' && path === '/1/objects') return updateRoute(req);
    if (method === 'GET' && path === '/1/objects/meta') return metaRoute(req);
    if (method === 'GET' && path === '/1/objects/tag') return objectsWithTagRoute(req);
    if (method === 'PUT' && path === '/1/objects/tag') return tagRoute(req, 'add');
    if (method === 'DELETE' && path === '/1/objects/tag') return tagRoute(req, 'remove');
    if (method === 'POST' && path === '/1/Tags') return createTagRoute(req);
    // Deliberately not "Object not found": a wrong path must not look like a missing contact.
    return text(404, `No such endpoint in the fake: ${method} ${path}`);
  };

  const handle = (req: RecordedRequest): FakeReply => {
    if (header(req, 'api-appid') !== appId || header(req, 'api-key') !== apiKey) {
      return text(401, 'Unauthorized: invalid or missing Api-Appid / Api-Key');
    }
    const rate = limiter.hit();
    const rateHeaders = {
      'x-rate-limit-limit': String(limit),
      'x-rate-limit-remaining': String(rate.remaining),
      'x-rate-limit-reset': String(rate.resetSeconds),
    };
    if (!rate.allowed) {
      const per = windowMs === 60_000 ? 'minute' : `${windowMs / 1000} seconds`;
      return {
        status: 429,
        body: `You have exceeded the maximum rate limit of ${limit} requests per ${per}. Please wait and try again.`,
        headers: rateHeaders,
      };
    }
    const reply = route(req);
    return { ...reply, headers: { ...rateHeaders, ...reply.headers } };
  };

  // ---- state helpers ------------------------------------------------------

  function addTag(name: string, objectTypeId: string = ONTRAPORT_CONTACT_OBJECT_ID): string {
    const id = nextNumericId(tags.map((t) => t.tag_id));
    tags.push({ tag_id: id, tag_name: name, group_id: '0', object_type_id: objectTypeId });
    return id;
  }

  const server = await startFakeHttpServer(handle);
  server.latencyMs = options.latencyMs ?? 0;

  const fake = extendFake<FakeOntraport>(server, {
    apiUrl: `${server.url}/1`,
    appId,
    apiKey,
    accountId,
    addContact,
    getContact(id) {
      const contact = contacts.get(id);
      return contact ? { ...contact } : undefined;
    },
    setField(id, key, value) {
      const contact = requireContact(id);
      contact[key] = value;
      contact.dlm = nowSeconds();
    },
    setTags(id, tagIds) {
      const contact = requireContact(id);
      contact.contact_cat = encodeContactCat(tagIds);
      contact.dlm = nowSeconds();
    },
    addTag,
    addField(key, alias, type = 'text', fieldOptions) {
      fields.set(
        key,
        field(alias, type, true, fieldOptions ? { options: { ...fieldOptions } } : {}),
      );
      for (const contact of contacts.values()) contact[key] ??= '';
    },
  });
  return fake;
}

export interface OntraportWebhookOptions {
  action: string;
  accessKey: string;
  contactId: string;
  method?: 'GET' | 'POST' | 'PUT';
  /** The rule's "post data" (`key=value&…`); sent form-encoded, or in the query for GET. */
  postData?: Record<string, string>;
  /** Extra query parameters WP Fusion documents, e.g. `send_notification`, `role`. */
  query?: Record<string, string>;
  path?: string;
}

/**
 * Sends a request the way Ontraport's "Send to a Webhook" / Ping URL does:
 * the contact id merged into the URL query, an empty or form-encoded body.
 */
export async function sendOntraportWebhook(
  baseUrl: string,
  opts: OntraportWebhookOptions,
): Promise<Response> {
  const url = new URL(`${baseUrl}${opts.path ?? '/'}`);
  url.searchParams.append('wpf_action', opts.action);
  url.searchParams.append('access_key', opts.accessKey);
  url.searchParams.append('contact_id', opts.contactId);
  for (const [key, value] of Object.entries(opts.query ?? {})) url.searchParams.append(key, value);
  const method = opts.method ?? 'POST';
  if (method === 'GET') {
    // A GET has no body, so post data can only travel in the query.
    for (const [key, value] of Object.entries(opts.postData ?? {}))
      url.searchParams.append(key, value);
    return fetch(url, { method });
  }
  return fetch(url, {
    method,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(opts.postData ?? {}).toString(),
  });
}
