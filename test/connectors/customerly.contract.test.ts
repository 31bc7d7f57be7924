import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { customerlyConnector } from '../../src/connectors/customerly/index.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import type { CrmConnector } from '../../src/connectors/types.js';
import { AppError } from '../../src/errors.js';
import { isJsonScalar } from '../../src/lib/json.js';
import {
  CUSTOMERLY_MESSAGES,
  sendCustomerlyWebhook,
  startFakeCustomerly,
  type FakeCustomerly,
} from '../fakes/customerly.fake.js';
import { connectorContract } from './contract.js';

const TOKEN = 'contract-token';
let fake: FakeCustomerly;

connectorContract('customerly', {
  definition: customerlyConnector,
  offline: { apiUrl: customerlyConnector.defaultApiUrl, settings: { access_token: 't' } },
  webhooks: [
    {
      name: 'a user_tagged event, the e-mail at data.user.data.email',
      send: (url) =>
        sendCustomerlyWebhook(url, {
          action: 'update_tags',
          accessKey: 'KEY123',
          email: 'jane@example.com',
          name: 'Jane Doe',
          tags: ['vip'],
        }),
      expected: { contactId: 'jane@example.com', email: 'jane@example.com' },
    },
    {
      name: 'a hand-edited URL with contact_id in the query',
      send: (url) =>
        sendCustomerlyWebhook(url, {
          action: 'add',
          accessKey: 'KEY123',
          email: 'jane@example.com',
          contactIdInQuery: true,
        }),
      expected: { contactId: 'jane@example.com', email: 'jane@example.com' },
    },
  ],
  async start() {
    fake = await startFakeCustomerly({ accessToken: TOKEN });
    return {
      apiUrl: fake.apiUrl,
      settings: { access_token: TOKEN },
      badSettings: { access_token: 'wrong' },
    };
  },
  stop: () => fake.close(),
  seed(contact) {
    // The Return Password attribute exists on the user, as an admin creates it in Customerly.
    fake.addUser({
      email: contact.email,
      name: `${contact.firstName} ${contact.lastName}`,
      tags: contact.tags,
      attributes: { wp_password: '' },
    });
    return contact.email;
  },
  unknownContactId: 'nobody.contract@example.com',
  writableField: 'wp_password',
  readField: (email, field) => {
    const value = fake.getUser(email)?.attributes[field];
    if (value === undefined) return undefined;
    return isJsonScalar(value) ? String(value) : JSON.stringify(value);
  },
  failNext: (failure, count) => fake.failNext(failure, count),
  // Customerly documents no rate-limit header; one set by a proxy in front of it is honoured.
  rateLimited: {
    failure: {
      kind: 'status',
      status: 429,
      body: { error: { message: CUSTOMERLY_MESSAGES.rateLimited, code: 0 } },
      headers: { 'retry-after': '7' },
    },
    retryAfterMs: 7_000,
  },
});

describe('customerly connector specifics', () => {
  let crm: FakeCustomerly;
  let connector: CrmConnector;
  const make = (token: string, apiUrl = crm.apiUrl) =>
    customerlyConnector.create(
      {
        id: 'customerly',
        apiUrl,
        settings: customerlyConnector.settingsSchema.parse({ access_token: token }),
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

  beforeAll(async () => {
    crm = await startFakeCustomerly({ accessToken: TOKEN });
    connector = make(TOKEN);
    crm.addUser({
      email: 'mary@example.com',
      name: 'Mary Ann Smith',
      user_id: '42',
      tags: ['customer'],
      attributes: { plan: 'pro', name: 'nickname', visits: 3 },
    });
  });
  afterAll(() => crm.close());

  it('splits the single name, and exposes user_id and attributes under the ids it writes back to', async () => {
    const contact = await connector.loadContact('mary@example.com');
    expect(contact.fields).toEqual({
      email: 'mary@example.com',
      name: 'Mary Ann Smith',
      first_name: 'Mary',
      last_name: 'Ann Smith',
      user_id: '42',
      plan: 'pro',
      visits: '3',
      // An attribute that shares a built-in name keeps its prefix.
      'attributes.name': 'nickname',
    });
    expect(contact.tags).toEqual(['customer']);
    const fields = (await connector.listFields()).map((field) => field.id);
    expect(fields).toEqual(
      expect.arrayContaining([
        'email',
        'name',
        'user_id',
        'first_name',
        'last_name',
        'plan',
        'visits',
        'attributes.name',
      ]),
    );
  });

  it('writes built-ins at user level, the rest under attributes, and recomposes the name from one half', async () => {
    // A user of its own: the other tests read Mary as she was added.
    crm.addUser({
      email: 'molly@example.com',
      name: 'Molly Ann Smith',
      user_id: '52',
      attributes: { plan: 'pro', name: 'nickname', visits: 3 },
    });
    await connector.updateContact('molly@example.com', {
      plan: 'gold',
      'attributes.name': 'M',
      user_id: '43',
      last_name: 'Jones',
    });
    const user = crm.getUser('molly@example.com');
    expect(user).toMatchObject({
      name: 'Molly Jones',
      user_id: '43',
      attributes: { plan: 'gold', name: 'M', visits: 3 },
    });
    const post = crm.requests.filter((request) => request.method === 'POST').at(-1);
    const sent = JSON.parse(post?.body ?? '{}') as { users: Array<Record<string, unknown>> };
    expect(sent.users[0]).toMatchObject({
      email: 'molly@example.com',
      user_id: '43',
      attributes: { plan: 'gold', name: 'M' },
    });
  });

  it('reports a user Customerly lists in not_added as rejected, without echoing the values sent', async () => {
    const error = await failure(
      connector.updateContact('not-an-email', { wp_password: 'Secret-Value-1' }),
    );
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/not_added/);
    expect(error.message).not.toContain('Secret-Value-1');
  });

  it('refuses to change the e-mail, which is the key of the upsert', async () => {
    expect(
      (await failure(connector.updateContact('mary@example.com', { email: 'other@example.com' })))
        .code,
    ).toBe('CRM_REJECTED');
    expect(crm.getUser('other@example.com')).toBeUndefined();
  });

  it('reads a bad token answered with 500 as a permanent auth failure, whatever message Customerly uses', async () => {
    const bad = make('wrong');
    const error = await failure(bad.loadContact('mary@example.com'));
    expect(error).toMatchObject({ code: 'CRM_AUTH_FAILED', retryable: false });
    expect(error.message).toContain('Access token not found.');
    expect(error.message).not.toContain('wrong');

    crm.failNext({
      kind: 'status',
      status: 500,
      body: {
        error: {
          message: 'You must provide a valid header Authorization: Bearer <TOKEN>',
          code: 0,
        },
      },
    });
    expect((await failure(connector.listTags())).code).toBe('CRM_AUTH_FAILED');
    // A 500 without that message is an outage: retryable.
    crm.failNext({
      kind: 'status',
      status: 500,
      body: { error: { message: 'Internal Server Error', code: 0 } },
    });
    expect(await failure(connector.listTags())).toMatchObject({
      code: 'CRM_UNAVAILABLE',
      retryable: true,
    });
  });

  it('reads a bad token answered with 401 as an auth failure too', async () => {
    const strict = await startFakeCustomerly({ accessToken: TOKEN, badTokenStatus: 401 });
    try {
      expect((await failure(make('wrong', strict.apiUrl).testConnection())).code).toBe(
        'CRM_AUTH_FAILED',
      );
    } finally {
      await strict.close();
    }
  });

  it('takes "User doesn\u2019t exist" as not found even with status 200, and leaves a header-less 429 to the backoff', async () => {
    crm.failNext({
      kind: 'status',
      status: 200,
      body: { error: { message: "User doesn't exist", code: 0 } },
    });
    expect((await failure(connector.loadContact('mary@example.com'))).code).toBe(
      'CONTACT_NOT_FOUND',
    );
    crm.failNext({
      kind: 'status',
      status: 429,
      body: { error: { message: CUSTOMERLY_MESSAGES.rateLimited, code: 0 } },
    });
    const limited = await failure(connector.loadContact('mary@example.com'));
    expect(limited).toMatchObject({
      code: 'CRM_RATE_LIMITED',
      retryable: true,
      retryAfterMs: undefined,
    });
    expect(limited.message).toContain('Too Many Requests');
  });

  it('points at the API URL when the path does not exist', async () => {
    const error = await failure(make(TOKEN, crm.url).testConnection());
    expect(error.code).toBe('CRM_REJECTED');
    expect(error.message).toMatch(/API URL/);
  });
});

describe('customerly webhooks', () => {
  const connector = customerlyConnector.create(
    { id: 'customerly', apiUrl: 'http://127.0.0.1:9/v1', settings: { access_token: 't' } },
    { http: createHttpClient({ timeoutMs: 100 }), clock: systemClock },
  );
  const parse: CrmConnector['parseWebhook'] = (input) => connector.parseWebhook(input);
  const body = (user: Record<string, unknown>) => ({
    type: 'user_tagged',
    data: { user: { data: user } },
  });

  it('takes the contact id from data.user.data.email and carries the tags as a snapshot', () => {
    const parsed = parse({
      method: 'POST',
      params: {},
      json: body({
        email: ' jane@example.com ',
        name: 'Jane Doe',
        user_id: '42',
        tags: ['customer', 'vip'],
      }),
    });
    expect(parsed).toEqual({
      contactId: 'jane@example.com',
      email: 'jane@example.com',
      contact: {
        id: 'jane@example.com',
        email: 'jane@example.com',
        fields: {
          email: 'jane@example.com',
          name: 'Jane Doe',
          first_name: 'Jane',
          last_name: 'Doe',
          user_id: '42',
        },
        tags: ['customer', 'vip'],
        tagLabels: { customer: 'customer', vip: 'vip' },
      },
    });
  });

  it('prefers a contact_id parameter verbatim, and sends no snapshot without tags', () => {
    const parsed = parse({
      method: 'POST',
      params: { contact_id: 'Jane@Example.com' },
      json: body({ email: 'jane@example.com' }),
    });
    expect(parsed).toEqual({
      contactId: 'Jane@Example.com',
      email: 'jane@example.com',
      contact: undefined,
    });
  });

  it('finds no contact in a body without a valid e-mail', () => {
    expect(
      parse({ method: 'POST', params: {}, json: body({ email: 'not an email' }) }).contactId,
    ).toBeUndefined();
    expect(parse({ method: 'POST', params: {}, json: { data: {} } }).contactId).toBeUndefined();
    expect(parse({ method: 'GET', params: {}, json: undefined }).contactId).toBeUndefined();
  });
});
