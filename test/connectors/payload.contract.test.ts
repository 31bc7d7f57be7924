/**
 * The payload connector has no CRM behind it, so no fake: its webhooks are
 * sent as Zapier, Make or a script would, and the API part of the contract
 * checks the documented "no API" answers.
 */
import { describe, expect, it } from 'vitest';
import { payloadConnector } from '../../src/connectors/payload/index.js';
import { noApiConnectorContract } from './contract.js';

const KEY = 'access_key=KEY123';

noApiConnectorContract('payload', {
  definition: payloadConnector,
  noApi: true,
  offline: { apiUrl: null, settings: {} },
  webhooks: [
    {
      name: 'a JSON POST (Zapier, Make) with the contact\u2019s fields and a tag array',
      send: (url) =>
        fetch(`${url}/?wpf_action=add&${KEY}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: 'jane@example.com',
            first_name: 'Jane',
            last_name: 'Doe',
            tags: ['Customer', 'VIP'],
          }),
        }),
      expected: { contactId: 'jane@example.com', email: 'jane@example.com' },
    },
    {
      name: 'a form POST with its own contact id and comma-separated tags',
      send: (url) =>
        fetch(`${url}/?wpf_action=update&${KEY}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            contact_id: 'crm-77',
            email: 'jane@example.com',
            tags: 'Customer, VIP',
          }).toString(),
        }),
      expected: { contactId: 'crm-77', email: 'jane@example.com' },
    },
    {
      name: 'a GET with everything in the query',
      send: (url) =>
        fetch(`${url}/?wpf_action=add&${KEY}&email=jane%40example.com&first_name=Jane`),
      expected: { contactId: 'jane@example.com', email: 'jane@example.com' },
    },
  ],
});

describe('payload connector specifics', () => {
  const connector = payloadConnector.create();

  it('carries the contact in the webhook: fields without the control parameters, tags as their own labels', () => {
    const parsed = connector.parseWebhook({
      method: 'POST',
      params: {
        wpf_action: 'add',
        access_key: 'k',
        email: 'jane@example.com',
        first_name: 'Jane',
        plan: 'gold',
        tags: 'a,b',
      },
      json: { tags: ['Customer', 'VIP'] },
    });
    expect(parsed.contact).toEqual({
      id: 'jane@example.com',
      email: 'jane@example.com',
      fields: { email: 'jane@example.com', first_name: 'Jane', plan: 'gold' },
      tags: ['Customer', 'VIP'],
      tagLabels: { Customer: 'Customer', VIP: 'VIP' },
    });
  });

  it('needs no settings and no API URL', () => {
    expect(payloadConnector.settingsSchema.parse({})).toEqual({});
    expect(payloadConnector.defaultApiUrl).toBeNull();
  });
});
