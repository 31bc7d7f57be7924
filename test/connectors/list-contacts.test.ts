/**
 * How each CRM connector pages its contacts for imports, against its CRM's
 * fake: the page size and requests its API documents (docs/import.md). That
 * every contact is listed once, and only those with a tag when one is asked
 * for, is in the connector contract (contract.ts) every connector passes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { customerlyConnector } from '../../src/connectors/customerly/index.js';
import { funnelkitConnector } from '../../src/connectors/funnelkit/index.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import { ontraportConnector } from '../../src/connectors/ontraport/index.js';
import { orttoConnector } from '../../src/connectors/ortto/index.js';
import type { CrmConnector } from '../../src/connectors/types.js';
import { startFakeCustomerly } from '../fakes/customerly.fake.js';
import type { FakeHttpServer } from '../fakes/fake-http.js';
import { startFakeFunnelKit } from '../fakes/funnelkit.fake.js';
import { encodeContactCat, startFakeOntraport } from '../fakes/ontraport.fake.js';
import { startFakeOrtto } from '../fakes/ortto.fake.js';

const deps = () => ({ http: createHttpClient({ timeoutMs: 5_000 }), clock: systemClock });

/** How many contacts `listContacts` gives, and on how many pages. */
async function listAll(connector: CrmConnector, tagId?: string) {
  let count = 0;
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await connector.listContacts!({ tagId, cursor });
    count += page.contactIds.length;
    cursor = page.next;
    pages += 1;
  } while (cursor !== null && pages < 100);
  return { count, pages };
}

describe('listing contacts for imports: pages and requests per CRM', () => {
  let fake: FakeHttpServer | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('Ontraport: /objects for every contact and /objects/tag for a tag, 50 a page', async () => {
    const crm = await startFakeOntraport({ withSampleContact: false });
    fake = crm;
    for (let i = 1; i <= 120; i += 1)
      crm.addContact({
        email: `o${i}@example.com`,
        contact_cat: i % 2 === 0 ? encodeContactCat(['3', '7']) : encodeContactCat(['7']),
      });
    const connector = ontraportConnector.create(
      {
        id: 'ont',
        apiUrl: crm.apiUrl,
        settings: ontraportConnector.settingsSchema.parse({
          app_id: crm.appId,
          api_key: crm.apiKey,
        }),
      },
      deps(),
    );
    expect(await listAll(connector)).toEqual({ count: 120, pages: 3 });
    expect(await listAll(connector, '3')).toEqual({ count: 60, pages: 2 });
    // Only ids were asked for, not every field of every contact.
    expect(
      crm.requests.some((r) => r.path === '/1/objects/tag' && r.query.get('listFields') === 'id'),
    ).toBe(true);
  });

  it('Ortto: person/get by offset, tags matched by name', async () => {
    const crm = await startFakeOrtto({
      withSampleContact: false,
      rateLimit: { limit: 1000, windowMs: 1000 },
    });
    fake = crm;
    for (let i = 1; i <= 230; i += 1)
      crm.addContact({
        email: `p${i}@example.com`,
        tags: i % 3 === 0 ? ['VIP', 'WP User'] : ['WP User'],
      });
    const connector = orttoConnector.create(
      {
        id: 'ortto',
        apiUrl: crm.apiUrl,
        settings: orttoConnector.settingsSchema.parse({ api_key: crm.apiKey }),
      },
      deps(),
    );
    expect(await listAll(connector)).toEqual({ count: 230, pages: 3 });
    // The tag is matched here, on the pages of every contact.
    expect(await listAll(connector, 'VIP')).toEqual({ count: 76, pages: 3 });
  });

  it('Customerly: users/list by page, contact ids are e-mails', async () => {
    const crm = await startFakeCustomerly();
    fake = crm;
    for (let i = 1; i <= 60; i += 1)
      crm.addUser({ email: `c${i}@example.com`, tags: i <= 7 ? ['customer'] : ['lead'] });
    const connector = customerlyConnector.create(
      {
        id: 'customerly',
        apiUrl: crm.apiUrl,
        settings: customerlyConnector.settingsSchema.parse({ access_token: 'test-token' }),
      },
      deps(),
    );
    expect(await listAll(connector)).toEqual({ count: 60, pages: 2 });
    expect(await listAll(connector, 'customer')).toEqual({ count: 7, pages: 2 });
  });

  it('FunnelKit: contacts by limit and offset, tags by id', async () => {
    const crm = await startFakeFunnelKit();
    fake = crm;
    const vip = crm.addTag('VIP');
    const other = crm.addTag('Lead');
    for (let i = 1; i <= 130; i += 1)
      crm.addContact({ email: `f${i}@example.com`, tagIds: i % 10 === 0 ? [vip] : [other] });
    const connector = funnelkitConnector.create(
      {
        id: 'fk',
        apiUrl: crm.url,
        settings: funnelkitConnector.settingsSchema.parse({
          username: 'admin',
          app_password: 'abcd efgh ijkl mnop qrst uvwx',
        }),
      },
      deps(),
    );
    expect(await listAll(connector)).toEqual({ count: 130, pages: 2 });
    expect(await listAll(connector, String(vip))).toEqual({ count: 13, pages: 2 });
  });
});
