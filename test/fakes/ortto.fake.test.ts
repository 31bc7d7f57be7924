import { afterEach, describe, expect, it } from 'vitest';
import { startFakeHttpServer, type FakeHttpServer } from './fake-http.js';
import {
  ORTTO_FAKE_VERSION,
  ORTTO_SAMPLE_CONTACT_ID,
  sendOrttoWebhook,
  startFakeOrtto,
  type FakeOrtto,
  type FakeOrttoOptions,
} from './ortto.fake.js';

interface Person {
  id: string;
  fields: Record<string, unknown>;
}

interface PersonGetAnswer {
  contacts: Person[] | null;
  meta: {
    total_contacts: number;
    total_organizations: number;
    total_matches: number;
    total_subscribers: number;
  };
  offset: number;
  next_offset: number;
  cursor_id: string;
  has_more: boolean;
}

const servers: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: FakeOrttoOptions = {}): Promise<FakeOrtto> {
  const fake = await startFakeOrtto(options);
  servers.push(fake);
  return fake;
}

function post(
  fake: FakeOrtto,
  route: string,
  body?: unknown,
  init: { key?: string; apiUrl?: string } = {},
) {
  return fetch(`${init.apiUrl ?? fake.apiUrl}/${route}`, {
    method: 'POST',
    headers: { 'x-api-key': init.key ?? fake.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
}

const byEmail = (email: string) => ({ '$str::is': { field_id: 'str::email', value: email } });

describe('fake Ortto: auth and regions', () => {
  it('refuses a missing or wrong X-Api-Key with 401 and an error field', async () => {
    const fake = await start();
    const missing = await fetch(`${fake.apiUrl}/tags/get`, { method: 'POST', body: '{}' });
    const wrong = await post(fake, 'tags/get', {}, { key: 'nope' });
    for (const res of [missing, wrong]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('x-version')).toBe(ORTTO_FAKE_VERSION);
      expect(((await res.json()) as { error: unknown }).error).toEqual(expect.any(String));
    }
  });

  it('serves each region under its own prefix and rejects the key under another', async () => {
    const fake = await start({ region: 'au' });
    expect(fake.apiUrl).toBe(`${fake.url}/au/v1`);
    expect(fake.apiUrlFor('rest')).toBe(`${fake.url}/v1`);
    expect(fake.apiUrlFor('eu')).toBe(`${fake.url}/eu/v1`);
    expect((await post(fake, 'tags/get', {})).status).toBe(200);
    expect((await post(fake, 'tags/get', {}, { apiUrl: fake.apiUrlFor('rest') })).status).toBe(401);
    expect((await post(fake, 'tags/get', {}, { apiUrl: fake.apiUrlFor('eu') })).status).toBe(401);
  });

  it('only answers POST', async () => {
    const fake = await start();
    const res = await fetch(`${fake.apiUrl}/tags/get`, { headers: { 'x-api-key': fake.apiKey } });
    expect(res.status).toBe(405);
  });

  it('refuses a body that is not JSON but accepts an empty one', async () => {
    const fake = await start();
    const bad = await fetch(`${fake.apiUrl}/tags/get`, {
      method: 'POST',
      headers: { 'x-api-key': fake.apiKey },
      body: 'q=vip',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      code: 400,
      error: expect.any(String),
      request_id: expect.any(String),
    });
    // WP Fusion posts person/custom-field/get without a body.
    expect((await post(fake, 'person/custom-field/get')).status).toBe(200);
  });
});

describe('fake Ortto: person/get', () => {
  it('finds a person by email with the pagination envelope and only requested, set fields', async () => {
    const fake = await start();
    const res = await post(fake, 'person/get', {
      limit: 1,
      fields: ['str::id', 'str::email', 'str::first', 'str:cm:wp-password', 'tags'],
      filter: byEmail('JANE@example.com'),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-version')).toBe(ORTTO_FAKE_VERSION);
    const body = (await res.json()) as PersonGetAnswer;
    expect(body.contacts).toEqual([
      {
        id: ORTTO_SAMPLE_CONTACT_ID,
        fields: { 'str::email': 'jane@example.com', 'str::first': 'Jane', tags: ['WP User'] },
      },
    ]);
    expect(body.meta).toMatchObject({ total_matches: 1, total_organizations: 0 });
    expect(body).toMatchObject({ offset: 0, next_offset: 1, has_more: false });
    expect(body.cursor_id).toMatch(/^[0-9a-f]{24}$/);
  });

  it('answers no match with an empty array, or null when configured', async () => {
    const plain = await start();
    const nulled = await start({ emptyContactsAsNull: true });
    const request = { limit: 1, fields: ['str::email'], filter: byEmail('nobody@example.com') };
    const a = (await (await post(plain, 'person/get', request)).json()) as PersonGetAnswer;
    const b = (await (await post(nulled, 'person/get', request)).json()) as PersonGetAnswer;
    expect(a.contacts).toEqual([]);
    expect(a.meta.total_matches).toBe(0);
    expect(b.contacts).toBeNull();
  });

  it('pages with limit and offset', async () => {
    const fake = await start({ withSampleContact: false });
    for (let i = 0; i < 5; i += 1) fake.addContact({ email: `p${i}@example.com` });
    const first = (await (
      await post(fake, 'person/get', { limit: 2, fields: ['str::email'] })
    ).json()) as PersonGetAnswer;
    const last = (await (
      await post(fake, 'person/get', { limit: 2, offset: 4, fields: ['str::email'] })
    ).json()) as PersonGetAnswer;
    expect(first.contacts?.map((c) => c.fields['str::email'])).toEqual([
      'p0@example.com',
      'p1@example.com',
    ]);
    expect(first).toMatchObject({ offset: 0, next_offset: 2, has_more: true });
    expect(first.meta.total_contacts).toBe(5);
    expect(last.contacts?.map((c) => c.fields['str::email'])).toEqual(['p4@example.com']);
    expect(last).toMatchObject({ offset: 4, next_offset: 5, has_more: false });
    expect((await post(fake, 'person/get', { limit: 501 })).status).toBe(400);
  });

  it('supports $or of $str::is filters', async () => {
    const fake = await start();
    const other = fake.addContact({ email: 'bob@example.com', first: 'Bob' });
    const res = await post(fake, 'person/get', {
      fields: ['str::first'],
      filter: {
        $or: [
          byEmail('bob@example.com'),
          { '$str::is': { field_id: 'str::first', value: 'Jane' } },
        ],
      },
    });
    const body = (await res.json()) as PersonGetAnswer;
    expect(body.contacts?.map((c) => c.id).sort()).toEqual([ORTTO_SAMPLE_CONTACT_ID, other].sort());
  });
});

describe('fake Ortto: person/get-by-ids', () => {
  it('returns an object keyed by id and leaves unknown ids out', async () => {
    const fake = await start();
    const id = fake.addContact({
      email: 'kim@example.com',
      first: 'Kim',
      fields: { 'str:cm:wp-password': 'pw' },
    });
    expect(id).toMatch(/^[0-9a-f]{24}$/);
    const res = await post(fake, 'person/get-by-ids', {
      contact_ids: [id, '0000000000000000000000ff'],
      fields: ['str::email', 'str::first', 'str::last', 'str:cm:wp-password', 'tags'],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      contacts: {
        [id]: {
          id,
          fields: {
            'str::email': 'kim@example.com',
            'str::first': 'Kim',
            'str:cm:wp-password': 'pw',
          },
        },
      },
    });
  });
});

describe('fake Ortto: tags and custom fields', () => {
  it('lists tags as a bare array with an optional q filter', async () => {
    const fake = await start();
    const all = (await (await post(fake, 'tags/get', {})).json()) as Array<Record<string, unknown>>;
    expect(Array.isArray(all)).toBe(true);
    expect(all.map((t) => t.name)).toEqual(['WP User', 'VIP']);
    expect(all[0]).toMatchObject({ id: 1, name: 'WP User', count: 1, source: 'api' });
    const filtered = (await (await post(fake, 'tags/get', { q: 'vi' })).json()) as Array<
      Record<string, unknown>
    >;
    expect(filtered.map((t) => t.name)).toEqual(['VIP']);
  });

  it('lists custom fields, including ones added later', async () => {
    const fake = await start();
    fake.addCustomField('str:cm:wp-login', 'WP Login');
    const res = await post(fake, 'person/custom-field/get', {});
    const body = (await res.json()) as {
      fields: Array<{ field: Record<string, unknown>; tracked_value: boolean }>;
    };
    expect(body.fields).toContainEqual({
      field: {
        id: 'str:cm:plan',
        name: 'Plan',
        display_type: 'single_select',
        liquid_name: 'people.custom.plan',
        dic_items: ['Basic', 'Pro'],
      },
      tracked_value: false,
    });
    expect(body.fields.map((f) => f.field.id)).toContain('str:cm:wp-login');
  });
});

describe('fake Ortto: person/merge', () => {
  it('creates then merges by email, applying fields, tags and unset_tags (auto-creating tags)', async () => {
    const fake = await start();
    const created = await post(fake, 'person/merge', {
      people: [
        { fields: { 'str::email': 'new@example.com', 'str::first': 'New' }, tags: ['Trial'] },
      ],
      merge_by: ['str::email'],
    });
    const createdBody = (await created.json()) as {
      people: Array<{ person_id: string; status: string }>;
    };
    expect(createdBody.people[0]?.status).toBe('created');
    const id = createdBody.people[0]?.person_id ?? '';
    expect(id).toMatch(/^[0-9a-f]{24}$/);

    const merged = await post(fake, 'person/merge', {
      people: [
        {
          fields: { 'str::email': 'new@example.com', 'str::last': 'Person' },
          tags: ['Customer'],
          unset_tags: ['Trial'],
        },
      ],
      merge_by: ['str::email'],
    });
    expect(await merged.json()).toEqual({ people: [{ person_id: id, status: 'merged' }] });
    expect(fake.getContact(id)).toEqual({
      id,
      fields: { 'str::email': 'new@example.com', 'str::first': 'New', 'str::last': 'Person' },
      tags: ['Customer'],
    });
    const tagNames = (
      (await (await post(fake, 'tags/get', {})).json()) as Array<{ name: string }>
    ).map((t) => t.name);
    expect(tagNames).toEqual(expect.arrayContaining(['Trial', 'Customer']));
  });

  it('merges by person id (the Return Password call)', async () => {
    const fake = await start();
    const res = await post(fake, 'person/merge', {
      people: [
        {
          fields: {
            'str::person_id': ORTTO_SAMPLE_CONTACT_ID,
            'str:cm:wp-password': 'Gen3rated!Pass',
          },
        },
      ],
      merge_by: ['str::person_id'],
    });
    expect(await res.json()).toEqual({
      people: [{ person_id: ORTTO_SAMPLE_CONTACT_ID, status: 'merged' }],
    });
    expect(fake.getContact(ORTTO_SAMPLE_CONTACT_ID)?.fields['str:cm:wp-password']).toBe(
      'Gen3rated!Pass',
    );
    expect(fake.getContact(ORTTO_SAMPLE_CONTACT_ID)?.fields['str::person_id']).toBeUndefined();
  });

  it('queues async merges but still applies them', async () => {
    const fake = await start();
    const res = await post(fake, 'person/merge', {
      people: [
        { fields: { 'str::person_id': ORTTO_SAMPLE_CONTACT_ID, 'str:cm:wp-password': 'Async!1' } },
      ],
      merge_by: ['str::person_id'],
      async: true,
    });
    expect(await res.json()).toEqual({ people: [{ status: 'queued' }] });
    expect(fake.getContact(ORTTO_SAMPLE_CONTACT_ID)?.fields['str:cm:wp-password']).toBe('Async!1');
  });

  it('refuses str::person_id combined with another merge_by field', async () => {
    const fake = await start();
    const res = await post(fake, 'person/merge', {
      people: [
        { fields: { 'str::person_id': ORTTO_SAMPLE_CONTACT_ID, 'str::email': 'jane@example.com' } },
      ],
      merge_by: ['str::person_id', 'str::email'],
    });
    expect(res.status).toBe(400);
  });

  it('answers an unknown custom field with the 400 envelope and changes nothing', async () => {
    const fake = await start();
    const res = await post(fake, 'person/merge', {
      people: [
        {
          fields: { 'str::email': 'jane@example.com', 'str:cm:nope': 'x', 'str::first': 'Changed' },
        },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      request_id: string;
      code: number;
      error: string;
      details: Array<Record<string, string>>;
    };
    expect(body.code).toBe(400);
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.error).toMatch(/^No valid contacts provided .*str:cm:nope/);
    expect(body.details[0]).toMatchObject({
      status: 'invalid',
      error: expect.stringContaining('str:cm:nope'),
    });
    expect(fake.getContact(ORTTO_SAMPLE_CONTACT_ID)?.fields['str::first']).toBe('Jane');
  });

  it('refuses more than 100 people', async () => {
    const fake = await start();
    const people = Array.from({ length: 101 }, (_, i) => ({
      fields: { 'str::email': `bulk${i}@example.com` },
    }));
    const res = await post(fake, 'person/merge', { people });
    expect(res.status).toBe(400);
    expect(fake.getContact(ORTTO_SAMPLE_CONTACT_ID)).toBeDefined();
    const count = (await (
      await post(fake, 'person/get', { limit: 500 })
    ).json()) as PersonGetAnswer;
    expect(count.meta.total_contacts).toBe(1);
  });
});

describe('fake Ortto: state helpers', () => {
  it('setField unsets with null and setTags replaces tags by name', async () => {
    const fake = await start();
    fake.setField(ORTTO_SAMPLE_CONTACT_ID, 'str::last', null);
    fake.setTags(ORTTO_SAMPLE_CONTACT_ID, ['Gold']);
    const res = await post(fake, 'person/get-by-ids', {
      contact_ids: [ORTTO_SAMPLE_CONTACT_ID],
      fields: ['str::last', 'tags'],
    });
    expect(await res.json()).toEqual({
      contacts: {
        [ORTTO_SAMPLE_CONTACT_ID]: { id: ORTTO_SAMPLE_CONTACT_ID, fields: { tags: ['Gold'] } },
      },
    });
  });
});

describe('fake Ortto: rate limit and base behaviour', () => {
  it('answers 429 with try-in-seconds once the window is full', async () => {
    const fake = await start({ rateLimit: { limit: 2, windowMs: 5_000 } });
    expect((await post(fake, 'tags/get', {})).status).toBe(200);
    expect((await post(fake, 'tags/get', {})).status).toBe(200);
    const limited = await post(fake, 'tags/get', {});
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-version')).toBe(ORTTO_FAKE_VERSION);
    const body = (await limited.json()) as {
      error: { code: string; message: string; 'try-in-seconds': number };
    };
    expect(body.error.code).toBe('rate-limit');
    expect(body.error.message).toBe('rate limit');
    expect(body.error['try-in-seconds']).toBeGreaterThanOrEqual(1);
    expect(body.error['try-in-seconds']).toBeLessThanOrEqual(5);
  });

  it('defaults to 10 requests per second', async () => {
    const fake = await start();
    const statuses = await Promise.all(
      Array.from({ length: 11 }, () => post(fake, 'tags/get', {}).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
  });

  it('honours latencyMs and failNext', async () => {
    const fake = await start({ latencyMs: 120 });
    fake.failNext({ kind: 'status', status: 500, body: { error: 'boom' } }, 1, 'person/get');
    const began = Date.now();
    const failed = await post(fake, 'person/get', { limit: 1 });
    expect(Date.now() - began).toBeGreaterThanOrEqual(110);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: 'boom' });
    fake.latencyMs = 0;
    expect((await post(fake, 'person/get', { limit: 1 })).status).toBe(200);
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/person/get', '/v1/person/get']);
  });
});

describe('sendOrttoWebhook', () => {
  let receiver: FakeHttpServer;

  it('POSTs the journey payload as JSON, with no contact_id in the query and id ≠ contact_id', async () => {
    receiver = await startFakeHttpServer(() => ({ status: 200, body: {} }));
    servers.push(receiver);
    const res = await sendOrttoWebhook(receiver.url, {
      action: 'add',
      accessKey: 'KEY123',
      contactId: ORTTO_SAMPLE_CONTACT_ID,
      email: 'jane@example.com',
      path: '/hooks/ortto',
      extra: { 'str:cm:plan': 'Pro' },
    });
    expect(res.status).toBe(200);
    const [req] = receiver.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/hooks/ortto');
    expect(req && Object.fromEntries(req.query)).toEqual({
      wpf_action: 'add',
      access_key: 'KEY123',
    });
    expect(req?.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({
      contact_id: ORTTO_SAMPLE_CONTACT_ID,
      email: 'jane@example.com',
      campaign_name: expect.any(String),
      shape_id: '1',
      'str:cm:plan': 'Pro',
    });
    for (const key of ['id', 'campaign_id', 'run_id', 'webhook_id'])
      expect(body[key]).toMatch(/^[0-9a-f]{24}$/);
    expect(body.id).not.toBe(ORTTO_SAMPLE_CONTACT_ID);
    expect(String(body.shape_title)).not.toContain('KEY123');
    expect(Number.isNaN(Date.parse(String(body.time)))).toBe(false);
  });

  it('uses an explicit id when given', async () => {
    receiver = await startFakeHttpServer(() => ({ status: 200, body: {} }));
    servers.push(receiver);
    await sendOrttoWebhook(receiver.url, {
      action: 'update',
      accessKey: 'K',
      contactId: ORTTO_SAMPLE_CONTACT_ID,
      email: 'jane@example.com',
      id: ORTTO_SAMPLE_CONTACT_ID,
    });
    const body = JSON.parse(receiver.requests[0]?.body ?? '{}') as Record<string, unknown>;
    expect(body.id).toBe(ORTTO_SAMPLE_CONTACT_ID);
    expect(receiver.requests[0]?.path).toBe('/');
  });
});
