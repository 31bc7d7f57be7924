/**
 * Each CRM connector lists contacts for imports page by page, every contact
 * or only those with a tag, against its CRM's fake: every contact once,
 * across page boundaries, and nobody without the tag.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { customerlyConnector } from '../../src/connectors/customerly/index.js';
import { funnelkitConnector } from '../../src/connectors/funnelkit/index.js';
import { createHttpClient } from '../../src/connectors/http-client.js';
import { ontraportConnector } from '../../src/connectors/ontraport/index.js';
import { orttoConnector } from '../../src/connectors/ortto/index.js';
import { payloadConnector } from '../../src/connectors/payload/index.js';
import type { CrmConnector } from '../../src/connectors/types.js';
import { startFakeCustomerly } from '../fakes/customerly.fake.js';
import type { FakeHttpServer } from '../fakes/fake-http.js';
import { startFakeFunnelKit } from '../fakes/funnelkit.fake.js';
import { encodeContactCat, startFakeOntraport } from '../fakes/ontraport.fake.js';
import { startFakeOrtto } from '../fakes/ortto.fake.js';

const deps = () => ({ http: createHttpClient({ timeoutMs: 5_000 }), clock: systemClock });

/** Every id `listContacts` gives, page after page, and how many pages it took. */
async function listAll(connector: CrmConnector, tagId?: string) {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await connector.listContacts!({ tagId, cursor });
    ids.push(...page.contactIds);
    cursor = page.next;
    pages += 1;
  } while (cursor !== null && pages < 100);
  return { ids, pages };
}

describe('listing contacts for imports', () => {
  let fake: FakeHttpServer | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('Ontraport: /objects for every contact and /objects/tag for a tag, 50 a page', async () => {
    const crm = await startFakeOntraport({ withSampleContact: false });
    fake = crm;
    const tagged: string[] = [];
    const all: string[] = [];
    for (let i = 1; i <= 120; i += 1) {
      const id = crm.addContact({
        email: `o${i}@example.com`,
        contact_cat: i % 2 === 0 ? encodeContactCat(['3', '7']) : encodeContactCat(['7']),
      });
      all.push(id);
      if (i % 2 === 0) tagged.push(id);
    }
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
    const everyone = await listAll(connector);
    expect(everyone.ids.sort()).toEqual([...all].sort());
    expect(everyone.pages).toBe(3);
    const customers = await listAll(connector, '3');
    expect(customers.ids.sort()).toEqual([...tagged].sort());
    expect(customers.pages).toBe(2);
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
    const vip: string[] = [];
    const all: string[] = [];
    for (let i = 1; i <= 230; i += 1) {
      const id = crm.addContact({
        email: `p${i}@example.com`,
        tags: i % 3 === 0 ? ['VIP', 'WP User'] : ['WP User'],
      });
      all.push(id);
      if (i % 3 === 0) vip.push(id);
    }
    const connector = orttoConnector.create(
      {
        id: 'ortto',
        apiUrl: crm.apiUrl,
        settings: orttoConnector.settingsSchema.parse({ api_key: crm.apiKey }),
      },
      deps(),
    );
    const everyone = await listAll(connector);
    expect(everyone.ids.sort()).toEqual([...all].sort());
    expect(everyone.pages).toBe(3);
    expect((await listAll(connector, 'VIP')).ids.sort()).toEqual([...vip].sort());
  });

  it('Customerly: users/list by page, contact ids are e-mails', async () => {
    const crm = await startFakeCustomerly();
    fake = crm;
    const tagged: string[] = [];
    for (let i = 1; i <= 60; i += 1) {
      const email = `c${i}@example.com`;
      crm.addUser({ email, tags: i <= 7 ? ['customer'] : ['lead'] });
      if (i <= 7) tagged.push(email);
    }
    const connector = customerlyConnector.create(
      {
        id: 'customerly',
        apiUrl: crm.apiUrl,
        settings: customerlyConnector.settingsSchema.parse({ access_token: 'test-token' }),
      },
      deps(),
    );
    const everyone = await listAll(connector);
    expect(everyone.ids).toHaveLength(60);
    expect(new Set(everyone.ids).size).toBe(60);
    expect(everyone.ids).toContain('c60@example.com');
    expect((await listAll(connector, 'customer')).ids.sort()).toEqual([...tagged].sort());
  });

  it('FunnelKit: contacts by limit and offset, tags by id', async () => {
    const crm = await startFakeFunnelKit();
    fake = crm;
    const vip = crm.addTag('VIP');
    const other = crm.addTag('Lead');
    const tagged: string[] = [];
    const all: string[] = [];
    for (let i = 1; i <= 130; i += 1) {
      const id = crm.addContact({
        email: `f${i}@example.com`,
        tagIds: i % 10 === 0 ? [vip] : [other],
      });
      all.push(id);
      if (i % 10 === 0) tagged.push(id);
    }
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
    const everyone = await listAll(connector);
    expect(everyone.ids.sort()).toEqual([...all].sort());
    expect(everyone.pages).toBe(2);
    expect((await listAll(connector, String(vip))).ids.sort()).toEqual([...tagged].sort());
  });

  it('payload senders have no API to list contacts', () => {
    const connector = payloadConnector.create();
    expect(typeof connector.listContacts).toBe('undefined');
  });
});
