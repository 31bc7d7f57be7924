/**
 * What a connector reads from its CRM to make sense of contacts (Ortto's custom
 * fields, Ontraport's field meta) is read once a minute at most, as each
 * connector promises, even though the service re-reads its connections every
 * few seconds (CRM_BRIDGE_CACHE_MS). Those reads spend the CRM's rate limit
 * (Ontraport allows 180 calls a minute), so re-reading them with every refresh
 * would cost users real webhooks. A changed connection is rebuilt at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { updateConnection } from '../src/connections/connection.repository.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { describeUser } from '../src/directory/user-view.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import {
  ORTTO_SAMPLE_CONTACT_ID,
  sendOrttoWebhook,
  startFakeOrtto,
  type FakeOrtto,
} from './fakes/ortto.fake.js';
import { startFakeOntraport, type FakeOntraport } from './fakes/ontraport.fake.js';

/** Connections are re-read after this long: a refresh happens between any two webhooks below. */
const CACHE_MS = 30;
const metaOf = async (t: TestService, email: string) => {
  const db = t.service.database.db;
  const user = await findUserByEmail(db, email);
  if (!user) throw new Error(`no user ${email}`);
  return (await describeUser(db, user)).meta;
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const dialect of testDialects()) {
  describe(`connector caches outlive connection refreshes (${dialect})`, () => {
    let t: TestService | undefined;
    let ortto: FakeOrtto | undefined;
    let ontraport: FakeOntraport | undefined;

    afterEach(async () => {
      await t?.close();
      await ortto?.close();
      await ontraport?.close();
      t = undefined;
      ortto = undefined;
      ontraport = undefined;
    });

    it('Ortto: the custom-field list is fetched once for many webhooks; a changed field map takes effect at once', async () => {
      const fake = await startFakeOrtto();
      ortto = fake;
      fake.setField(ORTTO_SAMPLE_CONTACT_ID, 'str:cm:plan', 'Gold');
      t = await startTestService(dialect, { env: { CRM_BRIDGE_CACHE_MS: String(CACHE_MS) } });
      const service = t;
      await service.addConnection({
        id: 'ortto',
        type: 'ortto',
        apiUrl: fake.apiUrl,
        settings: { api_key: fake.apiKey, field_map: { 'str:cm:plan': 'membership' } },
        isDefault: true,
      });
      const hook = async (action = 'update') => {
        const res = await sendOrttoWebhook(service.baseUrl, {
          action,
          accessKey: service.key,
          contactId: ORTTO_SAMPLE_CONTACT_ID,
          email: 'jane@example.com',
        });
        expect(res.status).toBe(200);
        return (await res.json()) as { status: string };
      };
      const fieldLists = () =>
        fake.requests.filter((request) => request.path.endsWith('/person/custom-field/get')).length;

      expect((await hook('add')).status).toBe('done');
      for (let i = 0; i < 4; i += 1) {
        await pause(CACHE_MS * 2);
        expect((await hook()).status).toBe('done');
      }
      expect(fieldLists()).toBe(1);
      expect(await metaOf(service, 'jane@example.com')).toEqual({ membership: 'Gold' });

      // Another field map is another connection: its connector starts afresh, and the new map applies.
      await updateConnection(
        service.service.database.db,
        'ortto',
        {
          settings: JSON.stringify({
            api_key: fake.apiKey,
            field_map: { 'str:cm:plan': 'plan_level' },
          }),
        },
        new Date().toISOString(),
      );
      await pause(CACHE_MS * 2);
      expect((await hook()).status).toBe('done');
      expect(fieldLists()).toBe(2);
      expect(await metaOf(service, 'jane@example.com')).toMatchObject({ plan_level: 'Gold' });
    });

    it('Ontraport: the field meta (for dropdown labels) is fetched once for many webhooks', async () => {
      const fake = await startFakeOntraport();
      ontraport = fake;
      const contactId = fake.addContact({ email: 'ann@example.com', firstname: 'Ann' });
      t = await startTestService(dialect, { env: { CRM_BRIDGE_CACHE_MS: String(CACHE_MS) } });
      const service = t;
      await service.addConnection({
        id: 'op',
        type: 'ontraport',
        apiUrl: fake.apiUrl,
        settings: { app_id: fake.appId, api_key: fake.apiKey },
        isDefault: true,
      });
      const metaReads = () =>
        fake.requests.filter((request) => request.path.endsWith('/objects/meta')).length;

      for (let i = 0; i < 5; i += 1) {
        if (i > 0) await pause(CACHE_MS * 2);
        const res = await service.webhook(
          `/?wpf_action=${i === 0 ? 'add' : 'update'}&access_key=${service.key}&contact_id=${contactId}`,
        );
        expect(res.status).toBe(200);
        expect(res.body.status).toBe('done');
      }
      expect(metaReads()).toBe(1);
    });
  });
}
