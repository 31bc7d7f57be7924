import { Buffer } from 'node:buffer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeHttpServer, type FakeHttpServer } from './fake-http.js';
import { sendFunnelKitWebhook, startFakeFunnelKit, type FakeFunnelKit } from './funnelkit.fake.js';
import { jsonAt } from '../helpers/json.js';

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const admin = basic('admin', 'abcd efgh ijkl mnop qrst uvwx');

let fake: FakeFunnelKit;

beforeEach(async () => {
  fake = await startFakeFunnelKit();
});

afterEach(async () => {
  await fake.close();
});

async function call(
  pathAndQuery: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${fake.url}${pathAndQuery}`, {
    ...init,
    headers: { ...admin, ...init.headers },
  });
  return { status: response.status, body: await response.json() };
}

const sendJson = (method: string, path: string, body: unknown) =>
  call(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('authentication', () => {
  it('answers an anonymous call to a real route with 401 rest_forbidden', async () => {
    const response = await fetch(`${fake.url}/wp-json/autonami-app/v3/contacts`);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      code: 'rest_forbidden',
      message: 'Sorry, you are not allowed to do that.',
      data: { status: 401 },
    });
  });

  it('rejects a wrong application password with 401 incorrect_password, even on unknown routes', async () => {
    for (const path of ['/wp-json/autonami-app/v3/contacts', '/wp-json/nothing/here']) {
      const response = await fetch(`${fake.url}${path}`, {
        headers: basic('admin', 'wrong pass word'),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        code: 'incorrect_password',
        message: 'The provided password is an invalid application password.',
        data: { status: 401 },
      });
    }
  });

  it('rejects an unknown user with 401 invalid_username', async () => {
    const response = await fetch(`${fake.url}/wp-json/autonami-app/v3/contacts`, {
      headers: basic('someone', 'abcd efgh ijkl mnop qrst uvwx'),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { code: string; data: { status: number } };
    expect(body.code).toBe('invalid_username');
    expect(body.data.status).toBe(401);
  });

  it('accepts the application password without spaces and the user email as login', async () => {
    const compact = await fetch(`${fake.url}/wp-json/autonami-app/v3/contacts`, {
      headers: basic('admin', 'abcdefghijklmnopqrstuvwx'),
    });
    expect(compact.status).toBe(200);
    const byEmail = await fetch(`${fake.url}/wp-json/autonami-app/v3/contacts`, {
      headers: basic('admin@example.com', 'abcd efgh ijkl mnop qrst uvwx'),
    });
    expect(byEmail.status).toBe(200);
  });
});

describe('GET contacts/{id}', () => {
  it('returns the contact in the FunnelKit envelope on both route generations', async () => {
    fake.addField(5, 'Username');
    fake.addField(7, 'WP Password', 'Account');
    const customer = fake.addTag('Customer');
    const id = fake.addContact({
      email: 'jane@example.com',
      f_name: 'Jane',
      l_name: 'Doe',
      fields: { '5': 'jane_d' },
      tagIds: [customer],
    });

    for (const prefix of ['/wp-json/autonami-app/v3', '/wp-json/autonami-app']) {
      const { status, body } = await call(`${prefix}/contacts/${id}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ code: 200, message: '' });
      expect(jsonAt(body, 'result')).toMatchObject({
        id,
        wpid: '0',
        email: 'jane@example.com',
        f_name: 'Jane',
        l_name: 'Doe',
        fields: { '5': 'jane_d', '7': '', '11': '' },
        lists: [],
        tags: [{ ID: customer, name: 'Customer', type: 1, updated_at: null, data: null }],
      });
      expect(typeof jsonAt(body, 'result', 'id')).toBe('string');
      expect(jsonAt(body, 'result', 'tags', 0, 'created_at')).toMatch(
        /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
      );
    }
  });

  it('answers an unknown id with 404 and a numeric WP_Error code', async () => {
    const { status, body } = await call('/wp-json/autonami-app/v3/contacts/999');
    expect(status).toBe(404);
    expect(body).toEqual({
      code: 404,
      message: 'No contact found with given id #999',
      data: { status: 404, error_data: [] },
    });
  });
});

describe('route generations and URL styles', () => {
  it('serves routes via ?rest_route= as with permalinks off', async () => {
    const id = fake.addContact({ email: 'jane@example.com' });
    const { status, body } = await call(`/?rest_route=/autonami-app/v3/contacts/${id}`);
    expect(status).toBe(200);
    expect(jsonAt(body, 'result', 'email')).toBe('jane@example.com');
  });

  it('answers unversioned routes with rest_no_route when Pro is off, v3 still works', async () => {
    const lite = await startFakeFunnelKit({ proRoutes: false });
    try {
      const pro = await fetch(`${lite.url}/wp-json/autonami-app/contacts`, { headers: admin });
      expect(pro.status).toBe(404);
      expect(await pro.json()).toEqual({
        code: 'rest_no_route',
        message: 'No route was found matching the URL and request method.',
        data: { status: 404 },
      });
      const v3 = await fetch(`${lite.url}/wp-json/autonami-app/v3/contacts`, { headers: admin });
      expect(v3.status).toBe(200);
    } finally {
      await lite.close();
    }
  });

  it('only serves ?rest_route= when pretty permalinks are off', async () => {
    const plain = await startFakeFunnelKit({ prettyPermalinks: false });
    try {
      const pretty = await fetch(`${plain.url}/wp-json/autonami-app/v3/tags`, { headers: admin });
      expect(pretty.status).toBe(404);
      expect(pretty.headers.get('content-type')).toMatch(/text\/html/);
      const query = await fetch(`${plain.url}/?rest_route=/autonami-app/v3/tags`, {
        headers: admin,
      });
      expect(query.status).toBe(200);
    } finally {
      await plain.close();
    }
  });

  it('allows PUT/PATCH on v3 fields but only POST on the unversioned route', async () => {
    fake.addField(7, 'WP Password');
    const id = fake.addContact({ email: 'jane@example.com' });
    const patch = await sendJson('PATCH', `/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      fields: { '7': 'a' },
    });
    expect(patch.status).toBe(200);
    const put = await sendJson('PUT', `/wp-json/autonami-app/contacts/${id}/fields`, {
      fields: { '7': 'b' },
    });
    expect(put.status).toBe(404);
    expect(jsonAt(put.body, 'code')).toBe('rest_no_route');
    expect(fake.getContact(id)?.fields['7']).toBe('a');
  });
});

describe('GET contacts (search)', () => {
  it('matches substrings of email, first and last name, with paging fields', async () => {
    fake.addContact({ email: 'jane@example.com', f_name: 'Jane' });
    fake.addContact({ email: 'janet@example.com', f_name: 'Janet' });
    fake.addContact({ email: 'bob@example.com', f_name: 'Bob', l_name: 'Janeway' });
    fake.addContact({ email: 'other@example.com' });

    const { body } = await call(
      '/wp-json/autonami-app/v3/contacts?search=jane%40example.com&limit=10&offset=0',
    );
    expect(body).toMatchObject({ result: [{ email: 'jane@example.com' }] });
    expect(body).toMatchObject({ code: 200, limit: 10, offset: 0, total_count: 1 });

    const ambiguous = await call('/wp-json/autonami-app/contacts?search=JANE');
    expect(jsonAt(ambiguous.body, 'total_count')).toBe(3);
    expect(jsonAt(ambiguous.body, 'result')).toHaveLength(3);

    const paged = await call('/wp-json/autonami-app/v3/contacts?search=jane&limit=2&offset=2');
    expect(paged.body).toMatchObject({ limit: 2, offset: 2, total_count: 3 });
    expect(jsonAt(paged.body, 'result')).toHaveLength(1);
  });

  it('returns an empty result (and no total_count) when nothing matches', async () => {
    const { status, body } = await call('/wp-json/autonami-app/v3/contacts?search=nobody');
    expect(status).toBe(200);
    expect(body).toEqual({ code: 200, message: '', result: [], limit: 10, offset: 0 });
  });
});

describe('GET tags', () => {
  it('pages tags with upper-case ID and supports search', async () => {
    const names = ['Customer', 'Lead', 'VIP', 'Customer Plus', 'Newsletter'];
    const ids = names.map((name) => fake.addTag(name));
    expect(fake.addTag('customer')).toBe(ids[0]);

    const first = await call('/wp-json/autonami-app/v3/tags?limit=2&offset=0&search=');
    expect(first.body).toMatchObject({ code: 200, limit: 2, offset: 0, total_count: 5 });
    expect(jsonAt(first.body, 'result')).toEqual([
      {
        ID: ids[0],
        name: 'Customer',
        type: 1,
        created_at: expect.any(String),
        updated_at: null,
        data: null,
      },
      {
        ID: ids[1],
        name: 'Lead',
        type: 1,
        created_at: expect.any(String),
        updated_at: null,
        data: null,
      },
    ]);
    const last = await call('/wp-json/autonami-app/tags?limit=2&offset=4');
    expect(last.body).toMatchObject({ result: [{ name: 'Newsletter' }] });

    const search = await call('/wp-json/autonami-app/v3/tags?search=customer');
    expect(search.body).toMatchObject({
      result: [{ name: 'Customer' }, { name: 'Customer Plus' }],
    });
  });
});

describe('contacts/{id}/fields', () => {
  let id: string;

  beforeEach(() => {
    fake.addField(7, 'WP Password');
    id = fake.addContact({ email: 'jane@example.com', f_name: 'Jane' });
  });

  it('updates fields and answers with the contact', async () => {
    const { status, body } = await sendJson('POST', `/wp-json/autonami-app/contacts/${id}/fields`, {
      fields: { '7': 'Gen3rated!Pass' },
      status: true,
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      code: 200,
      message: 'Contact updated',
      result: { id, fields: { '7': 'Gen3rated!Pass' } },
    });
    expect(fake.getContact(id)?.fields['7']).toBe('Gen3rated!Pass');
  });

  it('reports "Unable to Update fields" with an empty result when nothing changes', async () => {
    fake.setField(id, 7, 'same');
    const unchanged = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      fields: { '7': 'same' },
    });
    expect(unchanged.status).toBe(200);
    expect(unchanged.body).toMatchObject({
      code: 200,
      message: 'Unable to Update fields',
      result: '',
    });

    // Field ids FunnelKit does not know are dropped, so nothing changes either.
    const unknownField = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      fields: { '99': 'x' },
    });
    expect(jsonAt(unknownField.body, 'message')).toBe('Unable to Update fields');
  });

  it('answers empty fields with 400 Required Fields missing', async () => {
    const empty = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      fields: {},
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual({
      code: 400,
      message: 'Required Fields missing',
      data: { status: 400, error_data: [] },
    });

    // WordPress ignores a JSON body sent without the JSON content type.
    const untyped = await call(`/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      method: 'POST',
      body: JSON.stringify({ fields: { '7': 'x' } }),
    });
    expect(untyped.status).toBe(400);
    expect(jsonAt(untyped.body, 'message')).toBe('Required Fields missing');
  });

  it('accepts PHP-style form bodies and sanitizes values like sanitize_text_field', async () => {
    const form = await call(`/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ 'fields[7]': '  pa<b>ss</b>%41word ' }).toString(),
    });
    expect(form.status).toBe(200);
    expect(fake.getContact(id)?.fields['7']).toBe('password');
  });

  it('answers an unknown contact with 404 and rejects a taken email', async () => {
    const missing = await sendJson('POST', '/wp-json/autonami-app/v3/contacts/999/fields', {
      fields: { '7': 'x' },
    });
    expect(missing.status).toBe(404);
    expect(jsonAt(missing.body, 'code')).toBe(404);

    fake.addContact({ email: 'taken@example.com' });
    const taken = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/fields`, {
      fields: { email: 'taken@example.com' },
    });
    expect(taken.status).toBe(400);
    expect(fake.getContact(id)?.email).toBe('jane@example.com');
  });
});

describe('contacts/{id}/tags', () => {
  it('applies tags by id object (WP Fusion) or by name, and removes them by id', async () => {
    const customer = fake.addTag('Customer');
    const id = fake.addContact({ email: 'jane@example.com' });

    const applied = await sendJson('POST', `/wp-json/autonami-app/contacts/${id}/tags`, {
      tags: [{ id: customer }],
    });
    expect(applied.status).toBe(200);
    expect(jsonAt(applied.body, 'message')).toBe('Tag(s) added');
    expect(jsonAt(applied.body, 'result', 'tags_added')).toEqual([
      expect.objectContaining({ ID: customer, name: 'Customer' }),
    ]);

    const byName = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/tags`, {
      tags: 'Customer,Fresh'.split(','),
    });
    expect(jsonAt(byName.body, 'message')).toBe(
      'Some tags are applied already. Applied Tags are: Fresh',
    );
    const fresh = jsonAt(byName.body, 'result', 'tags_added', 0, 'ID') as number;
    expect(fake.getContact(id)?.tags.map((t) => t.ID)).toEqual([customer, fresh]);

    const again = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/tags`, {
      tags: [customer],
    });
    expect(again.body).toMatchObject({ message: 'Provided tags are applied already.', result: '' });

    const removed = await sendJson('DELETE', `/wp-json/autonami-app/contacts/${id}/tags`, {
      tags: [customer],
    });
    expect(removed.status).toBe(200);
    expect(jsonAt(removed.body, 'message')).toBe('Tag removed');
    expect(fake.getContact(id)?.tags.map((t) => t.ID)).toEqual([fresh]);

    const notThere = await sendJson('DELETE', `/wp-json/autonami-app/v3/contacts/${id}/tags`, {
      tags: [customer],
    });
    expect(notThere.status).toBe(500);
    expect(jsonAt(notThere.body, 'message')).toBe('Unable to remove any tag');
  });

  it('reports a malformed JSON body as rest_invalid_json', async () => {
    const id = fake.addContact({ email: 'jane@example.com' });
    const bad = await call(`/wp-json/autonami-app/v3/contacts/${id}/tags`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"tags": [',
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'rest_invalid_json', data: { status: 400 } });
  });

  it('rejects an empty tag list with 400 No Tags provided', async () => {
    const id = fake.addContact({ email: 'jane@example.com' });
    const empty = await sendJson('POST', `/wp-json/autonami-app/v3/contacts/${id}/tags`, {
      tags: [],
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual({
      code: 400,
      message: 'No Tags provided',
      data: { status: 400, error_data: [] },
    });
  });
});

describe('GET groupfields', () => {
  it('lists groups with fields and the address extra_fields', async () => {
    fake.addField(5, 'Username');
    fake.addField(7, 'WP Password', 'Account');
    const { status, body } = await call('/wp-json/autonami-app/v3/groupfields');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      code: 200,
      message: 'Got ALL Groups with Fields',
      total_count: 2,
    });
    const general = jsonAt(body, 'result', 'fields', 0);
    const account = jsonAt(body, 'result', 'fields', 1);
    expect(general).toMatchObject({ id: 0, name: 'General' });
    expect(jsonAt(general, 'fields')).toContainEqual({ id: 'f_name', name: 'First Name' });
    expect(jsonAt(general, 'fields')).toContainEqual({ id: 5, name: 'Username', type: 1 });
    expect(account).toEqual({
      id: 1,
      name: 'Account',
      fields: [{ id: 7, name: 'WP Password', type: 1 }],
    });
    expect(jsonAt(body, 'result', 'extra_fields')).toEqual([{ ID: 11, name: 'Address 1' }]);
    expect(() => fake.addField(11, 'Clash')).toThrow(/already exists/);
  });
});

describe('server behaviour', () => {
  it('honours latencyMs and failNext', async () => {
    const slow = await startFakeFunnelKit({ latencyMs: 100 });
    try {
      const started = Date.now();
      expect(
        (await fetch(`${slow.url}/wp-json/autonami-app/v3/tags`, { headers: admin })).status,
      ).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    } finally {
      await slow.close();
    }

    fake.failNext(
      { kind: 'status', status: 503, body: '<html>Enable JavaScript</html>' },
      1,
      '/tags',
    );
    const failed = await fetch(`${fake.url}/wp-json/autonami-app/v3/tags`, { headers: admin });
    expect(failed.status).toBe(503);
    expect(await failed.text()).toContain('Enable JavaScript');
    expect((await call('/wp-json/autonami-app/v3/tags')).status).toBe(200);

    fake.failNext({ kind: 'timeout' });
    await expect(
      fetch(`${fake.url}/wp-json/autonami-app/v3/tags`, {
        headers: admin,
        signal: AbortSignal.timeout(100),
      }),
    ).rejects.toThrow();
    expect(fake.requests).toHaveLength(3);
  });
});

describe('sendFunnelKitWebhook', () => {
  let receiver: FakeHttpServer;

  beforeEach(async () => {
    receiver = await startFakeHttpServer(() => ({ status: 200, body: { ok: true } }));
  });

  afterEach(async () => {
    await receiver.close();
  });

  const rows = {
    contact_id: '128',
    access_key: 'KEY123',
    wpf_action: 'add',
    send_notification: 'true',
  };

  it('puts every data row in the query string for GET', async () => {
    await sendFunnelKitWebhook(receiver.url, {
      action: 'add',
      accessKey: 'KEY123',
      contactId: 128,
      method: 'GET',
      extra: { send_notification: 'true' },
    });
    const [request] = receiver.requests;
    expect(request?.method).toBe('GET');
    expect(request?.path).toBe('/');
    expect(Object.fromEntries(request?.query ?? [])).toEqual(rows);
    expect(request?.body).toBe('');
  });

  it('form-encodes the rows for POST/PUT with a bare URL', async () => {
    await sendFunnelKitWebhook(receiver.url, {
      action: 'add',
      accessKey: 'KEY123',
      contactId: '128',
      method: 'PUT',
      extra: { send_notification: 'true' },
      path: '/hooks/funnelkit',
    });
    const [request] = receiver.requests;
    expect(request?.method).toBe('PUT');
    expect(request?.path).toBe('/hooks/funnelkit');
    expect([...(request?.query ?? [])]).toEqual([]);
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(request?.body))).toEqual(rows);
  });

  it('sends a JSON object when encoding is json', async () => {
    await sendFunnelKitWebhook(receiver.url, {
      action: 'update',
      accessKey: 'KEY123',
      contactId: 128,
      method: 'POST',
      encoding: 'json',
      extra: { 'meta.role': 'subscriber' },
    });
    const [request] = receiver.requests;
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      contact_id: '128',
      access_key: 'KEY123',
      wpf_action: 'update',
      meta: { role: 'subscriber' },
    });
  });
});
