import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { startFakeHttpServer, type FakeHttpServer } from './fake-http.js';
import {
  decodeContactCat,
  ONTRAPORT_SAMPLE_CONTACT_ID,
  sendOntraportWebhook,
  startFakeOntraport,
  type FakeOntraport,
  type FakeOntraportOptions,
} from './ontraport.fake.js';

interface Envelope<T> {
  code: number;
  data: T;
  account_id: number;
  misc?: unknown[];
}

const servers: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: FakeOntraportOptions = {}): Promise<FakeOntraport> {
  const fake = await startFakeOntraport(options);
  servers.push(fake);
  return fake;
}

const auth = (fake: FakeOntraport): Record<string, string> => ({
  'Api-Appid': fake.appId,
  'Api-Key': fake.apiKey,
});

function call(
  fake: FakeOntraport,
  method: string,
  pathAndQuery: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(`${fake.apiUrl}${pathAndQuery}`, {
    method,
    headers: { ...auth(fake), ...headers },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('fake Ontraport: auth', () => {
  it('refuses a request without keys, with one key only, or with a wrong key', async () => {
    const fake = await start();
    const path = `/object?objectID=0&id=${ONTRAPORT_SAMPLE_CONTACT_ID}`;
    const none = await fetch(`${fake.apiUrl}${path}`);
    const appIdOnly = await fetch(`${fake.apiUrl}${path}`, {
      headers: { 'Api-Appid': fake.appId },
    });
    const wrongKey = await fetch(`${fake.apiUrl}${path}`, {
      headers: { 'Api-Appid': fake.appId, 'Api-Key': 'nope' },
    });
    for (const res of [none, appIdOnly, wrongKey]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toMatch(/Api-Key/);
    }
  });

  it('accepts header names in any case, like the PHP SDK’s Api-key', async () => {
    const fake = await start();
    const res = await fetch(`${fake.apiUrl}/object?objectID=0&id=${ONTRAPORT_SAMPLE_CONTACT_ID}`, {
      headers: { 'api-appid': fake.appId, 'Api-key': fake.apiKey },
    });
    expect(res.status).toBe(200);
  });
});

describe('fake Ontraport: contacts', () => {
  it('returns the full contact as strings in the envelope, on both paths', async () => {
    const fake = await start({ accountId: 4242 });
    const byObject = await call(
      fake,
      'GET',
      `/object?objectID=0&id=${ONTRAPORT_SAMPLE_CONTACT_ID}`,
    );
    const byAlias = await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`);
    expect(byObject.status).toBe(200);
    const body = (await byObject.json()) as Envelope<Record<string, unknown>>;
    expect(body.code).toBe(0);
    expect(body.account_id).toBe(4242);
    expect(body.data).toMatchObject({
      id: '4711',
      firstname: 'Jane',
      lastname: 'Doe',
      email: 'jane@example.com',
      contact_cat: '*/*3*/*7*/*',
      f1585: 'jane_d',
      f1586: '',
      f1601: '2',
      bulk_mail: '1',
    });
    for (const value of Object.values(body.data)) expect(typeof value).toBe('string');
    expect(await byAlias.json()).toEqual(body);
  });

  it('answers an unknown id with 404 and the plain text WP Fusion looks for', async () => {
    const fake = await start();
    const res = await call(fake, 'GET', '/object?objectID=0&id=999999');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('Object not found');
  });

  it('requires objectID on /object but not on the /Contact alias', async () => {
    const fake = await start();
    expect((await call(fake, 'GET', `/object?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`)).status).toBe(400);
    expect((await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`)).status).toBe(
      200,
    );
  });

  it('finds a contact by email, ignoring case', async () => {
    const fake = await start();
    const res = await call(
      fake,
      'GET',
      `/object/getByEmail?objectID=0&email=${encodeURIComponent('JANE@example.com')}`,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ code: 0, data: { id: '4711' }, account_id: 187157 });
  });

  it('answers an unknown email with 404, the legacy 400, or an empty data envelope as configured', async () => {
    const path = `/object/getByEmail?objectID=0&email=${encodeURIComponent('nobody@example.com')}`;
    const current = await start();
    const legacy = await start({ notFoundStatus: 400 });
    const empty = await start({ notFoundStatus: 200 });
    const res404 = await call(current, 'GET', path);
    const res400 = await call(legacy, 'GET', path);
    const res200 = await call(empty, 'GET', path);
    expect(res404.status).toBe(404);
    expect(await res404.text()).toBe('Object not found');
    expect(res400.status).toBe(400);
    expect(await res400.text()).toBe('Object not found');
    expect(res200.status).toBe(200);
    expect(((await res200.json()) as Envelope<unknown>).data).toEqual([]);
  });

  it('gives added contacts string ids that follow the highest one', async () => {
    const fake = await start();
    const first = fake.addContact({ email: 'a@example.com' });
    const second = fake.addContact({ email: 'b@example.com', firstname: 'Bee' });
    expect(first).toBe('4712');
    expect(second).toBe('4713');
    const stored = fake.getContact(second);
    expect(stored).toMatchObject({ id: '4713', firstname: 'Bee', contact_cat: '', f1586: '' });
    const res = await call(fake, 'GET', `/object?objectID=0&id=${second}`);
    expect(((await res.json()) as Envelope<Record<string, string>>).data.email).toBe(
      'b@example.com',
    );
  });
});

describe('fake Ontraport: tags', () => {
  it('pages the tag list by 50 and includes tags of other object types', async () => {
    const fake = await start();
    for (let i = 0; i < 60; i += 1) fake.addTag(`Tag ${i}`);
    const page1 = (await (
      await call(fake, 'GET', '/objects?objectID=14&start=0')
    ).json()) as Envelope<Array<Record<string, string>>>;
    const page2 = (await (
      await call(fake, 'GET', '/objects?objectID=14&start=50&range=500')
    ).json()) as Envelope<Array<Record<string, string>>>;
    expect(page1.misc).toEqual([]);
    expect(page1.data).toHaveLength(50);
    expect(page2.data).toHaveLength(64 - 50);
    const all = [...page1.data, ...page2.data];
    expect(new Set(all.map((t) => t.tag_id)).size).toBe(64);
    expect(all.find((t) => t.tag_id === '3')).toEqual({
      tag_id: '3',
      tag_name: 'Customer',
      group_id: '0',
      object_type_id: '0',
    });
    expect(all.some((t) => t.object_type_id !== '0')).toBe(true);
  });

  it('encodes setTags in contact_cat and applies PUT/DELETE /objects/tag', async () => {
    const fake = await start();
    const id = fake.addContact({ email: 't@example.com' });
    fake.setTags(id, ['3']);
    expect(fake.getContact(id)?.contact_cat).toBe('*/*3*/*');

    const added = await call(fake, 'PUT', '/objects/tag', {
      objectID: 0,
      ids: id,
      add_list: '7,12',
    });
    expect(added.status).toBe(200);
    expect(((await added.json()) as Envelope<unknown>).data).toBe(
      'The tag is now being processed.',
    );
    expect(decodeContactCat(fake.getContact(id)?.contact_cat ?? '')).toEqual(['3', '7', '12']);

    const removed = await call(fake, 'DELETE', '/objects/tag', {
      objectID: 0,
      ids: id,
      remove_list: '3',
    });
    expect(removed.status).toBe(200);
    expect(fake.getContact(id)?.contact_cat).toBe('*/*7*/*12*/*');
  });
});

describe('fake Ontraport: updates', () => {
  it('updates fields from a JSON body and returns only the changed ones with dlm and id', async () => {
    const fake = await start();
    // fetch labels this JSON text/plain, like WP Fusion's JSON without a proper Content-Type; it must still be read.
    const res = await call(fake, 'PUT', '/objects', {
      objectID: 0,
      id: ONTRAPORT_SAMPLE_CONTACT_ID,
      f1586: 'Gen3rated!Pass',
      firstname: 'Jane',
      not_a_field: 'ignored',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Envelope<{ attrs: Record<string, string> }>;
    expect(Object.keys(body.data.attrs).sort()).toEqual(['dlm', 'f1586', 'id']);
    expect(body.data.attrs).toMatchObject({ f1586: 'Gen3rated!Pass', id: '4711' });
    expect(body.data.attrs.dlm).toMatch(/^\d+$/);
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)?.f1586).toBe('Gen3rated!Pass');
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)?.not_a_field).toBeUndefined();
  });

  it('accepts a form-encoded body', async () => {
    const fake = await start();
    const form = new URLSearchParams({
      objectID: '0',
      id: ONTRAPORT_SAMPLE_CONTACT_ID,
      lastname: 'Roe',
    }).toString();
    const res = await call(fake, 'PUT', '/objects', form, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(200);
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)?.lastname).toBe('Roe');
  });

  it('applies a background_request update without promising attrs in the answer', async () => {
    const fake = await start();
    const res = await call(fake, 'PUT', '/objects', {
      objectID: 0,
      id: ONTRAPORT_SAMPLE_CONTACT_ID,
      f1586: 'Bg!Pass1',
      background_request: true,
      use_utm_names: true,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Envelope<unknown>;
    expect(body.code).toBe(0);
    expect(typeof body.data).toBe('string');
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)?.f1586).toBe('Bg!Pass1');
  });

  it('refuses an invalid email with 422 and leaves the contact unchanged', async () => {
    const fake = await start();
    const res = await call(fake, 'PUT', '/objects', {
      objectID: 0,
      id: ONTRAPORT_SAMPLE_CONTACT_ID,
      email: 'not-an-email',
      firstname: 'Changed',
    });
    expect(res.status).toBe(422);
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)).toMatchObject({
      email: 'jane@example.com',
      firstname: 'Jane',
    });
  });

  it('answers an update of an unknown contact with 404 Object not found', async () => {
    const fake = await start();
    const res = await call(fake, 'PUT', '/objects', { objectID: 0, id: '5', f1586: 'x' });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('Object not found');
  });
});

describe('fake Ontraport: field meta', () => {
  it('describes fields by id, with dropdown options and added fields', async () => {
    const fake = await start();
    fake.addField('f1700', 'WP Login', 'text');
    const res = await call(fake, 'GET', '/objects/meta?format=byId&objectID=0');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Envelope<
      Record<string, { name: string; fields: Record<string, Record<string, unknown>> }>
    >;
    const contact = body.data['0'];
    expect(contact?.name).toBe('Contact');
    expect(contact?.fields.f1601).toEqual({
      alias: 'Plan',
      type: 'drop',
      required: '0',
      unique: '0',
      editable: '1',
      deletable: '1',
      options: { '1': 'Basic', '2': 'Pro' },
    });
    expect(contact?.fields.f1700).toMatchObject({ alias: 'WP Login', type: 'text' });
    expect(fake.getContact(ONTRAPORT_SAMPLE_CONTACT_ID)?.f1700).toBe('');
  });
});

describe('fake Ontraport: rate limit', () => {
  it('counts down X-Rate-Limit-* and answers 429 with the configured limit in the text', async () => {
    const fake = await start({ rateLimit: { limit: 3, windowMs: 60_000 } });
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-rate-limit-limit')).toBe('3');
      remaining.push(res.headers.get('x-rate-limit-remaining'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const limited = await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeLessThanOrEqual(60);
    expect(await limited.text()).toMatch(/3 requests per minute/);
  });

  it('frees the window after windowMs', async () => {
    const fake = await start({ rateLimit: { limit: 1, windowMs: 150 } });
    expect((await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`)).status).toBe(
      200,
    );
    expect((await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`)).status).toBe(
      429,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await call(fake, 'GET', `/Contact?id=${ONTRAPORT_SAMPLE_CONTACT_ID}`)).status).toBe(
      200,
    );
  });
});

describe('fake Ontraport: base behaviour', () => {
  it('honours latencyMs from the options and when set later', async () => {
    const fake = await start({ latencyMs: 120 });
    expect(fake.latencyMs).toBe(120);
    let began = Date.now();
    await call(fake, 'GET', '/objects/meta?format=byId&objectID=0');
    expect(Date.now() - began).toBeGreaterThanOrEqual(110);
    fake.latencyMs = 0;
    began = Date.now();
    await call(fake, 'GET', '/objects/meta?format=byId&objectID=0');
    expect(Date.now() - began).toBeLessThan(110);
  });

  it('honours failNext, records requests and reports inFlight', async () => {
    const fake = await start({ latencyMs: 50 });
    fake.failNext({ kind: 'status', status: 503, body: 'down' }, 1, '/objects/meta');
    const pending = call(fake, 'GET', '/objects/meta?format=byId&objectID=0');
    await waitFor('the request to reach the fake', () => fake.inFlight > 0);
    expect(fake.inFlight).toBe(1);
    const failed = await pending;
    expect(failed.status).toBe(503);
    expect(await failed.text()).toBe('down');
    const ok = await call(fake, 'GET', '/objects/meta?format=byId&objectID=0');
    expect(ok.status).toBe(200);
    expect(fake.requests.map((r) => r.path)).toEqual(['/1/objects/meta', '/1/objects/meta']);
    expect(fake.requests[0]?.query.get('format')).toBe('byId');
    expect(fake.maxRequestsInWindow(60_000)).toBe(2);
  });
});

describe('sendOntraportWebhook', () => {
  let receiver: FakeHttpServer;

  async function startReceiver(): Promise<FakeHttpServer> {
    receiver = await startFakeHttpServer(() => ({ status: 200, body: 'ok' }));
    servers.push(receiver);
    return receiver;
  }

  it('POSTs like a Ping URL: ids in the query, form content type, empty body', async () => {
    await startReceiver();
    const res = await sendOntraportWebhook(receiver.url, {
      action: 'update',
      accessKey: 'KEY123',
      contactId: '4711',
    });
    expect(res.status).toBe(200);
    const [req] = receiver.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/');
    expect(req && Object.fromEntries(req.query)).toEqual({
      wpf_action: 'update',
      access_key: 'KEY123',
      contact_id: '4711',
    });
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req?.body).toBe('');
  });

  it('sends post data form-encoded, extra query params, and a custom path', async () => {
    await startReceiver();
    await sendOntraportWebhook(receiver.url, {
      action: 'add',
      accessKey: 'KEY123',
      contactId: '12',
      path: '/hooks/ontraport',
      postData: { email: 'jane@example.com' },
      query: { send_notification: 'true', role: 'customer' },
    });
    const [req] = receiver.requests;
    expect(req?.path).toBe('/hooks/ontraport');
    expect(req?.query.get('send_notification')).toBe('true');
    expect(req?.query.get('role')).toBe('customer');
    expect(req?.query.get('contact_id')).toBe('12');
    expect(Object.fromEntries(new URLSearchParams(req?.body ?? ''))).toEqual({
      email: 'jane@example.com',
    });
  });

  it('has a GET variant that carries everything in the query', async () => {
    await startReceiver();
    await sendOntraportWebhook(receiver.url, {
      action: 'update_tags',
      accessKey: 'KEY123',
      contactId: '7',
      method: 'GET',
      postData: { email: 'x@example.com' },
    });
    const [req] = receiver.requests;
    expect(req?.method).toBe('GET');
    expect(req?.body).toBe('');
    expect(req && Object.fromEntries(req.query)).toEqual({
      wpf_action: 'update_tags',
      access_key: 'KEY123',
      contact_id: '7',
      email: 'x@example.com',
    });
  });
});
