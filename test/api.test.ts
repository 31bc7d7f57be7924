/**
 * The REST API under /api/v1 as the site uses it: real HTTP against a running
 * service, users created by real webhooks, and every answer checked against
 * the OpenAPI document the service serves (its JSON Schemas turned back into
 * validators), so the document cannot promise something the API does not do.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { queryActivity } from '../src/activity/activity.repository.js';
import { createApiToken, listApiTokens, revokeApiToken } from '../src/api/api-tokens.repository.js';
import {
  ErrorSchema,
  TagListSchema,
  UserPageSchema,
  UserResponseSchema,
} from '../src/api/schemas.js';
import { saveTagLabels } from '../src/directory/tag.repository.js';
import { verifyPassword } from '../src/directory/passwords.js';
import {
  addUserTags,
  findUserById,
  removeUserTags,
  updateUser,
} from '../src/directory/user.repository.js';
import { testDialects } from './helpers/databases.js';
import { ARGON2ID_PREFIX, legacyScryptHash } from './helpers/passwords.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const PASSWORD = 'Correct-Horse-7!';
const WRONG_PASSWORD = 'Wrong-Pony-8?';

interface OpenApi {
  openapi: string;
  servers: Array<{ url: string }>;
  security: Array<Record<string, string[]>>;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, unknown>;
    securitySchemes: Record<string, Record<string, unknown>>;
  };
}

interface Operation {
  security?: unknown[];
  parameters: Array<{ name: string; in: string; required: boolean }>;
  responses: Record<
    string,
    { content?: Record<string, { schema: unknown }>; headers?: Record<string, unknown> }
  >;
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
  /** The body read through one of the API's own schemas, for typed access. */
  as<S extends z.ZodType>(schema: S): z.output<S>;
}

/** A validator made from the document's JSON Schema alone, as an outside client would. */
function documentValidator(document: OpenApi, schema: unknown): z.ZodType {
  const local = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value).replaceAll('#/components/schemas/', '#/$defs/'));
  return z.fromJSONSchema({
    ...(local(schema) as object),
    $defs: local(document.components.schemas),
  } as never);
}

function collectRefs(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => collectRefs(item, into));
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') into.push(inner);
      else collectRefs(inner, into);
    }
  }
  return into;
}

for (const dialect of testDialects()) {
  describe(`REST API (${dialect})`, () => {
    let t: TestService;
    let document: OpenApi;
    let token: string;
    const ids = { alice: 0, bob: 0, locked: 0, members: [] as number[], others: [] as number[] };

    const db = () => t.service.database.db;

    const addUser = async (query: string): Promise<number> => {
      const reply = await t.webhook(`/?wpf_action=add&access_key=${t.key}&${query}`);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toMatchObject({ status: 'done', created: true });
      return reply.body.userId as number;
    };

    /**
     * Calls one documented operation (`'GET /users/{id}'`) and checks the answer
     * against the document: its status is listed there and its body validates.
     */
    const call = async (
      operation: string,
      options: {
        params?: Record<string, string | number>;
        query?: string;
        body?: unknown;
        rawBody?: string;
        token?: string | null;
        authorization?: string;
        url?: string;
      } = {},
    ): Promise<Reply> => {
      const [method = '', path = ''] = operation.split(' ');
      const described = document.paths[path]?.[method.toLowerCase()];
      expect(described, `${operation} is in the document`).toBeDefined();
      const filled = path.replace(/\{(\w+)\}/g, (_, name: string) =>
        encodeURIComponent(String(options.params?.[name])),
      );
      const url =
        options.url ?? `${t.baseUrl}/api/v1${filled}${options.query ? `?${options.query}` : ''}`;
      const headers: Record<string, string> = {};
      const bearer = options.token === undefined ? token : options.token;
      if (options.authorization !== undefined) headers.authorization = options.authorization;
      else if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      let payload: string | undefined;
      if (options.rawBody !== undefined || options.body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = options.rawBody ?? JSON.stringify(options.body);
      }
      const response = await fetch(url, { method, headers, body: payload ?? null });
      const text = await response.text();
      const body: unknown = JSON.parse(text);
      const documented = described?.responses[String(response.status)];
      expect(
        documented,
        `${operation} answered ${response.status}, which the document lists: ${text}`,
      ).toBeDefined();
      const schema = documented?.content?.['application/json']?.schema;
      const check = documentValidator(document, schema).safeParse(body);
      expect(
        check.success,
        `${operation} ${response.status} matches the document: ${check.error?.message ?? ''}`,
      ).toBe(true);
      return {
        status: response.status,
        headers: response.headers,
        text,
        body,
        as: (s) => s.parse(body),
      };
    };

    const verify = (body: Record<string, unknown>) => call('POST /auth/verify', { body });
    const errorOf = (reply: Reply) => reply.as(ErrorSchema).error;

    beforeAll(async () => {
      t = await startTestService(dialect, {
        env: {
          CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_ACCOUNT: '3',
          CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '1000',
        },
      });
      token = (await createApiToken(db(), 'test site', new Date())).token;
      const response = await fetch(`${t.baseUrl}/api/v1/openapi.json`);
      expect(response.status).toBe(200);
      document = (await response.json()) as OpenApi;

      const pass = encodeURIComponent(PASSWORD);
      ids.alice = await addUser(
        `contact_id=1&email=Alice%40Example.com&first_name=Alice&last_name=Liddell&user_pass=${pass}&tags=VIP,Customer&plan=gold`,
      );
      ids.bob = await addUser('contact_id=2&email=bob%40example.com&first_name=Bob&tags=Customer');
      ids.locked = await addUser(`contact_id=3&email=locked%40example.com&user_pass=${pass}`);
      // Members and others interleaved, so pages must skip the others.
      for (let i = 0; i < 7; i += 1) {
        ids.members.push(
          await addUser(`contact_id=m${i}&email=member${i}%40example.com&tags=Member`),
        );
        if (i % 2 === 0)
          ids.others.push(
            await addUser(`contact_id=o${i}&email=other${i}%40example.com&tags=Other`),
          );
      }
    });
    afterAll(async () => {
      await t?.close();
    });

    it('serves an OpenAPI 3.1 document without a token, describing every operation and the bearer scheme', async () => {
      expect(document.openapi).toBe('3.1.0');
      expect(document.servers).toEqual([{ url: `${t.baseUrl}/api/v1` }]);
      expect(Object.keys(document.paths).sort()).toEqual([
        '/auth/verify',
        '/openapi.json',
        '/users',
        '/users/{id}',
        '/users/{id}/tags',
      ]);
      expect(document.components.securitySchemes).toEqual({
        apiToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      });
      expect(document.security).toEqual([{ apiToken: [] }]);
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (path === '/openapi.json') {
            expect(operation.security).toEqual([]);
            continue;
          }
          expect(operation.security, `${method} ${path} needs the token`).toBeUndefined();
          expect(
            operation.responses['401']?.headers,
            `${method} ${path} documents the challenge`,
          ).toHaveProperty('WWW-Authenticate');
          expect(operation.responses['200']?.content?.['application/json']?.schema).toBeDefined();
        }
      }
      expect(document.paths['/users/{id}']?.get?.parameters).toEqual([
        expect.objectContaining({ name: 'id', in: 'path', required: true }),
      ]);
      expect(document.paths['/users']?.get?.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
        'query:email',
        'query:tag',
        'query:connection',
        'query:limit',
        'query:after',
      ]);
      for (const ref of collectRefs(document)) {
        expect(document.components.schemas, `${ref} resolves`).toHaveProperty(
          ref.replace('#/components/schemas/', ''),
        );
      }
      // The document's schemas are strict: a user leaking its password hash would not validate.
      const userSchema =
        document.paths['/users/{id}']?.get?.responses['200']?.content?.['application/json']?.schema;
      const good = (await call('GET /users/{id}', { params: { id: ids.alice } })).as(
        UserResponseSchema,
      );
      expect(documentValidator(document, userSchema).safeParse(good).success).toBe(true);
      expect(
        documentValidator(document, userSchema).safeParse({
          user: { ...good.user, password_hash: 'x' },
        }).success,
      ).toBe(false);
      // Fetched through the checking helper too: the document describes itself.
      expect((await call('GET /openapi.json', { token: null })).status).toBe(200);
    });

    it('answers 401 with a Bearer challenge when the token is missing, unknown or not a bearer token', async () => {
      const missing = await call('GET /users', { token: null });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(errorOf(missing).code).toBe('UNAUTHORIZED');
      expect(missing.as(ErrorSchema).status).toBe('error');

      const unknown = `cb_00000000_${'A'.repeat(43)}`;
      for (const authorization of [
        `Bearer ${unknown}`,
        'Bearer not-a-token',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        'Bearer',
      ]) {
        const reply = await call('GET /users/{id}', { params: { id: ids.alice }, authorization });
        expect(reply.status, authorization).toBe(401);
        expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(errorOf(reply).code).toBe('UNAUTHORIZED');
      }
      // The scheme name is case-insensitive.
      expect(
        (
          await call('GET /users/{id}', {
            params: { id: ids.alice },
            authorization: `bearer ${token}`,
          })
        ).status,
      ).toBe(200);
      // A login check without a token does not reach the password check at all.
      expect(
        (
          await call('POST /auth/verify', {
            token: null,
            body: { login: 'alice@example.com', password: PASSWORD },
          })
        ).status,
      ).toBe(401);
    });

    it('stops accepting a revoked token within a few seconds', async () => {
      const created = await createApiToken(db(), 'short-lived', new Date());
      expect((await call('GET /users', { token: created.token, query: 'limit=1' })).status).toBe(
        200,
      );
      expect(await revokeApiToken(db(), created.id, new Date())).toBe('revoked');
      const revokedAt = Date.now();
      const status = await waitFor(
        'the revoked token to be refused',
        async () => {
          const answer = (await call('GET /users', { token: created.token, query: 'limit=1' }))
            .status;
          return answer !== 200 && answer;
        },
        5_000,
      );
      expect(status).toBe(401);
      expect(Date.now() - revokedAt).toBeLessThan(3_000);
      // Other tokens are unaffected.
      expect((await call('GET /users', { query: 'limit=1' })).status).toBe(200);
    });

    it('records when a token was last used, writing at most once a minute', async () => {
      const created = await createApiToken(db(), 'usage', new Date());
      const lastUsed = async () =>
        (await listApiTokens(db())).find((row) => row.id === created.id)?.lastUsedAt;
      expect(await lastUsed()).toBeNull();
      await call('GET /users', { token: created.token, query: 'limit=1' });
      const first = await lastUsed();
      expect(first).toEqual(expect.any(String));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await call('GET /users', { token: created.token, query: 'limit=1' });
      expect(await lastUsed()).toBe(first);
    });

    it('verifies a login and password and answers the user with role, tags, meta and no password hash', async () => {
      const byLogin = await verify({ login: 'alice@example.com', password: PASSWORD });
      expect(byLogin.status).toBe(200);
      const { user } = byLogin.as(UserResponseSchema);
      expect(user).toMatchObject({
        id: ids.alice,
        login: 'alice@example.com',
        email: 'Alice@Example.com',
        first_name: 'Alice',
        last_name: 'Liddell',
        role: 'subscriber',
        meta: { plan: 'gold' },
        password_change_required: false,
      });
      expect(user.tags).toEqual([
        { connection: 'payload', id: 'Customer', label: 'Customer' },
        { connection: 'payload', id: 'VIP', label: 'VIP' },
      ]);
      expect(byLogin.text).not.toContain('scrypt');
      expect(byLogin.text).not.toContain('password_hash');

      // The e-mail works in any case, and under the other accepted key names.
      expect(
        (await verify({ email: 'ALICE@example.com', password: PASSWORD })).as(UserResponseSchema)
          .user.id,
      ).toBe(ids.alice);
      expect(
        (await verify({ username: 'alice@example.com', password: PASSWORD })).as(UserResponseSchema)
          .user.id,
      ).toBe(ids.alice);
    });

    it('verifies a password stored as scrypt, and stores it as argon2id from then on', async () => {
      const id = await addUser(
        `contact_id=5&email=legacy%40example.com&user_pass=${encodeURIComponent(PASSWORD)}`,
      );
      await updateUser(db(), id, { password_hash: legacyScryptHash(PASSWORD) });
      expect((await verify({ login: 'legacy@example.com', password: PASSWORD })).status).toBe(200);
      const upgraded = (await findUserById(db(), id))?.password_hash ?? '';
      expect(upgraded.startsWith(ARGON2ID_PREFIX)).toBe(true);
      expect(await verifyPassword(PASSWORD, upgraded)).toBe(true);
      expect((await verify({ login: 'legacy@example.com', password: PASSWORD })).status).toBe(200);
    });

    it('answers a wrong password and an unknown login alike (401 INVALID_CREDENTIALS), and logs both without the password', async () => {
      const wrong = await verify({ login: 'alice@example.com', password: WRONG_PASSWORD });
      const unknown = await verify({ login: 'nobody@example.com', password: WRONG_PASSWORD });
      for (const reply of [wrong, unknown]) {
        expect(reply.status).toBe(401);
        expect(reply.headers.get('www-authenticate')).toBeNull();
      }
      expect(errorOf(wrong)).toEqual(errorOf(unknown));
      expect(errorOf(wrong).code).toBe('INVALID_CREDENTIALS');

      const entries = await queryActivity(db(), { action: 'api', limit: 100 });
      expect(entries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            level: 'notice',
            user_id: ids.alice,
            message: expect.stringContaining('alice@example.com'),
          }),
          expect.objectContaining({
            level: 'notice',
            user_id: null,
            message: expect.stringContaining('an unknown login'),
          }),
        ]),
      );
      const logged = JSON.stringify(entries);
      // A name nobody has may be a password typed into the wrong field: it is not written down.
      expect(logged).not.toContain('nobody@example.com');
      expect(logged).not.toContain(WRONG_PASSWORD);
      expect(logged).not.toContain(token);
      // A success clears the account's failures, so alice is not on her way to being locked out.
      expect((await verify({ login: 'alice@example.com', password: PASSWORD })).status).toBe(200);
    });

    it('refuses with 429 and Retry-After once an account reaches its failure limit, even with the right password', async () => {
      for (let i = 0; i < 3; i += 1) {
        expect(
          (await verify({ login: 'locked@example.com', password: `${WRONG_PASSWORD}${i}` })).status,
        ).toBe(401);
      }
      const refused = await verify({ login: 'locked@example.com', password: PASSWORD });
      expect(refused.status).toBe(429);
      expect(errorOf(refused).code).toBe('TOO_MANY_ATTEMPTS');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
      const warnings = await queryActivity(db(), {
        action: 'api',
        level: 'warning',
        userId: ids.locked,
      });
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings)).not.toContain(PASSWORD);
    });

    it('lets at most the per-account limit of parallel wrong checks reach the password hash (regression: checked, hashed, then counted)', async () => {
      await addUser(
        `contact_id=4&email=parallel%40example.com&user_pass=${encodeURIComponent(PASSWORD)}`,
      );
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          verify({ login: 'parallel@example.com', password: `${WRONG_PASSWORD}${i}` }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      // 401 means the password was compared; the limit (3 here) bounds how many were.
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(3);
      expect(statuses.filter((status) => status !== 401)).toEqual(
        Array(statuses.length - statuses.filter((status) => status === 401).length).fill(429),
      );
    });

    it('answers 400 for malformed JSON and invalid bodies, never 500', async () => {
      const malformed = await call('POST /auth/verify', {
        rawBody: '{"login": "alice@example.com", "password": ',
      });
      expect(malformed.status).toBe(400);
      expect(errorOf(malformed).code).toBe('MALFORMED_BODY');

      const invalid = [
        [{ login: 'alice@example.com' }, 'password'],
        [{ password: PASSWORD }, 'exactly one of login, username or email'],
        [
          { login: 'alice@example.com', username: 'alice@example.com', password: PASSWORD },
          'exactly one',
        ],
        [{ login: 'alice@example.com', password: PASSWORD, remember: true }, 'remember'],
        [{ login: 'alice@example.com', password: PASSWORD, client_ip: 'somewhere' }, 'client_ip'],
        [{ login: 42, password: PASSWORD }, 'login'],
        [[1, 2], 'body'],
      ] as const;
      for (const [body, mention] of invalid) {
        const reply = await verify(body as unknown as Record<string, unknown>);
        expect(reply.status, JSON.stringify(body)).toBe(400);
        expect(errorOf(reply).code).toBe('INVALID_REQUEST');
        expect(errorOf(reply).message).toContain(mention);
      }
      const empty = await call('POST /auth/verify', { rawBody: '' });
      expect(empty.status).toBe(400);
      expect(errorOf(empty).message).toContain('password');

      // Each refusal is a line in the activity log, without the values sent.
      const refused = await queryActivity(db(), { action: 'api', level: 'notice', limit: 100 });
      expect(
        refused.filter((row) => row.message.startsWith('Refused POST /api/v1/auth/verify:')),
      ).toHaveLength(invalid.length + 2);
      expect(JSON.stringify(refused)).not.toContain(PASSWORD);
    });

    it('gets one user by id, says whether they must change a generated password, and 404s unknown ids', async () => {
      const alice = (await call('GET /users/{id}', { params: { id: ids.alice } })).as(
        UserResponseSchema,
      ).user;
      expect(alice).toMatchObject({
        id: ids.alice,
        email: 'Alice@Example.com',
        password_change_required: false,
        meta: { plan: 'gold' },
      });
      const bob = await call('GET /users/{id}', { params: { id: ids.bob } });
      expect(bob.as(UserResponseSchema).user).toMatchObject({
        id: ids.bob,
        login: 'bob@example.com',
        first_name: 'Bob',
        password_change_required: true,
        tags: [{ connection: 'payload', id: 'Customer', label: 'Customer' }],
      });

      const missing = await call('GET /users/{id}', { params: { id: 999_999 } });
      expect(missing.status).toBe(404);
      expect(errorOf(missing).code).toBe('USER_NOT_FOUND');
      for (const id of ['abc', '0', '1.5', '99999999999']) {
        const reply = await call('GET /users/{id}', { params: { id } });
        expect(reply.status, id).toBe(400);
        expect(errorOf(reply).code).toBe('INVALID_REQUEST');
      }
    });

    it("lists a user's tags, and 404s an unknown user", async () => {
      const tags = await call('GET /users/{id}/tags', { params: { id: ids.alice } });
      expect(tags.as(TagListSchema).tags.map((tag) => tag.label)).toEqual(['Customer', 'VIP']);
      const missing = await call('GET /users/{id}/tags', { params: { id: 999_999 } });
      expect(missing.status).toBe(404);
      expect(errorOf(missing).code).toBe('USER_NOT_FOUND');
    });

    it('finds a user by e-mail in any case, and answers an empty page for an unknown one', async () => {
      const found = (await call('GET /users', { query: 'email=ALICE%40example.COM' })).as(
        UserPageSchema,
      );
      expect(found.users.map((user) => user.id)).toEqual([ids.alice]);
      expect(found.next).toBeNull();
      expect(
        (await call('GET /users', { query: 'email=nobody%40example.com' })).as(UserPageSchema),
      ).toEqual({ users: [], next: null });
    });

    it('pages through the users with a tag: every one once, in id order, the last page with next null', async () => {
      const seen: number[] = [];
      let next: string | null = null;
      let pages = 0;
      do {
        const page: z.output<typeof UserPageSchema> = (
          await call('GET /users', next === null ? { query: 'tag=Member&limit=3' } : { url: next })
        ).as(UserPageSchema);
        pages += 1;
        expect(page.users.length).toBeLessThanOrEqual(3);
        for (const user of page.users)
          expect(user.tags.map((tag) => tag.label)).toContain('Member');
        seen.push(...page.users.map((user) => user.id));
        next = page.next;
        if (next !== null) expect(next.startsWith(`${t.baseUrl}/api/v1/users?`)).toBe(true);
      } while (next !== null && pages < 10);
      expect(seen).toEqual(ids.members);
      expect(pages).toBe(3);

      // An exact multiple of the page size ends without an empty extra page.
      const whole = (
        await call('GET /users', { query: `tag=Member&limit=${ids.members.length}` })
      ).as(UserPageSchema);
      expect(whole.users).toHaveLength(ids.members.length);
      expect(whole.next).toBeNull();
    });

    it('matches a tag by id or by label, narrows it to one connection, and lists a user once', async () => {
      const at = new Date().toISOString();
      await saveTagLabels(db(), 'crm', [{ id: '42', label: 'Gold Members' }], at);
      await addUserTags(db(), ids.bob, 'crm', ['42'], at);
      await addUserTags(db(), ids.alice, 'crm', ['42', 'Customer'], at);
      // Other tests read alice's and bob's tags as the setup left them.
      onTestFinished(async () => {
        await removeUserTags(db(), ids.bob, 'crm', ['42']);
        await removeUserTags(db(), ids.alice, 'crm', ['42', 'Customer']);
      });
      const idsOf = async (query: string) =>
        (await call('GET /users', { query })).as(UserPageSchema).users.map((user) => user.id);

      expect(await idsOf('tag=Gold%20Members')).toEqual([ids.alice, ids.bob]);
      expect(await idsOf('tag=42')).toEqual([ids.alice, ids.bob]);
      expect(await idsOf('tag=42&connection=crm')).toEqual([ids.alice, ids.bob]);
      expect(await idsOf('tag=42&connection=payload')).toEqual([]);
      // alice holds "Customer" in two connections and is still one entry.
      expect(await idsOf('tag=Customer')).toEqual([ids.alice, ids.bob]);
      expect(await idsOf('tag=Customer&email=bob%40example.com')).toEqual([ids.bob]);

      const bob = (await call('GET /users/{id}', { params: { id: ids.bob } })).as(
        UserResponseSchema,
      ).user;
      expect(bob.tags).toEqual([
        { connection: 'crm', id: '42', label: 'Gold Members' },
        { connection: 'payload', id: 'Customer', label: 'Customer' },
      ]);
    });

    it('lists every user without filters, and rejects bad paging or filter parameters with 400', async () => {
      const all = (await call('GET /users')).as(UserPageSchema);
      const stored = await db().selectFrom('users').select('id').orderBy('id').execute();
      expect(all.users.map((user) => user.id)).toEqual(stored.map((row) => row.id));
      expect(all.next).toBeNull();
      const afterBob = (await call('GET /users', { query: `after=${ids.bob}&limit=1` })).as(
        UserPageSchema,
      );
      expect(afterBob.users.map((user) => user.id)).toEqual([ids.locked]);

      for (const query of [
        'limit=0',
        'limit=201',
        'limit=ten',
        'after=-1',
        'connection=crm',
        'emial=alice%40example.com',
        'tag=',
      ]) {
        const reply = await call('GET /users', { query });
        expect(reply.status, query).toBe(400);
        expect(errorOf(reply).code).toBe('INVALID_REQUEST');
      }
    });

    it('never writes a token or a password to the process log', () => {
      const logged = t.logLines.join('');
      expect(logged.length).toBeGreaterThan(0);
      expect(logged).not.toContain(token);
      expect(logged).not.toContain(PASSWORD);
      expect(logged).not.toContain(WRONG_PASSWORD);
    });

    describe('with the client address given by the site', () => {
      let s: TestService;
      let siteToken: string;

      beforeAll(async () => {
        s = await startTestService(dialect, {
          env: { CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '2' },
        });
        siteToken = (await createApiToken(s.service.database.db, 'site', new Date())).token;
      });
      afterAll(async () => {
        await s?.close();
      });

      const check = async (body: Record<string, unknown>) => {
        const response = await fetch(`${s.baseUrl}/api/v1/auth/verify`, {
          method: 'POST',
          headers: { authorization: `Bearer ${siteToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ login: 'someone@example.com', password: WRONG_PASSWORD, ...body }),
        });
        return response.status;
      };

      /** A login through the page, from this test's own address (127.0.0.1), with the form's CSRF token. */
      const pageLogin = async (baseUrl: string, login: string) => {
        const form = await fetch(`${baseUrl}/login`);
        const cookie = form.headers
          .getSetCookie()
          .map((line) => line.split(';')[0])
          .join('; ');
        const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
        const response = await fetch(`${baseUrl}/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: csrf, identifier: login, password: WRONG_PASSWORD }),
        });
        await response.arrayBuffer();
        return response.status;
      };

      it("keeps the API's per-address counts apart from the login page's: using up one does not limit the other", async () => {
        // client_ip names the address the page's visitors come from here: exhausting it over the API leaves the page alone.
        expect(await check({ client_ip: '127.0.0.1', login: 'a1@example.com' })).toBe(401);
        expect(await check({ client_ip: '127.0.0.1', login: 'a2@example.com' })).toBe(401);
        expect(await check({ client_ip: '127.0.0.1', login: 'a3@example.com' })).toBe(429);
        expect(await pageLogin(s.baseUrl, 'p1@example.com')).toBe(401);
        expect(await pageLogin(s.baseUrl, 'p2@example.com')).toBe(401);
        expect(await pageLogin(s.baseUrl, 'p3@example.com')).toBe(429);

        // And the other way round, on a fresh service: the page's exhausted budget leaves the API's alone.
        const fresh = await startTestService(dialect, {
          env: { CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '2' },
        });
        try {
          const freshToken = (await createApiToken(fresh.service.database.db, 'site', new Date()))
            .token;
          for (const login of ['q1@example.com', 'q2@example.com'])
            expect(await pageLogin(fresh.baseUrl, login)).toBe(401);
          expect(await pageLogin(fresh.baseUrl, 'q3@example.com')).toBe(429);
          const viaApi = await fetch(`${fresh.baseUrl}/api/v1/auth/verify`, {
            method: 'POST',
            headers: { authorization: `Bearer ${freshToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              login: 'q4@example.com',
              password: WRONG_PASSWORD,
              client_ip: '127.0.0.1',
            }),
          });
          expect(viaApi.status).toBe(401);
        } finally {
          await fresh.close();
        }
      });

      it('counts the per-address limit for that address, not for the site server', async () => {
        expect(await check({ client_ip: '203.0.113.7' })).toBe(401);
        expect(await check({ client_ip: '203.0.113.7' })).toBe(401);
        expect(await check({ client_ip: '203.0.113.7' })).toBe(429);
        // Another visitor behind the same site is not refused.
        expect(await check({ client_ip: '2001:db8::1' })).toBe(401);
        expect(await check({ client_ip: '203.0.113.8', login: 'other@example.com' })).toBe(401);
      });
    });
  });
}
