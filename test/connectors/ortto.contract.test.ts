import { orttoConnector } from '../../src/connectors/ortto/index.js';
import { sendOrttoWebhook, startFakeOrtto, type FakeOrtto } from '../fakes/ortto.fake.js';
import { connectorContract } from './contract.js';

let fake: FakeOrtto;

connectorContract('ortto', {
  definition: orttoConnector,
  offline: { apiUrl: orttoConnector.defaultApiUrl, settings: { api_key: 'k' } },
  webhooks: [
    {
      // The body's `id` is not the person: only `contact_id` is.
      name: 'a journey\u2019s "Send to webhook" JSON body',
      send: (url) =>
        sendOrttoWebhook(url, {
          action: 'add',
          accessKey: 'KEY123',
          contactId: '0069a1b2c3d4e5f607182930',
          email: 'jane@example.com',
        }),
      expected: { contactId: '0069a1b2c3d4e5f607182930', email: 'jane@example.com' },
    },
  ],
  async start() {
    // The contract drives the client directly, without the service's rate limiter,
    // so the fake's 10-a-second limit (tested in ortto.fake.test.ts) would make the
    // outcome depend on which tests ran in the same second.
    fake = await startFakeOrtto({ rateLimit: { limit: 10_000, windowMs: 1000 } });
    return {
      apiUrl: fake.apiUrl,
      settings: { api_key: fake.apiKey },
      badSettings: { api_key: 'not-the-key' },
    };
  },
  stop: () => fake.close(),
  seed(contact) {
    return fake.addContact({
      email: contact.email,
      first: contact.firstName,
      last: contact.lastName,
      tags: contact.tags,
    });
  },
  // Shaped like a real person id, so only its absence is tested.
  unknownContactId: '0069ffffffffffffffffff00',
  writableField: 'str:cm:wp-password',
  readField: (id, field) => {
    const value = fake.getContact(id)?.fields[field];
    return typeof value === 'string' ? value : undefined;
  },
  failNext: (failure, count) => fake.failNext(failure, count),
  rateLimited: {
    failure: {
      kind: 'status',
      status: 429,
      body: { error: { code: 'rate-limit', message: 'rate limit', 'try-in-seconds': 7 } },
    },
    retryAfterMs: 7_000,
  },
});
