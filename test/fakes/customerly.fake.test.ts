import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeHttpServer, type FakeHttpServer } from './fake-http.js';
import {
  sendCustomerlyWebhook,
  startFakeCustomerly,
  type FakeCustomerly,
} from './customerly.fake.js';
import { jsonAt } from '../helpers/json.js';

const TOKEN = 'test-token';
const bearer = { authorization: `Bearer ${TOKEN}` };

let fake: FakeCustomerly;

beforeEach(async () => {
  fake = await startFakeCustomerly({ accessToken: TOKEN });
});

afterEach(async () => {
  await fake.close();
});

async function call(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${fake.apiUrl}${path}`, {
    ...init,
    headers: { ...bearer, ...init.headers },
  });
  return { status: response.status, body: await response.json() };
}

const postUsers = (users: unknown) =>
  call('/users', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ users }),
  });

describe('authentication', () => {
  beforeEach(() => {
    fake.addUser({ email: 'jane@example.com', name: 'Jane Doe' });
  });

  it('accepts the Bearer header', async () => {
    const response = await fetch(`${fake.apiUrl}/users?email=jane%40example.com`, {
      headers: bearer,
    });
    expect(response.status).toBe(200);
  });

  it('accepts the legacy Authentication: AccessToken header', async () => {
    const response = await fetch(`${fake.apiUrl}/users?email=jane%40example.com`, {
      headers: { authentication: `AccessToken: ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { email: string } }).data.email).toBe(
      'jane@example.com',
    );
  });

  it('answers a missing or wrong token with 500 and the error envelope by default', async () => {
    const missing = await fetch(`${fake.apiUrl}/tags`);
    expect(missing.status).toBe(500);
    expect(await missing.json()).toEqual({
      error: { message: 'Access token not found.', code: 0 },
    });

    const wrong = await fetch(`${fake.apiUrl}/tags`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(500);
    const wrongLegacy = await fetch(`${fake.apiUrl}/tags`, {
      headers: { authentication: 'AccessToken: nope' },
    });
    expect(wrongLegacy.status).toBe(500);
    // The token in the wrong scheme does not count either.
    const wrongScheme = await fetch(`${fake.apiUrl}/tags`, {
      headers: { authorization: `AccessToken: ${TOKEN}` },
    });
    expect(wrongScheme.status).toBe(500);
  });

  it('can answer a bad token with 401 instead', async () => {
    const strict = await startFakeCustomerly({ accessToken: TOKEN, badTokenStatus: 401 });
    try {
      const response = await fetch(`${strict.apiUrl}/users`, {
        headers: { authorization: 'Bearer nope' },
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: { message: 'Access token not found.', code: 0 },
      });
    } finally {
      await strict.close();
    }
  });
});

describe('GET /v1/users', () => {
  it('returns the user in the data envelope, by email or by user_id', async () => {
    fake.addUser({
      email: 'jane@example.com',
      name: 'Jane Doe',
      user_id: '42',
      attributes: { plan: 'pro' },
      tags: ['customer'],
    });

    const byEmail = await call('/users?email=JANE%40example.com');
    expect(byEmail.status).toBe(200);
    expect(jsonAt(byEmail.body, 'data')).toMatchObject({
      app_id: expect.any(String),
      user_id: '42',
      email: 'jane@example.com',
      name: 'Jane Doe',
      is_user: 1,
      attributes: { plan: 'pro' },
      tags: ['customer'],
    });
    expect(jsonAt(byEmail.body, 'data', 'crmhero_user_id')).toEqual(expect.any(Number));
    expect(jsonAt(byEmail.body, 'data', 'last_update')).toMatch(
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
    );
    expect(jsonAt(byEmail.body, 'data', 'first_seen_at')).toEqual(expect.any(Number));

    const byUserId = await call('/users?user_id=42');
    expect(jsonAt(byUserId.body, 'data', 'email')).toBe('jane@example.com');
  });

  it('answers an unknown user with 404 and "User doesn\'t exist"', async () => {
    const unknown = await call('/users?email=ghost%40example.com');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { message: "User doesn't exist", code: 0 } });

    // The WP Fusion connection test calls it bare and tolerates exactly this answer.
    const bare = await call('/users');
    expect(jsonAt(bare.body, 'error', 'message')).toBe("User doesn't exist");
  });
});

describe('POST /v1/users', () => {
  it('creates users and reports how many were inserted', async () => {
    const result = await postUsers([
      { email: 'new@example.com', name: 'New Person', attributes: { wp_password: 'x' } },
    ]);
    expect(result).toEqual({ status: 200, body: { data: { inserted: 1, not_added: [] } } });
    expect(fake.getUser('new@example.com')).toMatchObject({
      name: 'New Person',
      attributes: { wp_password: 'x' },
    });
  });

  it('merges attributes and replaces tags of an existing user', async () => {
    fake.addUser({
      email: 'jane@example.com',
      name: 'Jane',
      attributes: { plan: 'pro', wp_password: '' },
      tags: ['a', 'b'],
    });

    await postUsers([{ email: 'jane@example.com', attributes: { wp_password: 'Gen3rated!Pass' } }]);
    expect(fake.getUser('jane@example.com')).toMatchObject({
      name: 'Jane',
      attributes: { plan: 'pro', wp_password: 'Gen3rated!Pass' },
      tags: ['a', 'b'],
    });

    await postUsers([{ email: 'jane@example.com', tags: ['c'] }]);
    expect(fake.getUser('jane@example.com')?.tags).toEqual(['c']);
  });

  it('puts items without a valid email in not_added and keeps the rest', async () => {
    const rejected = [{ attributes: { wp_password: 'x' } }, { email: 'not-an-email' }];
    const result = await postUsers([...rejected, { email: 'ok@example.com' }]);
    expect(result.status).toBe(200);
    expect(jsonAt(result.body, 'data')).toEqual({ inserted: 1, not_added: rejected });
    expect(fake.getUser('ok@example.com')).toBeDefined();
    expect(fake.getUser('not-an-email')).toBeUndefined();
  });

  it('rejects a body without a users array', async () => {
    const result = await call('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'jane@example.com' }),
    });
    expect(result.status).toBe(400);
    expect(jsonAt(result.body, 'error', 'code')).toBe(0);
  });
});

describe('GET /v1/tags', () => {
  it('lists every tag name in use, without ids', async () => {
    fake.addUser({ email: 'a@example.com', tags: ['customer', 'onboarding'] });
    fake.addUser({ email: 'b@example.com', tags: ['customer', 'wp-user'] });
    const result = await call('/tags');
    expect(result).toEqual({ status: 200, body: { data: ['customer', 'onboarding', 'wp-user'] } });

    fake.setTags('a@example.com', []);
    expect(jsonAt((await call('/tags')).body, 'data')).toEqual(['customer', 'wp-user']);
  });
});

describe('GET /v1/users/list', () => {
  it('pages from 0 and ends with a short, then an empty page', async () => {
    for (let index = 0; index < 5; index += 1) fake.addUser({ email: `u${index}@example.com` });
    const page = async (n: number) => {
      const users = jsonAt((await call(`/users/list?page=${n}&per_page=2`)).body, 'data', 'users');
      return Array.isArray(users) ? users.map((user: unknown) => jsonAt(user, 'email')) : users;
    };

    expect(await page(0)).toEqual(['u0@example.com', 'u1@example.com']);
    expect(await page(1)).toEqual(['u2@example.com', 'u3@example.com']);
    expect(await page(2)).toEqual(['u4@example.com']);
    expect(await page(3)).toEqual([]);
  });
});

describe('state helpers', () => {
  it('setAttribute and setTags show up in the API', async () => {
    fake.addUser({ email: 'jane@example.com' });
    fake.setAttribute('jane@example.com', 'wp_password', 'secret');
    fake.setTags('jane@example.com', ['vip', 'vip', 'beta']);
    const { body } = await call('/users?email=jane%40example.com');
    expect(jsonAt(body, 'data', 'attributes')).toEqual({ wp_password: 'secret' });
    expect(jsonAt(body, 'data', 'tags')).toEqual(['vip', 'beta']);
    expect(() => fake.addUser({ email: 'JANE@example.com' })).toThrow(/already exists/);
    expect(() => fake.setTags('ghost@example.com', [])).toThrow(/no user/);
  });
});

describe('server behaviour', () => {
  it('rate-limits with 429 when a limit is configured', async () => {
    const limited = await startFakeCustomerly({
      accessToken: TOKEN,
      rateLimit: { limit: 2, windowMs: 60_000 },
    });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 3; index += 1) {
        statuses.push((await fetch(`${limited.apiUrl}/tags`, { headers: bearer })).status);
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  it('honours latencyMs, failNext and records requests', async () => {
    fake.latencyMs = 120;
    const started = Date.now();
    expect((await call('/tags')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    fake.latencyMs = 0;

    fake.failNext(
      { kind: 'status', status: 503, body: { error: { message: 'down', code: 0 } } },
      1,
      '/tags',
    );
    expect((await call('/tags')).status).toBe(503);
    expect((await call('/tags')).status).toBe(200);

    fake.failNext({ kind: 'reset' });
    await expect(fetch(`${fake.apiUrl}/tags`, { headers: bearer })).rejects.toThrow();

    expect(fake.requests.at(-1)?.path).toBe('/v1/tags');
    expect(fake.inFlight).toBe(0);
  });

  it('applies the latency option at start-up', async () => {
    const slow = await startFakeCustomerly({ latencyMs: 80 });
    try {
      expect(slow.latencyMs).toBe(80);
      const started = Date.now();
      await fetch(`${slow.apiUrl}/tags`, { headers: bearer });
      expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    } finally {
      await slow.close();
    }
  });
});

describe('sendCustomerlyWebhook', () => {
  let receiver: FakeHttpServer;

  beforeEach(async () => {
    receiver = await startFakeHttpServer(() => ({ status: 200, body: { ok: true } }));
  });

  afterEach(async () => {
    await receiver.close();
  });

  it('posts JSON with the email only in the body', async () => {
    const response = await sendCustomerlyWebhook(receiver.url, {
      action: 'update_tags',
      accessKey: 'KEY123',
      email: 'jane@example.com',
      tags: ['customer'],
    });
    expect(response.status).toBe(200);
    const [request] = receiver.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/');
    expect(Object.fromEntries(request?.query ?? [])).toEqual({
      wpf_action: 'update_tags',
      access_key: 'KEY123',
    });
    expect(request?.headers['content-type']).toMatch(/^application\/json/);
    const body: unknown = JSON.parse(request?.body ?? '');
    const user = jsonAt(body, 'data', 'user', 'data');
    expect(jsonAt(body, 'type')).toBe('user_tagged');
    expect(user).toMatchObject({ email: 'jane@example.com', tags: ['customer'] });
    expect(Object.keys(user ?? {}).sort()).toEqual([
      'crmhero_user_id',
      'email',
      'name',
      'tags',
      'user_id',
    ]);
  });

  it('adds contact_id to the query only when asked, and honours path and type', async () => {
    await sendCustomerlyWebhook(receiver.url, {
      action: 'add',
      accessKey: 'KEY123',
      email: 'jane@example.com',
      type: 'user_created',
      contactIdInQuery: true,
      path: '/hooks/customerly',
    });
    const [request] = receiver.requests;
    expect(request?.path).toBe('/hooks/customerly');
    expect(request?.query.get('contact_id')).toBe('jane@example.com');
    expect(jsonAt(JSON.parse(request?.body ?? ''), 'type')).toBe('user_created');
  });
});
