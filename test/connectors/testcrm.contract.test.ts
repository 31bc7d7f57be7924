import { testCrmConnector } from '../../src/connectors/testcrm/index.js';
import { startFakeTestCrm, type FakeTestCrm } from '../fakes/testcrm.fake.js';
import { connectorContract } from './contract.js';

let fake: FakeTestCrm;
let next = 100;

connectorContract('testcrm', {
  definition: testCrmConnector,
  offline: { apiUrl: 'http://127.0.0.1:9', settings: { api_key: 'k' } },
  webhooks: [
    {
      name: 'a GET with contact_id and email in the query',
      send: (url) =>
        fetch(`${url}/?wpf_action=add&access_key=KEY123&contact_id=101&email=jane%40example.com`),
      expected: { contactId: '101', email: 'jane@example.com' },
    },
  ],
  async start() {
    fake = await startFakeTestCrm();
    return {
      apiUrl: fake.url,
      settings: { api_key: fake.apiKey },
      badSettings: { api_key: 'wrong' },
    };
  },
  stop: () => fake.close(),
  seed(contact) {
    const ids = contact.tags.map(
      (label) => [...fake.tags].find(([, name]) => name === label)?.[0] ?? label,
    );
    const id = String((next += 1));
    fake.addContact({
      id,
      email: contact.email,
      fields: { first_name: contact.firstName, last_name: contact.lastName },
      tags: ids,
    });
    return id;
  },
  unknownContactId: '999999',
  writableField: 'password',
  readField: (id, field) => fake.contacts.get(id)?.fields[field],
  failNext: (failure, count) => fake.failNext(failure, count),
  rateLimited: {
    failure: {
      kind: 'status',
      status: 429,
      body: { error: 'slow down' },
      headers: { 'retry-after': '7' },
    },
    retryAfterMs: 7_000,
  },
});
