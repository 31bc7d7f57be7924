/**
 * A fake WordPress site running FunnelKit Automations, built from
 * shared/crm/funnelkit.md and the behaviour of the Lite plugin's v3 routes,
 * plus a driver that sends FunnelKit "HTTP Request" webhooks.
 *
 * What it reproduces because connectors trip over it:
 * - two route generations: `autonami-app/v3/...` (Lite) and unversioned
 *   `autonami-app/...` (Pro, switchable off → `rest_no_route`), under
 *   `/wp-json/` and under `/?rest_route=` (permalinks off);
 * - WordPress ordering of errors: a bad application password fails every REST
 *   path with 401, an unknown route 404s before permissions, an anonymous call
 *   to a real route gets 401 `rest_forbidden`;
 * - WordPress parameter parsing: a JSON body counts only with
 *   `Content-Type: application/json`, form bodies use PHP bracket syntax;
 * - FunnelKit's envelope: `limit`/`offset` on every success, `total_count`
 *   only when non-zero, WP_Error bodies with a numeric `code`;
 * - `sanitize_text_field` on field values (trimmed, tags and `%xx` stripped),
 *   which can silently change a generated password.
 * Unversioned (Pro) routes are assumed to answer exactly like v3.
 */
import { Buffer } from 'node:buffer';
import {
  startFakeHttpServer,
  type FakeHttpServer,
  type FakeReply,
  type RecordedRequest,
  extendFake,
} from './fake-http.js';

interface FunnelKitTag {
  ID: number;
  name: string;
  type: 1;
  created_at: string;
  updated_at: string | null;
  data: null;
}

interface FunnelKitContact {
  id: string;
  wpid: string;
  email: string;
  f_name: string;
  l_name: string;
  contact_no: string;
  state: string;
  country: string;
  creation_date: string;
  timezone: string;
  /** Custom and address field values keyed by field id; every defined field appears, empty as ''. */
  fields: Record<string, string>;
  last_modified: string;
  unsubscribed: boolean;
  source: string;
  type: string;
  status: string;
  tags: FunnelKitTag[];
  lists: unknown[];
  display_status: number;
}

interface FunnelKitContactInput {
  email: string;
  f_name?: string;
  l_name?: string;
  /** Values keyed by field id; unknown ids are defined on the fly as `Field <id>`. */
  fields?: Record<string, string>;
  tagIds?: number[];
  wpid?: number;
  contact_no?: string;
  state?: string;
  country?: string;
}

export interface FakeFunnelKitOptions {
  username?: string;
  /** Compared with spaces and punctuation removed, as WordPress does. */
  appPassword?: string;
  /** Email of the WordPress user; application passwords also accept it in place of the login. */
  userEmail?: string;
  /** Whether FunnelKit Automations Pro is active, i.e. unversioned routes exist. */
  proRoutes?: boolean;
  /** With permalinks off, `/wp-json/...` is an ordinary 404 page and only `?rest_route=` works. */
  prettyPermalinks?: boolean;
  /** Address fields returned as `extra_fields`; their ids share the field id space. */
  extraFields?: Array<{ ID: number; name: string }>;
  latencyMs?: number;
}

export interface FakeFunnelKit extends FakeHttpServer {
  /** `${url}/wp-json/autonami-app`, for tests that want to call the API directly. */
  readonly restUrl: string;
  /** Creates a contact and returns its id (a numeric string, like FunnelKit's `id`). */
  addContact(input: FunnelKitContactInput): string;
  getContact(id: string | number): FunnelKitContact | undefined;
  setField(id: string | number, fieldId: string | number, value: string): void;
  /** Replaces the contact's tags; throws on an unknown tag id. */
  setTags(id: string | number, tagIds: number[]): void;
  /** Returns the tag's `ID`, reusing an existing tag of the same name. */
  addTag(name: string): number;
  /** Defines a custom field in a group (by name; `General` when omitted). */
  addField(id: number, name: string, group?: string): void;
}

const FUNNELKIT_MESSAGES = {
  noRoute: 'No route was found matching the URL and request method.',
  forbidden: 'Sorry, you are not allowed to do that.',
  incorrectPassword: 'The provided password is an invalid application password.',
  invalidUsername: 'Unknown username. Check again or try your email address.',
  invalidEmail: 'Unknown email address. Check again or try your username.',
  invalidJson: 'Invalid JSON body passed.',
  contactNotFound: (id: string) => `No contact found with given id #${id}`,
  fieldsContactNotFound: (id: string) => `Unable to get contact with contact ID : ${id}`,
  tagsContactNotFound: (id: string) => `No contact found related with contact id :${id}`,
  fieldsMissing: 'Required Fields missing',
  fieldsUnchanged: 'Unable to Update fields',
  contactUpdated: 'Contact updated',
  emailInvalid: 'Email is not valid.',
  emailTaken: 'Email is already associated with other contact.',
  noTags: 'No Tags provided',
  tagsAdded: 'Tag(s) added',
  tagsAlreadyApplied: 'Provided tags are applied already.',
  someTagsApplied: (names: string) => `Some tags are applied already. Applied Tags are: ${names}`,
  tagRemoved: 'Tag removed',
  someTagsRemoved: (ids: string) => `Some tags removed: ${ids}`,
  noTagFound: 'No tag found',
  invalidTags: 'Invalid Tags Provided',
  unableToRemove: 'Unable to remove any tag',
  groupFields: 'Got ALL Groups with Fields',
} as const;

/** Contact columns FunnelKit treats as standard fields (not ids in `fields`). */
const STANDARD_FIELDS = [
  ['f_name', 'First Name'],
  ['l_name', 'Last Name'],
  ['email', 'Email'],
  ['contact_no', 'Phone'],
  ['state', 'State'],
  ['country', 'Country'],
] as const;
type StandardField = (typeof STANDARD_FIELDS)[number][0] | 'timezone';
const STANDARD_FIELD_IDS = new Set<string>([...STANDARD_FIELDS.map(([id]) => id), 'timezone']);
const isStandardField = (key: string): key is StandardField => STANDARD_FIELD_IDS.has(key);

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EDITABLE = ['POST', 'PUT', 'PATCH'] as const;

interface StoredContact {
  id: number;
  wpid: number;
  email: string;
  f_name: string;
  l_name: string;
  contact_no: string;
  state: string;
  country: string;
  timezone: string;
  creation_date: string;
  last_modified: string;
  fields: Map<string, string>;
  tagIds: number[];
}

interface FieldDefinition {
  id: number;
  name: string;
  groupId: number;
}

type Params = Record<string, unknown>;

const formatTimestamp = (date: Date): string => date.toISOString().slice(0, 19).replace('T', ' ');

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** PHP's `empty()`: the checks FunnelKit's handlers use to decide "missing". */
const phpEmpty = (value: unknown): boolean =>
  value === undefined ||
  value === null ||
  value === false ||
  value === '' ||
  value === '0' ||
  value === 0 ||
  (Array.isArray(value) && value.length === 0) ||
  (isPlainObject(value) && Object.keys(value).length === 0);

/** PHP's `absint()`. */
const absint = (value: unknown): number => {
  const parsed = Number.parseInt(String(value), 10);
  return Number.isNaN(parsed) ? 0 : Math.abs(parsed);
};

/** A close copy of WordPress's `sanitize_text_field`, which FunnelKit runs on every field value. */
function sanitizeTextField(value: unknown): string {
  if (value === null || value === undefined || typeof value === 'object') return '';
  if (typeof value === 'boolean') return value ? '1' : '';
  if (typeof value !== 'string' && typeof value !== 'number') return '';
  let text = String(value);
  text = text.replace(/<[^>]*>/g, '').replace(/</g, '&lt;');
  text = text.replace(/[\r\n\t ]+/g, ' ').trim();
  let previous: string;
  do {
    previous = text;
    text = text.replace(/%[a-f0-9]{2}/gi, '');
  } while (text !== previous);
  return text.replace(/ +/g, ' ').trim();
}

const headerValue = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** Turns objects keyed 0..n-1 into arrays, as PHP's json_encode would. */
function listify(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  const entries = Object.fromEntries(keys.map((key) => [key, listify(value[key])]));
  const sequential = keys.length > 0 && keys.every((key, index) => key === String(index));
  return sequential ? keys.map((key) => entries[key]) : entries;
}

/** Parses `a[b][]=v` style pairs the way PHP fills `$_GET`/`$_POST`. */
function parsePhpParams(pairs: Iterable<[string, string]>): Params {
  const root: Params = {};
  for (const [key, value] of pairs) {
    const match = /^([^[]+)((?:\[[^\]]*\])+)$/.exec(key);
    const segments = match
      ? [match[1] ?? key, ...[...(match[2] ?? '').matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? '')]
      : [key];
    let node: Params = root;
    for (let index = 0; index < segments.length; index += 1) {
      const segment =
        segments[index] === '' ? String(Object.keys(node).length) : (segments[index] ?? '');
      if (index === segments.length - 1) {
        node[segment] = value;
        break;
      }
      if (!isPlainObject(node[segment])) node[segment] = {};
      node = node[segment] as Params;
    }
  }
  return listify(root) as Params;
}

/** Flattens nested data into PHP bracket pairs (what `http_build_query` sends). */
function toPhpPairs(data: Params, prefix = ''): Array<[string, string]> {
  return Object.entries(data).flatMap(([key, value]): Array<[string, string]> => {
    const name = prefix === '' ? key : `${prefix}[${key}]`;
    return isPlainObject(value) ? toPhpPairs(value, name) : [[name, String(value)]];
  });
}

/** FunnelKit turns data-row keys like `a.b` into nested objects. */
function nestDottedKeys(rows: Record<string, string>): Params {
  const root: Params = {};
  for (const [key, value] of Object.entries(rows)) {
    const parts = key.split('.');
    let node = root;
    parts.forEach((part, index) => {
      if (index === parts.length - 1) node[part] = value;
      else {
        if (!isPlainObject(node[part])) node[part] = {};
        node = node[part] as Params;
      }
    });
  }
  return root;
}

const wpError = (status: number, message: string): FakeReply => ({
  status,
  body: { code: status, message, data: { status, error_data: [] } },
});

const coreError = (
  status: number,
  code: string,
  message: string,
  extra: Params = {},
): FakeReply => ({
  status,
  body: { code, message, data: { status, ...extra } },
});

const htmlPage = (status: number, title: string): FakeReply => ({
  status,
  body: `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>`,
  headers: { 'content-type': 'text/html; charset=UTF-8' },
});

interface Paging {
  limit: number;
  offset: number;
  totalCount?: number;
}

/** FunnelKit's success envelope: `limit`/`offset` always, `total_count` only when non-zero. */
function success(result: unknown, message: string, paging: Paging): FakeReply {
  const body: Params = { code: 200, message, result };
  if (paging.totalCount) body.total_count = paging.totalCount;
  body.limit = paging.limit;
  body.offset = paging.offset;
  return { status: 200, body };
}

type Auth = { kind: 'anonymous' } | { kind: 'user' } | { kind: 'error'; reply: FakeReply };

interface RouteContext {
  method: string;
  params: Params;
  /** The numeric id captured from the route, when it has one. */
  id: string;
  paging: (defaultLimit: number) => { limit: number; offset: number };
}

interface RouteDefinition {
  pattern: RegExp;
  v3Methods: readonly string[];
  proMethods: readonly string[];
  handle: (ctx: RouteContext) => FakeReply;
}

/** Starts a fake FunnelKit site on 127.0.0.1; its `url` is what a connection stores as the CRM URL. */
export async function startFakeFunnelKit(
  options: FakeFunnelKitOptions = {},
): Promise<FakeFunnelKit> {
  const username = options.username ?? 'admin';
  const userEmail = options.userEmail ?? 'admin@example.com';
  const appPassword = options.appPassword ?? 'abcd efgh ijkl mnop qrst uvwx';
  const proRoutes = options.proRoutes ?? true;
  const prettyPermalinks = options.prettyPermalinks ?? true;
  const extraFields = (options.extraFields ?? [{ ID: 11, name: 'Address 1' }]).map((field) => ({
    ...field,
  }));

  const contacts = new Map<number, StoredContact>();
  const tags = new Map<number, FunnelKitTag>();
  const fieldDefinitions = new Map<string, FieldDefinition>();
  const groups = new Map<number, string>([[0, 'General']]);
  // Contact ids start far from tag and field ids so a client that mixes them up fails loudly.
  let nextContactId = 101;
  let nextTagId = 1;
  let nextGroupId = 1;

  const now = (): string => formatTimestamp(new Date());
  const knownFieldIds = (): string[] => [
    ...fieldDefinitions.keys(),
    ...extraFields.map((field) => String(field.ID)),
  ];
  const isKnownField = (fieldId: string): boolean => knownFieldIds().includes(fieldId);

  const defineField = (id: number, name: string, group = 'General'): void => {
    if (isKnownField(String(id))) throw new Error(`fake FunnelKit: field ${id} already exists`);
    let groupId = [...groups].find(([, groupName]) => groupName === group)?.[0];
    if (groupId === undefined) {
      groupId = nextGroupId++;
      groups.set(groupId, group);
    }
    fieldDefinitions.set(String(id), { id, name, groupId });
  };

  const renderContact = (contact: StoredContact): FunnelKitContact => ({
    id: String(contact.id),
    wpid: String(contact.wpid),
    email: contact.email,
    f_name: contact.f_name,
    l_name: contact.l_name,
    contact_no: contact.contact_no,
    state: contact.state,
    country: contact.country,
    creation_date: contact.creation_date,
    timezone: contact.timezone,
    fields: Object.fromEntries(
      knownFieldIds().map((fieldId) => [fieldId, contact.fields.get(fieldId) ?? '']),
    ),
    last_modified: contact.last_modified,
    unsubscribed: false,
    source: '',
    type: '',
    status: '1',
    tags: contact.tagIds.flatMap((tagId) => {
      const tag = tags.get(tagId);
      return tag ? [{ ...tag }] : [];
    }),
    lists: [],
    display_status: 1,
  });

  const findContact = (id: string | number): StoredContact | undefined => contacts.get(Number(id));
  const requireContact = (id: string | number): StoredContact => {
    const contact = findContact(id);
    if (!contact) throw new Error(`fake FunnelKit: no contact ${id}`);
    return contact;
  };
  const emailTaken = (email: string, exceptId?: number): boolean =>
    [...contacts.values()].some(
      (c) => c.id !== exceptId && c.email.toLowerCase() === email.toLowerCase(),
    );

  const findOrCreateTag = (name: string): FunnelKitTag => {
    const trimmed = name.trim();
    const existing = [...tags.values()].find(
      (tag) => tag.name.toLowerCase() === trimmed.toLowerCase(),
    );
    if (existing) return existing;
    const tag: FunnelKitTag = {
      ID: nextTagId++,
      name: trimmed,
      type: 1,
      created_at: now(),
      updated_at: null,
      data: null,
    };
    tags.set(tag.ID, tag);
    return tag;
  };

  /** One entry of an apply-tags request: an id, a name, or WP Fusion's `{id}` object. */
  const resolveTag = (entry: unknown): FunnelKitTag | undefined => {
    if (isPlainObject(entry)) {
      const id = entry.id ?? entry.ID;
      if (id !== undefined) return tags.get(absint(id));
      const name = entry.name ?? entry.value;
      return typeof name === 'string' && name.trim() !== '' ? findOrCreateTag(name) : undefined;
    }
    if (typeof entry === 'number' || (typeof entry === 'string' && /^\d+$/.test(entry.trim()))) {
      return tags.get(absint(entry));
    }
    return typeof entry === 'string' && entry.trim() !== '' ? findOrCreateTag(entry) : undefined;
  };

  // ---- route handlers -------------------------------------------------------

  const listContacts = (ctx: RouteContext): FakeReply => {
    const { limit, offset } = ctx.paging(10);
    const search =
      typeof ctx.params.search === 'string' ? ctx.params.search.trim().toLowerCase() : '';
    // Newest first, like the contacts screen; substring search reproduces the ambiguity WPF ignores.
    const matches = [...contacts.values()]
      .filter(
        (c) =>
          search === '' ||
          [c.email, c.f_name, c.l_name].some((value) => value.toLowerCase().includes(search)),
      )
      .sort((a, b) => b.id - a.id);
    const page = limit === 0 ? matches.slice(offset) : matches.slice(offset, offset + limit);
    return success(page.map(renderContact), '', { limit, offset, totalCount: matches.length });
  };

  const getContact = (ctx: RouteContext): FakeReply => {
    const contact = findContact(ctx.id);
    if (!contact) return wpError(404, FUNNELKIT_MESSAGES.contactNotFound(ctx.id));
    return success(renderContact(contact), '', { ...ctx.paging(0) });
  };

  const updateFields = (ctx: RouteContext): FakeReply => {
    const contact = findContact(ctx.id);
    if (!contact) return wpError(404, FUNNELKIT_MESSAGES.fieldsContactNotFound(ctx.id));
    const raw = ctx.params.fields;
    const entries = isPlainObject(raw) || Array.isArray(raw) ? Object.entries(raw) : [];
    if (entries.length === 0) return wpError(400, FUNNELKIT_MESSAGES.fieldsMissing);
    const fields = new Map(entries.map(([key, value]) => [key, sanitizeTextField(value)]));

    const newEmail = fields.get('email');
    if (newEmail && newEmail !== contact.email) {
      if (!EMAIL_PATTERN.test(newEmail)) return wpError(400, FUNNELKIT_MESSAGES.emailInvalid);
      if (emailTaken(newEmail, contact.id)) {
        if (fields.size === 1) return wpError(400, FUNNELKIT_MESSAGES.emailTaken);
        fields.delete('email');
      }
    }

    let changed = false;
    for (const [key, value] of fields) {
      if (isStandardField(key)) {
        if (key === 'email' && value === '') continue;
        if (contact[key] !== value) {
          contact[key] = value;
          changed = true;
        }
      } else if (isKnownField(key) && (contact.fields.get(key) ?? '') !== value) {
        // Unknown field ids are dropped silently, as FunnelKit does.
        contact.fields.set(key, value);
        changed = true;
      }
    }
    if (!changed) return success('', FUNNELKIT_MESSAGES.fieldsUnchanged, ctx.paging(0));
    contact.last_modified = now();
    return success(renderContact(contact), FUNNELKIT_MESSAGES.contactUpdated, ctx.paging(0));
  };

  const applyTags = (ctx: RouteContext): FakeReply => {
    const contact = findContact(ctx.id);
    if (!contact) return wpError(404, FUNNELKIT_MESSAGES.tagsContactNotFound(ctx.id));
    const raw = ctx.params.tags ?? [];
    if (!isPlainObject(raw) && !Array.isArray(raw)) {
      // The plugin calls array_values() on it; PHP 8 throws and the API reports the Error as a 500.
      const phpType =
        typeof raw === 'number' ? 'int' : typeof raw === 'boolean' ? 'bool' : typeof raw;
      return wpError(
        500,
        `array_values(): Argument #1 ($array) must be of type array, ${phpType} given`,
      );
    }
    const values: unknown[] = Object.values(raw);
    const requested = values
      .filter((entry) => !phpEmpty(entry))
      .flatMap((entry) =>
        typeof entry === 'string' && entry.includes(',') ? entry.split(',') : [entry],
      );
    if (requested.length === 0) return wpError(400, FUNNELKIT_MESSAGES.noTags);

    const added: FunnelKitTag[] = [];
    for (const entry of requested) {
      const tag = resolveTag(entry);
      if (tag && !contact.tagIds.includes(tag.ID)) {
        contact.tagIds.push(tag.ID);
        added.push(tag);
      }
    }
    if (added.length === 0)
      return success('', FUNNELKIT_MESSAGES.tagsAlreadyApplied, ctx.paging(0));
    contact.last_modified = now();
    const message =
      added.length === requested.length
        ? FUNNELKIT_MESSAGES.tagsAdded
        : FUNNELKIT_MESSAGES.someTagsApplied(added.map((tag) => tag.name).join(', '));
    return success(
      { tags_added: added.map((tag) => ({ ...tag })), last_modified: contact.last_modified },
      message,
      ctx.paging(0),
    );
  };

  const removeTags = (ctx: RouteContext): FakeReply => {
    const raw = ctx.params.tags;
    if (phpEmpty(raw)) return wpError(404, FUNNELKIT_MESSAGES.noTags);
    const contact = findContact(ctx.id);
    if (!contact) return wpError(404, FUNNELKIT_MESSAGES.contactNotFound(ctx.id));
    let list: unknown[];
    if (isPlainObject(raw) || Array.isArray(raw)) list = Object.values(raw);
    else if (typeof raw === 'string' && raw.includes(',')) list = raw.split(',');
    else if (absint(raw) === 0) return wpError(400, FUNNELKIT_MESSAGES.noTagFound);
    else list = [absint(raw)];
    // Only ids count here; names and objects sanitize to 0 and drop out.
    const ids = list
      .map((entry) => (typeof entry === 'object' ? 0 : absint(entry)))
      .filter((id) => id > 0);
    if (ids.length === 0) return wpError(400, FUNNELKIT_MESSAGES.invalidTags);
    const removed = ids.filter((id) => contact.tagIds.includes(id));
    if (removed.length === 0) return wpError(500, FUNNELKIT_MESSAGES.unableToRemove);
    contact.tagIds = contact.tagIds.filter((id) => !removed.includes(id));
    contact.last_modified = now();
    const message =
      removed.length === ids.length
        ? FUNNELKIT_MESSAGES.tagRemoved
        : FUNNELKIT_MESSAGES.someTagsRemoved(removed.join(', '));
    return success({ last_modified: contact.last_modified }, message, ctx.paging(0));
  };

  const listTags = (ctx: RouteContext): FakeReply => {
    // No limit means every tag: the plugin passes a missing limit through as "no limit".
    const { limit, offset } = ctx.paging(0);
    const search =
      typeof ctx.params.search === 'string' ? ctx.params.search.trim().toLowerCase() : '';
    const ids =
      typeof ctx.params.ids === 'string' && ctx.params.ids !== ''
        ? ctx.params.ids.split(',').map((id) => absint(id))
        : [];
    const matches = [...tags.values()]
      .filter(
        (tag) =>
          (search === '' || tag.name.toLowerCase().includes(search)) &&
          (ids.length === 0 || ids.includes(tag.ID)),
      )
      .sort((a, b) => a.ID - b.ID);
    const page = limit === 0 ? matches.slice(offset) : matches.slice(offset, offset + limit);
    return success(
      page.map((tag) => ({ ...tag })),
      '',
      { limit, offset, totalCount: matches.length },
    );
  };

  const listGroupFields = (ctx: RouteContext): FakeReply => {
    const groupList = [...groups].sort(([a], [b]) => a - b);
    const fields = groupList.map(([groupId, name]) => ({
      id: groupId,
      name,
      fields: [
        ...(groupId === 0 ? STANDARD_FIELDS.map(([id, label]) => ({ id, name: label })) : []),
        ...[...fieldDefinitions.values()]
          .filter((field) => field.groupId === groupId)
          .map((field) => ({ id: field.id, name: field.name, type: 1 })),
      ],
    }));
    return success(
      { fields, extra_fields: extraFields.map((field) => ({ ...field })) },
      FUNNELKIT_MESSAGES.groupFields,
      { ...ctx.paging(0), totalCount: fields.length },
    );
  };

  const routes: RouteDefinition[] = [
    { pattern: /^contacts$/, v3Methods: ['GET'], proMethods: ['GET'], handle: listContacts },
    { pattern: /^contacts\/(\d+)$/, v3Methods: ['GET'], proMethods: ['GET'], handle: getContact },
    {
      pattern: /^contacts\/(\d+)\/fields$/,
      v3Methods: EDITABLE,
      proMethods: ['POST'],
      handle: updateFields,
    },
    {
      pattern: /^contacts\/(\d+)\/tags$/,
      v3Methods: [...EDITABLE, 'DELETE'],
      proMethods: ['POST', 'DELETE'],
      handle: (ctx) => (ctx.method === 'DELETE' ? removeTags(ctx) : applyTags(ctx)),
    },
    { pattern: /^tags$/, v3Methods: ['GET'], proMethods: ['GET'], handle: listTags },
    { pattern: /^groupfields$/, v3Methods: ['GET'], proMethods: ['GET'], handle: listGroupFields },
  ];

  // ---- WordPress plumbing ---------------------------------------------------

  const authenticate = (req: RecordedRequest): Auth => {
    const match = /^Basic\s+(\S+)\s*$/i.exec(headerValue(req.headers.authorization) ?? '');
    if (!match?.[1]) return { kind: 'anonymous' };
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'anonymous' };
    const login = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const isEmailLogin = login.includes('@');
    const knownUser = isEmailLogin
      ? login.toLowerCase() === userEmail.toLowerCase()
      : login.toLowerCase() === username.toLowerCase();
    if (!knownUser) {
      return {
        kind: 'error',
        reply: isEmailLogin
          ? coreError(401, 'invalid_email', FUNNELKIT_MESSAGES.invalidEmail)
          : coreError(401, 'invalid_username', FUNNELKIT_MESSAGES.invalidUsername),
      };
    }
    const normalize = (value: string): string => value.replace(/[^a-z\d]/gi, '');
    if (normalize(password) !== normalize(appPassword)) {
      return {
        kind: 'error',
        reply: coreError(401, 'incorrect_password', FUNNELKIT_MESSAGES.incorrectPassword),
      };
    }
    return { kind: 'user' };
  };

  /** The REST route a request addresses, or undefined when it is an ordinary page request. */
  const restRouteOf = (req: RecordedRequest): string | undefined => {
    if (prettyPermalinks && (req.path === '/wp-json' || req.path.startsWith('/wp-json/'))) {
      return req.path.slice('/wp-json'.length);
    }
    if ((req.path === '/' || req.path === '/index.php') && req.query.has('rest_route')) {
      return req.query.get('rest_route') ?? '/';
    }
    return undefined;
  };

  const readParams = (req: RecordedRequest): { params: Params } | { reply: FakeReply } => {
    const query = parsePhpParams(req.query.entries());
    delete query.rest_route;
    const contentType = (headerValue(req.headers['content-type']) ?? '').toLowerCase();
    let body: Params = {};
    if (contentType.includes('application/json') && req.body.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(req.body);
        if (isPlainObject(parsed) || Array.isArray(parsed)) body = { ...parsed };
      } catch {
        // PHP's json_last_error() values for malformed input.
        return {
          reply: coreError(400, 'rest_invalid_json', FUNNELKIT_MESSAGES.invalidJson, {
            json_error_code: 4,
            json_error_message: 'Syntax error',
          }),
        };
      }
    } else if (contentType.includes('application/x-www-form-urlencoded')) {
      body = parsePhpParams(new URLSearchParams(req.body).entries());
    }
    return { params: { ...query, ...body } };
  };

  const handler = (req: RecordedRequest): FakeReply => {
    const rawRoute = restRouteOf(req);
    if (rawRoute === undefined)
      return req.path === '/'
        ? htmlPage(200, 'FunnelKit test site')
        : htmlPage(404, 'Page not found');

    // WordPress rejects a bad application password before it looks at the route.
    const auth = authenticate(req);
    if (auth.kind === 'error') return auth.reply;

    const noRoute = coreError(404, 'rest_no_route', FUNNELKIT_MESSAGES.noRoute);
    const route = rawRoute.replace(/\/+$/, '');
    const namespaced = /^\/autonami-app\/(v3\/)?(.+)$/.exec(route);
    if (!namespaced?.[2]) return noRoute;
    const isV3 = namespaced[1] !== undefined;
    if (!isV3 && !proRoutes) return noRoute;

    const rest = namespaced[2];
    let matched: { definition: RouteDefinition; id: string } | undefined;
    for (const definition of routes) {
      const match = definition.pattern.exec(rest);
      const methods = isV3 ? definition.v3Methods : definition.proMethods;
      if (match && methods.includes(req.method)) {
        matched = { definition, id: match[1] ?? '' };
        break;
      }
    }
    if (!matched) return noRoute;
    if (auth.kind === 'anonymous')
      return coreError(401, 'rest_forbidden', FUNNELKIT_MESSAGES.forbidden);

    const parsed = readParams(req);
    if ('reply' in parsed) return parsed.reply;
    const { params } = parsed;
    return matched.definition.handle({
      method: req.method,
      params,
      id: matched.id,
      paging: (defaultLimit) => ({
        limit: phpEmpty(params.limit) ? defaultLimit : absint(params.limit),
        offset: phpEmpty(params.offset) ? 0 : absint(params.offset),
      }),
    });
  };

  const setField = (id: string | number, fieldId: string | number, value: string): void => {
    const contact = requireContact(id);
    const key = String(fieldId);
    if (isStandardField(key)) contact[key] = value;
    else {
      if (!isKnownField(key)) defineField(absint(key), `Field ${key}`);
      contact.fields.set(key, value);
    }
    contact.last_modified = now();
  };

  const setTags = (id: string | number, tagIds: number[]): void => {
    const contact = requireContact(id);
    const unknown = tagIds.filter((tagId) => !tags.has(tagId));
    if (unknown.length > 0)
      throw new Error(`fake FunnelKit: unknown tag ids ${unknown.join(', ')}`);
    contact.tagIds = [...new Set(tagIds)];
    contact.last_modified = now();
  };

  const base = await startFakeHttpServer(handler);
  base.latencyMs = options.latencyMs ?? 0;

  return extendFake<FakeFunnelKit>(base, {
    restUrl: `${base.url}/wp-json/autonami-app`,
    addContact(input) {
      if (emailTaken(input.email))
        throw new Error(`fake FunnelKit: contact ${input.email} already exists`);
      const timestamp = now();
      const contact: StoredContact = {
        id: nextContactId++,
        wpid: input.wpid ?? 0,
        email: input.email,
        f_name: input.f_name ?? '',
        l_name: input.l_name ?? '',
        contact_no: input.contact_no ?? '',
        state: input.state ?? '',
        country: input.country ?? '',
        timezone: '',
        creation_date: timestamp,
        last_modified: timestamp,
        fields: new Map(),
        tagIds: [],
      };
      contacts.set(contact.id, contact);
      for (const [fieldId, value] of Object.entries(input.fields ?? {}))
        setField(contact.id, fieldId, value);
      if (input.tagIds) setTags(contact.id, input.tagIds);
      return String(contact.id);
    },
    getContact(id) {
      const contact = findContact(id);
      return contact ? renderContact(contact) : undefined;
    },
    setField,
    setTags,
    addTag(name) {
      return findOrCreateTag(name).ID;
    },
    addField(id, name, group) {
      defineField(id, name, group);
    },
  });
}

export interface FunnelKitWebhookOptions {
  /** `wpf_action`: add, update or update_tags. */
  action: string;
  accessKey: string;
  contactId: string | number;
  method: 'GET' | 'POST' | 'PUT';
  /** Body encoding for POST/PUT; `json` is what a `Content-Type: application/json` header row produces. */
  encoding?: 'form' | 'json';
  /** More data rows, e.g. `send_notification`, `role`, `contact_email`. */
  extra?: Record<string, string>;
  /** Receiver path; defaults to `/`. The URL carries nothing else. */
  path?: string;
}

/**
 * Sends a webhook the way FunnelKit's "Send Data To Any Source" action does:
 * every data row (`contact_id`, `access_key`, `wpf_action`, extras) travels in
 * the query string for GET and in the body for POST/PUT.
 */
export async function sendFunnelKitWebhook(
  baseUrl: string,
  options: FunnelKitWebhookOptions,
): Promise<Response> {
  const rows = nestDottedKeys({
    contact_id: String(options.contactId),
    access_key: options.accessKey,
    wpf_action: options.action,
    ...options.extra,
  });
  const url = `${baseUrl}${options.path ?? '/'}`;
  const userAgent = { 'user-agent': 'WordPress/6.8; http://funnelkit.test' };
  if (options.method === 'GET') {
    const query = new URLSearchParams(toPhpPairs(rows)).toString();
    return fetch(`${url}${url.includes('?') ? '&' : '?'}${query}`, {
      method: 'GET',
      headers: userAgent,
    });
  }
  if (options.encoding === 'json') {
    return fetch(url, {
      method: options.method,
      headers: { ...userAgent, 'content-type': 'application/json' },
      body: JSON.stringify(rows),
    });
  }
  return fetch(url, {
    method: options.method,
    headers: { ...userAgent, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(toPhpPairs(rows)).toString(),
  });
}
