/**
 * The funnelkit connector against the fake FunnelKit site: the shared
 * contract, then what is particular to FunnelKit (route generations,
 * permalinks, the substring search, WordPress errors and field sanitizing).
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { funnelkitConnector } from '../../src/connectors/funnelkit/index.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import type { CrmConnector } from '../../src/connectors/types.js';
import { AppError } from '../../src/errors.js';
import {
  sendFunnelKitWebhook,
  startFakeFunnelKit,
  type FakeFunnelKit,
  type FakeFunnelKitOptions,
} from '../fakes/funnelkit.fake.js';
import { connectorContract } from './contract.js';

const APP_PASSWORD = 'abcd efgh ijkl mnop qrst uvwx';
const PASSWORD_FIELD = 7;

let fake: FakeFunnelKit;

connectorContract('funnelkit', {
  definition: funnelkitConnector,
  offline: {
    apiUrl: 'http://127.0.0.1:9',
    settings: { username: 'admin', app_password: APP_PASSWORD },
  },
  webhooks: [
    {
      name: 'a GET with the data rows in the query',
      send: (url) =>
        sendFunnelKitWebhook(url, {
          action: 'add',
          accessKey: 'KEY123',
          contactId: 42,
          method: 'GET',
        }),
      expected: { contactId: '42', email: undefined },
    },
    {
      name: 'a form POST with the "Add Contact Details" contact_email row',
      send: (url) =>
        sendFunnelKitWebhook(url, {
          action: 'update',
          accessKey: 'KEY123',
          contactId: 42,
          method: 'POST',
          extra: { contact_email: 'jane@example.com' },
        }),
      expected: { contactId: '42', email: 'jane@example.com' },
    },
    {
      name: 'a JSON PUT',
      send: (url) =>
        sendFunnelKitWebhook(url, {
          action: 'add',
          accessKey: 'KEY123',
          contactId: '42',
          method: 'PUT',
          encoding: 'json',
          extra: { email: 'jane@example.com' },
        }),
      expected: { contactId: '42', email: 'jane@example.com' },
    },
  ],
  async start() {
    fake = await startFakeFunnelKit();
    fake.addField(PASSWORD_FIELD, 'WP Password', 'Account');
    return {
      apiUrl: fake.url,
      settings: { username: 'admin', app_password: APP_PASSWORD },
      badSettings: { username: 'admin', app_password: 'zzzz zzzz zzzz zzzz zzzz zzzz' },
    };
  },
  stop: () => fake.close(),
  seed(contact) {
    const tagIds = contact.tags.map((label) => fake.addTag(label));
    return fake.addContact({
      email: contact.email,
      f_name: contact.firstName,
      l_name: contact.lastName,
      tagIds,
    });
  },
  unknownContactId: '999999',
  writableField: String(PASSWORD_FIELD),
  readField: (id, field) => fake.getContact(id)?.fields[field],
  failNext: (failure, count) => fake.failNext(failure, count),
  // FunnelKit has no limit of its own; hosts and firewalls answer 429 with an HTML page and Retry-After.
  rateLimited: {
    failure: {
      kind: 'status',
      status: 429,
      body: '<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head><body>Slow down</body></html>',
      headers: { 'content-type': 'text/html', 'retry-after': '7' },
    },
    retryAfterMs: 7_000,
  },
});

describe('funnelkit connector specifics', () => {
  const sites: FakeFunnelKit[] = [];
  const site = async (options: FakeFunnelKitOptions = {}) => {
    const started = await startFakeFunnelKit(options);
    sites.push(started);
    return started;
  };
  const connect = (
    target: { url: string },
    settings: Record<string, unknown> = {},
    apiUrl = target.url,
  ): CrmConnector =>
    funnelkitConnector.create(
      {
        id: 'fk',
        apiUrl,
        settings: funnelkitConnector.settingsSchema.parse({
          username: 'admin',
          app_password: APP_PASSWORD,
          ...settings,
        }),
      },
      { http: createHttpClient({ timeoutMs: 2_000 }), clock: systemClock },
    );
  const failure = async (promise: Promise<unknown>): Promise<AppError> => {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  };
  const apiPaths = (target: FakeFunnelKit) =>
    target.requests.map((request) => request.query.get('rest_route') ?? request.path);

  afterEach(async () => {
    for (const started of sites.splice(0)) await started.close();
  });

  it('needs the site URL: create() refuses a connection without one', () => {
    const settings = funnelkitConnector.settingsSchema.parse({
      username: 'admin',
      app_password: APP_PASSWORD,
    });
    const deps = { http: createHttpClient({ timeoutMs: 1_000 }), clock: systemClock };
    expect(() => funnelkitConnector.create({ id: 'fk', apiUrl: null, settings }, deps)).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
    expect(funnelkitConnector.defaultApiUrl).toBeNull();
  });

  it('validates settings: both credentials required, routes and pretty_permalinks read from CLI text', () => {
    const schema = funnelkitConnector.settingsSchema;
    expect(schema.safeParse({ username: 'admin' }).success).toBe(false);
    expect(schema.safeParse({ app_password: APP_PASSWORD }).success).toBe(false);
    expect(schema.parse({ username: 'admin', app_password: APP_PASSWORD })).toMatchObject({
      routes: 'auto',
      pretty_permalinks: true,
    });
    expect(
      schema.parse({
        username: 'admin',
        app_password: APP_PASSWORD,
        pretty_permalinks: 'false',
        routes: 'legacy',
      }),
    ).toMatchObject({
      routes: 'legacy',
      pretty_permalinks: false,
    });
    expect(
      schema.safeParse({ username: 'admin', app_password: APP_PASSWORD, routes: 'v2' }).success,
    ).toBe(false);
    expect(funnelkitConnector.secretSettings).toEqual(['app_password']);
  });

  it('sends HTTP Basic auth with the application password, spaces and all, and accepts a pasted /wp-json suffix', async () => {
    const target = await site();
    const connector = connect(target, {}, `${target.url}/wp-json/autonami-app/`);
    await connector.testConnection();
    const sent = target.requests[0]?.headers.authorization ?? '';
    expect(Buffer.from(sent.replace(/^Basic /, ''), 'base64').toString()).toBe(
      `admin:${APP_PASSWORD}`,
    );
    expect(target.requests[0]?.path).toBe('/wp-json/autonami-app/v3/contacts');
    expect(target.requests[0]?.query.get('limit')).toBe('1');
  });

  it('auto routes: v3 first; falls back to the unversioned routes and remembers them', async () => {
    const target = await site();
    // Simulate a site whose v3 routes are missing (old plugin with Pro): 404 rest_no_route on v3 only.
    const noRoute = {
      code: 'rest_no_route',
      message: 'No route was found matching the URL and request method.',
      data: { status: 404 },
    };
    target.failNext({ kind: 'status', status: 404, body: noRoute }, 1, '/v3/');
    const id = target.addContact({ email: 'fallback@example.com', f_name: 'Fal' });
    const connector = connect(target);
    expect((await connector.loadContact(id)).fields.f_name).toBe('Fal');
    expect(apiPaths(target)).toEqual([
      `/wp-json/autonami-app/v3/contacts/${id}`,
      `/wp-json/autonami-app/contacts/${id}`,
    ]);
    await connector.loadContact(id);
    expect(apiPaths(target).at(-1)).toBe(`/wp-json/autonami-app/contacts/${id}`);
    expect(target.requests).toHaveLength(3);
  });

  it('works with only the v3 routes (Pro inactive), and explains a forced legacy mode there', async () => {
    const target = await site({ proRoutes: false });
    const id = target.addContact({ email: 'lite@example.com', f_name: 'Lite' });
    expect((await connect(target).loadContact(id)).email).toBe('lite@example.com');
    expect(await connect(target, { routes: 'v3' }).findContactByEmail('lite@example.com')).toBe(id);
    const error = await failure(connect(target, { routes: 'legacy' }).loadContact(id));
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/No route was found.*rest_no_route.*Pro/);
  });

  it('routes=legacy calls the unversioned routes only', async () => {
    const target = await site();
    const id = target.addContact({ email: 'pro@example.com' });
    await connect(target, { routes: 'legacy' }).loadContact(id);
    expect(apiPaths(target)).toEqual([`/wp-json/autonami-app/contacts/${id}`]);
  });

  it('reports missing routes on both generations as a configuration problem, not a missing contact', async () => {
    const target = await site();
    const noRoute = {
      code: 'rest_no_route',
      message: 'No route was found matching the URL and request method.',
      data: { status: 404 },
    };
    target.failNext({ kind: 'status', status: 404, body: noRoute }, 2);
    const error = await failure(
      connect(target).loadContact(target.addContact({ email: 'x@example.com' })),
    );
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/is FunnelKit Automations active/);
  });

  it('pretty_permalinks=false uses ?rest_route=, and the default explains plain permalinks', async () => {
    const target = await site({ prettyPermalinks: false });
    const id = target.addContact({ email: 'plain@example.com', f_name: 'Plain' });
    target.addField(PASSWORD_FIELD, 'WP Password');
    const plain = connect(target, { pretty_permalinks: false });
    expect((await plain.loadContact(id)).fields.f_name).toBe('Plain');
    await plain.updateContact(id, { [PASSWORD_FIELD]: 'Plain-Pass-123' });
    expect(target.getContact(id)?.fields[PASSWORD_FIELD]).toBe('Plain-Pass-123');
    expect(target.requests[0]?.path).toBe('/');
    expect(target.requests[0]?.query.get('rest_route')).toBe(`/autonami-app/v3/contacts/${id}`);

    const error = await failure(connect(target).loadContact(id));
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/HTML page.*pretty_permalinks=false/);
  });

  it('finds by e-mail only an exact, case-insensitive match among substring search results', async () => {
    const target = await site();
    const jo = target.addContact({ email: 'jo@example.com', f_name: 'Jo' });
    // Newer contacts come first and both contain the searched text.
    target.addContact({ email: 'banjo@example.com', f_name: 'Banjo' });
    target.addContact({ email: 'other@example.com', f_name: 'jo@example.com' });
    const connector = connect(target);
    expect(await connector.findContactByEmail('JO@example.com')).toBe(jo);
    expect(await connector.findContactByEmail('o@example.com')).toBeNull();
    expect(target.requests.at(-1)?.query.get('search')).toBe('o@example.com');
  });

  it('reads tags by upper-case ID with their names, across pages', async () => {
    const target = await site();
    const ids = Array.from({ length: 230 }, (_, n) => target.addTag(`Tag ${n + 1}`));
    const tags = await connect(target).listTags();
    expect(tags).toHaveLength(230);
    expect(tags.find((tag) => tag.id === String(ids[229]))?.label).toBe('Tag 230');
    expect(target.requests.map((request) => request.query.get('offset'))).toEqual([
      '0',
      '100',
      '200',
    ]);
  });

  it('loads a contact: standard fields, custom fields by id, JSON lists as text, tags with labels', async () => {
    const target = await site();
    target.addField(5, 'Username');
    target.addField(9, 'Interests');
    const vip = target.addTag('VIP');
    const id = target.addContact({
      email: 'Ann@Example.com',
      f_name: 'Ann',
      l_name: 'Lee',
      country: 'US',
      fields: { 5: 'annlee', 9: '["Golf","Chess"]', 11: '1 Main St' },
      tagIds: [vip],
    });
    const contact = await connect(target).loadContact(id);
    expect(contact).toMatchObject({
      id,
      email: 'Ann@Example.com',
      tags: [String(vip)],
      tagLabels: { [String(vip)]: 'VIP' },
    });
    expect(contact.fields).toMatchObject({
      email: 'Ann@Example.com',
      f_name: 'Ann',
      l_name: 'Lee',
      country: 'US',
      5: 'annlee',
      9: 'Golf, Chess',
      11: '1 Main St',
    });
    expect(await connect(target).getContactTags(id)).toEqual([String(vip)]);
  });

  it('lists standard, group and address fields without duplicates', async () => {
    const target = await site();
    target.addField(5, 'Username');
    target.addField(PASSWORD_FIELD, 'WP Password', 'Account');
    const fields = await connect(target).listFields();
    const ids = fields.map((field) => field.id);
    expect(ids.slice(0, 3)).toEqual(['email', 'f_name', 'l_name']);
    expect(fields).toEqual(
      expect.arrayContaining([
        { id: '5', label: 'Username' },
        { id: '7', label: 'WP Password' },
        { id: '11', label: 'Address 1' },
      ]),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('treats "Unable to Update fields" as success only when the value is already stored', async () => {
    const target = await site();
    target.addField(PASSWORD_FIELD, 'WP Password');
    const id = target.addContact({
      email: 'same@example.com',
      fields: { [PASSWORD_FIELD]: 'Already-There-1' },
    });
    const connector = connect(target);
    await expect(
      connector.updateContact(id, { [PASSWORD_FIELD]: 'Already-There-1' }),
    ).resolves.toBeUndefined();
    const unknownField = await failure(connector.updateContact(id, { 4242: 'Lost-Value-9' }));
    expect(unknownField.code).toBe('CRM_REJECTED');
    expect(unknownField.message).toMatch(
      /did not store the value written to field 4242.*Unable to Update fields/,
    );
  });

  it('refuses to report a write that WordPress sanitizing changed, without echoing the value', async () => {
    const target = await site();
    target.addField(PASSWORD_FIELD, 'WP Password');
    const id = target.addContact({ email: 'san@example.com' });
    const error = await failure(
      connect(target).updateContact(id, { [PASSWORD_FIELD]: 'Ab%41cd<b>x</b>' }),
    );
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/field 7.*sanitizing/);
    expect(error.message).not.toContain('Ab%41cd');
  });

  it('maps WordPress auth errors to CRM_AUTH_FAILED with WordPress\u2019s words and without the password', async () => {
    const target = await site();
    const badUser = await failure(connect(target, { username: 'nobody' }).testConnection());
    expect(badUser.code).toBe('CRM_AUTH_FAILED');
    expect(badUser.message).toMatch(/Unknown username.*invalid_username/);
    const badPassword = await failure(
      connect(target, { app_password: 'wxyz wxyz wxyz wxyz wxyz wxyz' }).testConnection(),
    );
    expect(badPassword.message).toMatch(
      /401 The provided password is an invalid application password\. \(incorrect_password\)/,
    );
    expect(badPassword.message).not.toContain('wxyz');

    const forbidden = {
      code: 'rest_forbidden',
      message: 'Sorry, you are not allowed to do that.',
      data: { status: 403 },
    };
    target.failNext({ kind: 'status', status: 403, body: forbidden });
    const notAdmin = await failure(connect(target).testConnection());
    expect(notAdmin.code).toBe('CRM_AUTH_FAILED');
    expect(notAdmin.message).toMatch(/not allowed to do that.*needs access to FunnelKit/);
  });

  it('reads FunnelKit WP_Errors with numeric codes: 404 is a missing contact, 500 is retryable', async () => {
    const target = await site();
    const missing = await failure(connect(target).loadContact('999'));
    expect(missing.code).toBe('CONTACT_NOT_FOUND');
    expect(missing.message).toMatch(/No contact found with given id #999/);
    const id = target.addContact({ email: 'err@example.com' });
    target.failNext({
      kind: 'status',
      status: 500,
      body: {
        code: 500,
        message: 'Call to undefined function bwf()',
        data: { status: 500, error_data: [] },
      },
    });
    const crash = await failure(connect(target).loadContact(id));
    expect(crash.code).toBe('CRM_UNAVAILABLE');
    expect(crash.retryable).toBe(true);
    expect(crash.message).toMatch(/Call to undefined function/);
  });

  it('a non-numeric contact id is a missing contact, without calling the site', async () => {
    const target = await site();
    const error = await failure(connect(target).loadContact('jane@example.com'));
    expect(error.code).toBe('CONTACT_NOT_FOUND');
    expect(target.requests).toHaveLength(0);
  });

  it('reports a Cloudflare challenge page as retryable CRM_UNAVAILABLE with a clear reason', async () => {
    const target = await site();
    const id = target.addContact({ email: 'cf@example.com' });
    target.failNext({
      kind: 'status',
      status: 403,
      body: '<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Enable JavaScript and cookies to continue</body></html>',
      headers: { 'content-type': 'text/html; charset=UTF-8' },
    });
    const error = await failure(connect(target).loadContact(id));
    expect(error.code).toBe('CRM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/HTML page \("Just a moment\.\.\."\).*challenge/);
  });

  it('reads the JSON after PHP notices a site prints before it', async () => {
    const target = await site();
    const id = target.addContact({ email: 'notice@example.com', f_name: 'Noel' });
    const envelope = JSON.stringify({
      code: 200,
      message: '',
      result: target.getContact(id),
      limit: 0,
      offset: 0,
    });
    target.failNext({
      kind: 'status',
      status: 200,
      body: `<br />\n<b>Deprecated</b>:  Creation of dynamic property in <b>/var/www/wp-content/plugins/x.php</b> on line <b>12</b><br />\n${envelope}`,
      headers: { 'content-type': 'application/json; charset=UTF-8' },
    });
    expect((await connect(target).loadContact(id)).fields.f_name).toBe('Noel');
  });

  it('tells maintenance pages and HTTP auth in front of WordPress apart from challenges', async () => {
    const target = await site();
    const id = target.addContact({ email: 'pages@example.com' });
    target.failNext({
      kind: 'status',
      status: 503,
      body: '<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Briefly unavailable for scheduled maintenance.</body></html>',
      headers: { 'content-type': 'text/html', 'retry-after': '600' },
    });
    const maintenance = await failure(connect(target).loadContact(id));
    expect(maintenance).toMatchObject({ code: 'CRM_UNAVAILABLE', retryAfterMs: 600_000 });
    expect(maintenance.message).toMatch(/"Maintenance".*maintenance/);

    target.failNext({
      kind: 'status',
      status: 401,
      body: '<html><head><title>401 Authorization Required</title></head><body></body></html>',
      headers: { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="staging"' },
    });
    const gate = await failure(connect(target).loadContact(id));
    expect(gate.code).toBe('CRM_AUTH_FAILED');
    expect(gate.message).toMatch(/asks for its own login/);
  });

  it('stops paging tags when a site ignores offset and repeats the same page', async () => {
    const target = await site();
    const page = Array.from({ length: 100 }, (_, n) => ({
      ID: n + 1,
      name: `Tag ${n + 1}`,
      type: 1,
      created_at: '',
      updated_at: null,
      data: null,
    }));
    target.failNext(
      {
        kind: 'status',
        status: 200,
        body: { code: 200, message: '', result: page, limit: 100, offset: 0 },
      },
      5,
      '/tags',
    );
    expect(await connect(target).listTags()).toHaveLength(100);
    expect(target.requests).toHaveLength(2);
  });

  it('parses webhooks: contact_id from the merged parameters, e-mail from email or contact_email', () => {
    const connector = connect({ url: 'http://127.0.0.1:9' });
    expect(
      connector.parseWebhook({
        method: 'GET',
        params: { contact_id: ' 128 ', wpf_action: 'add' },
        json: undefined,
      }),
    ).toEqual({
      contactId: '128',
      email: undefined,
    });
    const posted = connector.parseWebhook({
      method: 'POST',
      params: { contact_id: '128', contact_email: 'jane@example.com' },
      json: { contact_id: 128, contact_email: 'jane@example.com' },
    });
    expect(posted).toEqual({ contactId: '128', email: 'jane@example.com' });
    expect(
      connector.parseWebhook({ method: 'POST', params: {}, json: undefined }).contactId,
    ).toBeUndefined();
  });
});
