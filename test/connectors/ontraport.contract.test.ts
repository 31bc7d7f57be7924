import { describe, expect, it } from 'vitest';
import { ontraportConnector } from '../../src/connectors/ontraport/index.js';
import { systemClock } from '../../src/clock.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import {
  sendOntraportWebhook,
  startFakeOntraport,
  type FakeOntraport,
  type FakeOntraportOptions,
} from '../fakes/ontraport.fake.js';
import { connectorContract } from './contract.js';

let fake: FakeOntraport;

// The fake's sample account has Customer (3), WP User (7) and VIP (12); anything else is created once.
const known = new Map<string, string>([
  ['Customer', '3'],
  ['WP User', '7'],
  ['VIP', '12'],
]);
const tagIdFor = (label: string): string => {
  const id = known.get(label) ?? fake.addTag(label);
  known.set(label, id);
  return id;
};

connectorContract('ontraport', {
  definition: ontraportConnector,
  offline: { apiUrl: ontraportConnector.defaultApiUrl, settings: { app_id: 'a', api_key: 'k' } },
  webhooks: [
    {
      name: 'a Ping URL POST: the id merged into the query, an empty form body',
      send: (url) =>
        sendOntraportWebhook(url, { action: 'add', accessKey: 'KEY123', contactId: '4711' }),
      expected: { contactId: '4711', email: undefined },
    },
    {
      name: 'a rule whose post data carries the e-mail',
      send: (url) =>
        sendOntraportWebhook(url, {
          action: 'update',
          accessKey: 'KEY123',
          contactId: '4711',
          postData: { email: 'jane@example.com' },
        }),
      expected: { contactId: '4711', email: 'jane@example.com' },
    },
    {
      name: 'a GET with an unfilled [Email] merge field',
      send: (url) =>
        sendOntraportWebhook(url, {
          action: 'add',
          accessKey: 'KEY123',
          contactId: '4711',
          method: 'GET',
          postData: { email: '[Email]' },
        }),
      expected: { contactId: '4711', email: undefined },
    },
  ],
  async start() {
    // The contract drives the client directly, without the service's rate limiter,
    // so the fake's 180-a-minute limit (tested in ontraport.fake.test.ts) would make
    // the outcome depend on how many calls the shuffled tests made before.
    fake = await startFakeOntraport({ rateLimit: { limit: 100_000, windowMs: 60_000 } });
    return {
      apiUrl: fake.apiUrl,
      settings: { app_id: fake.appId, api_key: fake.apiKey },
      badSettings: { app_id: fake.appId, api_key: 'revoked-key' },
    };
  },
  stop: () => fake.close(),
  seed(contact) {
    const id = fake.addContact({
      email: contact.email,
      firstname: contact.firstName,
      lastname: contact.lastName,
    });
    fake.setTags(id, contact.tags.map(tagIdFor));
    return id;
  },
  unknownContactId: '999999',
  writableField: 'f1586',
  readField: (id, field) => fake.getContact(id)?.[field],
  failNext: (failure, count) => fake.failNext(failure, count),
  // Ontraport's own 429: plain text, the wait only in X-Rate-Limit-Reset (seconds).
  rateLimited: {
    failure: {
      kind: 'status',
      status: 429,
      body: 'You have exceeded the maximum rate limit of 180 requests per minute. Please wait and try again.',
      headers: {
        'content-type': 'text/plain',
        'x-rate-limit-limit': '180',
        'x-rate-limit-remaining': '0',
        'x-rate-limit-reset': '7',
      },
    },
    retryAfterMs: 7_000,
  },
});

/** Ontraport's quirks the shared contract does not cover. */
describe('ontraport connector specifics', () => {
  const connect = async (
    options: FakeOntraportOptions = {},
    settings: Record<string, unknown> = {},
  ) => {
    const crm = await startFakeOntraport(options);
    const parsed = ontraportConnector.settingsSchema.parse({
      app_id: crm.appId,
      api_key: crm.apiKey,
      ...settings,
    });
    const connector = ontraportConnector.create(
      { id: 'op', apiUrl: crm.apiUrl, settings: parsed },
      { http: createHttpClient({ timeoutMs: 2_000 }), clock: systemClock },
    );
    return { crm, connector };
  };

  it('sends both auth headers and reads every field as text, tags from contact_cat', async () => {
    const { crm, connector } = await connect();
    try {
      const contact = await connector.loadContact('4711');
      expect(contact).toMatchObject({ id: '4711', email: 'jane@example.com', tags: ['3', '7'] });
      expect(contact.fields).toMatchObject({
        firstname: 'Jane',
        lastname: 'Doe',
        f1585: 'jane_d',
        unique_id: 'AB12CD3',
      });
      const load = crm.requests.find((request) => request.path === '/1/object');
      expect(load?.query.get('objectID')).toBe('0');
      expect(load?.headers['api-appid']).toBe(crm.appId);
      expect(load?.headers['api-key']).toBe(crm.apiKey);
    } finally {
      await crm.close();
    }
  });

  it('reads the empty forms of contact_cat as no tags', async () => {
    const { crm, connector } = await connect();
    try {
      const blank = crm.addContact({ email: 'blank@example.com', contact_cat: '' });
      const slashes = crm.addContact({ email: 'slashes@example.com', contact_cat: '*/*' });
      expect((await connector.loadContact(blank)).tags).toEqual([]);
      expect(await connector.getContactTags(slashes)).toEqual([]);
    } finally {
      await crm.close();
    }
  });

  it('shows dropdown and multi-select values by their labels, unless told not to', async () => {
    const { crm, connector } = await connect();
    const raw = await connect({}, { dropdown_labels: 'false' });
    try {
      const id = crm.addContact({ email: 'opts@example.com', f1601: '1', f1602: '*/*1*/*2*/*' });
      expect((await connector.loadContact(id)).fields).toMatchObject({
        f1601: 'Basic',
        f1602: 'News, Offers',
      });
      // The sample contact's plan is option 2.
      expect((await raw.connector.loadContact('4711')).fields.f1601).toBe('2');
      expect(raw.crm.requests.some((request) => request.path === '/1/objects/meta')).toBe(false);
    } finally {
      await crm.close();
      await raw.crm.close();
    }
  });

  it('reads a 400 "Object not found" (older accounts) as an unknown contact, and any other 400 as a rejection', async () => {
    // Without dropdown labels the contact load is the only request, so the injected answer meets it.
    const { crm, connector } = await connect({}, { dropdown_labels: false });
    try {
      crm.failNext({ kind: 'status', status: 400, body: 'Object not found' }, 1, '/1/object');
      await expect(connector.loadContact('4711')).rejects.toMatchObject({
        code: 'CONTACT_NOT_FOUND',
        retryable: false,
      });
      crm.failNext({ kind: 'status', status: 400, body: 'Invalid id parameter' }, 1, '/1/object');
      await expect(connector.loadContact('4711')).rejects.toMatchObject({
        code: 'CRM_REJECTED',
        message: /Invalid id parameter/,
      });
    } finally {
      await crm.close();
    }
  });

  it('treats every "no such e-mail" answer of getByEmail as null: 404, legacy 400, and empty data', async () => {
    for (const notFoundStatus of [404, 400, 200] as const) {
      const { crm, connector } = await connect({ notFoundStatus });
      try {
        expect(await connector.findContactByEmail('ghost@example.com')).toBeNull();
        expect(await connector.findContactByEmail('JANE@example.com')).toBe('4711');
      } finally {
        await crm.close();
      }
    }
  });

  it('lists only contact tags, across pages of 50', async () => {
    const { crm, connector } = await connect();
    try {
      for (let i = 0; i < 120; i += 1) crm.addTag(`Bulk ${i}`);
      const tags = await connector.listTags();
      expect(tags).toHaveLength(123);
      expect(tags.map((tag) => tag.label)).not.toContain('Partner Lead');
      expect(tags).toContainEqual({ id: '3', label: 'Customer' });
      const pages = crm.requests
        .filter((request) => request.path === '/1/objects')
        .map((request) => request.query.get('start'));
      expect(pages).toEqual(['0', '50', '100']);
    } finally {
      await crm.close();
    }
  });

  it('lists fields by key with their alias as label', async () => {
    const { crm, connector } = await connect();
    try {
      const fields = await connector.listFields();
      expect(fields).toContainEqual({ id: 'f1586', label: 'WP Password', type: 'text' });
      expect(fields).toContainEqual({ id: 'firstname', label: 'First Name', type: 'text' });
    } finally {
      await crm.close();
    }
  });

  it('updates in background mode, where the answer carries no attrs, and reads a 422 as a rejection', async () => {
    const { crm, connector } = await connect();
    try {
      await connector.updateContact('4711', { f1586: 'Gen3rated-Pass' });
      const put = crm.requests.find((request) => request.method === 'PUT');
      expect(JSON.parse(put?.body ?? '{}')).toEqual({
        objectID: 0,
        id: '4711',
        f1586: 'Gen3rated-Pass',
        background_request: true,
      });
      expect(crm.getContact('4711')?.f1586).toBe('Gen3rated-Pass');
      await expect(
        connector.updateContact('4711', { email: 'not an address' }),
      ).rejects.toMatchObject({
        code: 'CRM_REJECTED',
        message: /422.*Invalid email address/,
      });
      await expect(connector.updateContact('999999', { f1586: 'x' })).rejects.toMatchObject({
        code: 'CONTACT_NOT_FOUND',
      });
    } finally {
      await crm.close();
    }
  });

  it('reports bad credentials with Ontraport\u2019s words and never the key', async () => {
    const { crm, connector } = await connect({}, { api_key: 'wrong-secret-key' });
    try {
      const error = await connector.loadContact('4711').catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({
        code: 'CRM_AUTH_FAILED',
        message: /401.*Unauthorized.*check app_id and api_key/,
      });
      expect(String((error as Error).message)).not.toContain('wrong-secret-key');
    } finally {
      await crm.close();
    }
  });

  it('takes the contact id from the URL and refuses empty credentials', () => {
    const connector = ontraportConnector.create(
      {
        id: 'op',
        apiUrl: ontraportConnector.defaultApiUrl,
        settings: ontraportConnector.settingsSchema.parse({ app_id: 'a', api_key: 'k' }),
      },
      { http: createHttpClient({ timeoutMs: 1_000 }), clock: systemClock },
    );
    expect(
      connector.parseWebhook({
        method: 'POST',
        params: { wpf_action: 'add', contact_id: ' 4711 ' },
        json: {},
      }),
    ).toEqual({
      contactId: '4711',
      email: undefined,
    });
    expect(
      connector.parseWebhook({
        method: 'GET',
        params: { contact_id: '5', email: '[Email]' },
        json: undefined,
      }).email,
    ).toBeUndefined();
    const missing = ontraportConnector.settingsSchema.safeParse({ app_id: ' ', api_key: '' });
    expect(missing.error?.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'api_key',
      'app_id',
    ]);
  });
});
