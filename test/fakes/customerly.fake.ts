/**
 * A fake Customerly API (https://api.customerly.io/v1) built from
 * shared/crm/customerly.md, plus a driver that sends Customerly-style webhooks.
 *
 * Behaviour the notes mark as unconfirmed is decided here (and listed in
 * `CUSTOMERLY_FAKE_DECISIONS`) so connector tests meet one consistent server:
 * - unknown user → HTTP 404 with the `User doesn't exist` error body;
 * - `GET /v1/users` without `email`/`user_id` answers like an unknown user,
 *   which is what WP Fusion's connection test tolerates;
 * - `POST /v1/users` replaces `tags` when given, merges `attributes`, and lists
 *   rejected items (as sent) in `data.not_added` with status 200;
 * - a body without a `users` array → 400 with the error envelope;
 * - user objects carry `attributes` and `tags`.
 */
import {
  createWindowLimiter,
  parseBody,
  startFakeHttpServer,
  type FakeHttpServer,
  type FakeReply,
  type RecordedRequest,
  extendFake,
} from './fake-http.js';

const CUSTOMERLY_FAKE_DECISIONS = {
  userNotFoundStatus: 404,
  missingLookupParamAnswersNotFound: true,
  tagsOnUpsert: 'replace',
  attributesOnUpsert: 'merge',
  notAddedItem: 'the item as sent',
  missingUsersArrayStatus: 400,
  rateLimitStatus: 429,
} as const;

export const CUSTOMERLY_MESSAGES = {
  badToken: 'Access token not found.',
  userNotFound: "User doesn't exist",
  usersRequired: 'The users field is required.',
  rateLimited: 'Too Many Requests',
  notFound: 'Not found',
  methodNotAllowed: 'Method not allowed',
  badPagination: 'Invalid pagination parameters',
} as const;

interface CustomerlyUser {
  crmhero_user_id: number;
  app_id: string;
  user_id: string | null;
  email: string;
  name: string;
  is_user: 1;
  attributes: Record<string, unknown>;
  tags: string[];
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  last_update: string;
  /** Unix seconds. */
  first_seen_at: number;
}

interface CustomerlyUserInput {
  email: string;
  name?: string;
  user_id?: string;
  attributes?: Record<string, unknown>;
  tags?: string[];
}

export interface FakeCustomerlyOptions {
  accessToken?: string;
  /** Customerly has been seen answering a bad token with 500 (PostHog) and with 401. */
  badTokenStatus?: 500 | 401;
  /** Customerly documents no limit, so this is off unless a test asks for it. */
  rateLimit?: { limit: number; windowMs: number };
  latencyMs?: number;
  appId?: string;
}

export interface FakeCustomerly extends FakeHttpServer {
  /** What a client uses as its base URL: `${url}/v1`. */
  readonly apiUrl: string;
  /** Creates a user; throws if the email is taken so fixtures stay explicit. */
  addUser(input: CustomerlyUserInput): CustomerlyUser;
  /** A copy of the stored user (email compared case-insensitively). */
  getUser(email: string): CustomerlyUser | undefined;
  setAttribute(email: string, key: string, value: unknown): void;
  setTags(email: string, tags: string[]): void;
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const errorBody = (message: string) => ({ error: { message, code: 0 } });
const errorReply = (status: number, message: string): FakeReply => ({
  status,
  body: errorBody(message),
});

const formatTimestamp = (date: Date): string => date.toISOString().slice(0, 19).replace('T', ' ');

const emailKey = (email: string): string => email.trim().toLowerCase();

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

const uniqueTags = (tags: readonly string[]): string[] => [...new Set(tags)];

const headerValue = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** Tokens offered in either header style; both are accepted because the legacy one is still in use. */
function presentedTokens(req: RecordedRequest): string[] {
  const tokens: string[] = [];
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(req.headers.authorization) ?? '');
  if (bearer?.[1]) tokens.push(bearer[1]);
  const legacy = /^AccessToken:\s*(\S+)\s*$/i.exec(headerValue(req.headers.authentication) ?? '');
  if (legacy?.[1]) tokens.push(legacy[1]);
  return tokens;
}

/** Reads a non-negative integer query parameter; `undefined` when present but malformed. */
function readIndex(query: URLSearchParams, name: string, fallback: number): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Starts a fake Customerly API on 127.0.0.1. */
export async function startFakeCustomerly(
  options: FakeCustomerlyOptions = {},
): Promise<FakeCustomerly> {
  const accessToken = options.accessToken ?? 'test-token';
  const badTokenStatus = options.badTokenStatus ?? 500;
  const appId = options.appId ?? 'f4k3app1';
  const limiter = options.rateLimit
    ? createWindowLimiter(options.rateLimit.limit, options.rateLimit.windowMs)
    : undefined;

  // Insertion order doubles as the default listing order.
  const users = new Map<string, CustomerlyUser>();
  let nextCrmheroId = 100_000_001;

  const touch = (user: CustomerlyUser): void => {
    user.last_update = formatTimestamp(new Date());
  };

  const createUser = (input: CustomerlyUserInput): CustomerlyUser => {
    const now = new Date();
    const user: CustomerlyUser = {
      crmhero_user_id: nextCrmheroId++,
      app_id: appId,
      user_id: input.user_id ?? null,
      email: input.email.trim(),
      name: input.name ?? '',
      is_user: 1,
      attributes: { ...input.attributes },
      tags: uniqueTags(input.tags ?? []),
      last_update: formatTimestamp(now),
      first_seen_at: Math.floor(now.getTime() / 1000),
    };
    users.set(emailKey(user.email), user);
    return user;
  };

  const requireUser = (email: string): CustomerlyUser => {
    const user = users.get(emailKey(email));
    if (!user) throw new Error(`fake Customerly: no user with email ${email}`);
    return user;
  };

  const findUser = (query: URLSearchParams): CustomerlyUser | undefined => {
    const email = query.get('email');
    if (email) return users.get(emailKey(email));
    const userId = query.get('user_id');
    if (userId) return [...users.values()].find((user) => user.user_id === userId);
    return undefined;
  };

  /** One item of a `POST /v1/users` batch; false when it must go to `not_added`. */
  const upsertItem = (item: unknown): boolean => {
    if (!isPlainObject(item)) return false;
    const { email, name, user_id: userId, attributes, tags } = item;
    if (typeof email !== 'string' || !EMAIL_PATTERN.test(email.trim())) return false;
    if (name !== undefined && typeof name !== 'string') return false;
    if (
      userId !== undefined &&
      userId !== null &&
      typeof userId !== 'string' &&
      typeof userId !== 'number'
    )
      return false;
    if (attributes !== undefined && !isPlainObject(attributes)) return false;
    if (tags !== undefined && !isStringList(tags)) return false;

    const existing = users.get(emailKey(email));
    if (!existing) {
      createUser({
        email,
        ...(name !== undefined ? { name } : {}),
        ...(userId !== undefined && userId !== null ? { user_id: String(userId) } : {}),
        ...(attributes !== undefined ? { attributes } : {}),
        ...(tags !== undefined ? { tags } : {}),
      });
      return true;
    }
    if (name !== undefined) existing.name = name;
    if (userId !== undefined) existing.user_id = userId === null ? null : String(userId);
    if (attributes !== undefined) existing.attributes = { ...existing.attributes, ...attributes };
    // WP Fusion always sends the full tag set, so a given list replaces the stored one.
    if (tags !== undefined) existing.tags = uniqueTags(tags);
    touch(existing);
    return true;
  };

  const handleUsersLookup = (req: RecordedRequest): FakeReply => {
    const user = findUser(req.query);
    if (!user)
      return errorReply(
        CUSTOMERLY_FAKE_DECISIONS.userNotFoundStatus,
        CUSTOMERLY_MESSAGES.userNotFound,
      );
    return { status: 200, body: { data: structuredClone(user) } };
  };

  const handleUsersUpsert = (req: RecordedRequest): FakeReply => {
    const batch = parseBody(req).users;
    if (!Array.isArray(batch)) return errorReply(400, CUSTOMERLY_MESSAGES.usersRequired);
    let inserted = 0;
    const notAdded: unknown[] = [];
    for (const item of batch) {
      if (upsertItem(item)) inserted += 1;
      else notAdded.push(item);
    }
    return { status: 200, body: { data: { inserted, not_added: notAdded } } };
  };

  const handleTags = (): FakeReply => {
    const names = uniqueTags([...users.values()].flatMap((user) => user.tags));
    return { status: 200, body: { data: names } };
  };

  const handleUsersList = (req: RecordedRequest): FakeReply => {
    const page = readIndex(req.query, 'page', 0);
    const perPage = readIndex(req.query, 'per_page', 50);
    if (page === undefined || perPage === undefined || perPage === 0) {
      return errorReply(400, CUSTOMERLY_MESSAGES.badPagination);
    }
    const all = [...users.values()];
    const sortKey = req.query.get('sort');
    if (sortKey === 'last_update' || sortKey === 'first_seen_at' || sortKey === 'email') {
      const direction = req.query.get('sort_direction') === 'desc' ? -1 : 1;
      all.sort((a, b) =>
        a[sortKey] < b[sortKey] ? -direction : a[sortKey] > b[sortKey] ? direction : 0,
      );
    }
    const slice = all.slice(page * perPage, (page + 1) * perPage);
    return { status: 200, body: { data: { users: slice.map((user) => structuredClone(user)) } } };
  };

  const routes: Record<string, Partial<Record<string, (req: RecordedRequest) => FakeReply>>> = {
    '/v1/users': { GET: handleUsersLookup, POST: handleUsersUpsert },
    '/v1/users/list': { GET: handleUsersList },
    '/v1/tags': { GET: handleTags },
  };

  const handler = (req: RecordedRequest): FakeReply => {
    const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
    if (path !== '/v1' && !path.startsWith('/v1/'))
      return errorReply(404, CUSTOMERLY_MESSAGES.notFound);

    if (limiter && !limiter.hit().allowed) return errorReply(429, CUSTOMERLY_MESSAGES.rateLimited);
    if (!presentedTokens(req).includes(accessToken))
      return errorReply(badTokenStatus, CUSTOMERLY_MESSAGES.badToken);

    const route = routes[path];
    if (!route) return errorReply(404, CUSTOMERLY_MESSAGES.notFound);
    const handle = route[req.method];
    if (!handle) return errorReply(405, CUSTOMERLY_MESSAGES.methodNotAllowed);
    return handle(req);
  };

  const base = await startFakeHttpServer(handler);
  base.latencyMs = options.latencyMs ?? 0;

  return extendFake<FakeCustomerly>(base, {
    apiUrl: `${base.url}/v1`,
    addUser(input) {
      if (users.has(emailKey(input.email)))
        throw new Error(`fake Customerly: user ${input.email} already exists`);
      return structuredClone(createUser(input));
    },
    getUser(email) {
      const user = users.get(emailKey(email));
      return user ? structuredClone(user) : undefined;
    },
    setAttribute(email, key, value) {
      const user = requireUser(email);
      user.attributes[key] = value;
      touch(user);
    },
    setTags(email, tags) {
      const user = requireUser(email);
      user.tags = uniqueTags(tags);
      touch(user);
    },
  });
}

export interface CustomerlyWebhookOptions {
  /** `wpf_action`: add, update or update_tags. */
  action: string;
  accessKey: string;
  email: string;
  /** Event name in the body; defaults to `user_tagged`. */
  type?: string;
  tags?: string[];
  /** Adds `contact_id=<email>` to the query, as a hand-edited webhook URL would. */
  contactIdInQuery?: boolean;
  /** Receiver path; defaults to `/`. */
  path?: string;
  name?: string;
  userId?: string | null;
  crmheroUserId?: number;
}

/**
 * Sends a webhook the way Customerly does: a JSON POST whose only contact
 * reference is `data.user.data.email` (the URL carries no merge fields).
 */
export async function sendCustomerlyWebhook(
  baseUrl: string,
  options: CustomerlyWebhookOptions,
): Promise<Response> {
  const query = new URLSearchParams({ wpf_action: options.action, access_key: options.accessKey });
  if (options.contactIdInQuery) query.set('contact_id', options.email);
  const path = options.path ?? '/';
  const url = `${baseUrl}${path}${path.includes('?') ? '&' : '?'}${query.toString()}`;
  const body = {
    type: options.type ?? 'user_tagged',
    data: {
      user: {
        data: {
          email: options.email,
          user_id: options.userId ?? null,
          name: options.name ?? '',
          crmhero_user_id: options.crmheroUserId ?? 123_456_789,
          tags: options.tags ?? [],
        },
      },
    },
  };
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(body),
  });
}
