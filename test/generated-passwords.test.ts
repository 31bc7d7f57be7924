/**
 * Users created with a generated password: the password is stored with the
 * fast keyed scheme (it is a 96-bit random secret), and it logs in; a password
 * the CRM supplies is stored with argon2id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { authenticate } from '../src/accounts/authenticate.js';
import { systemClock } from '../src/clock.js';
import { isGeneratedHash } from '../src/directory/passwords.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { loadSettings } from '../src/settings/settings.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import {
  sendOntraportWebhook,
  startFakeOntraport,
  type FakeOntraport,
} from './fakes/ontraport.fake.js';

for (const dialect of testDialects()) {
  describe(`generated passwords (${dialect})`, () => {
    let t: TestService | undefined;
    let crm: FakeOntraport | undefined;

    afterEach(async () => {
      await t?.close();
      await crm?.close();
      t = undefined;
      crm = undefined;
    });

    const start = async (settings: Record<string, unknown>) => {
      crm = await startFakeOntraport();
      t = await startTestService(dialect);
      await t.addConnection({
        id: 'op',
        type: 'ontraport',
        apiUrl: crm.apiUrl,
        settings: { app_id: crm.appId, api_key: crm.apiKey, ...settings },
        isDefault: true,
      });
      return { crm, t };
    };
    const add = async (service: TestService, contactId: string) => {
      const response = await sendOntraportWebhook(service.baseUrl, {
        action: 'add',
        accessKey: service.key,
        contactId,
      });
      return (await response.json()) as Record<string, unknown>;
    };
    const login = async (service: TestService, identifier: string, password: string) => {
      const db = service.service.database.db;
      return authenticate(
        {
          db,
          clock: systemClock,
          settings: await loadSettings(db, {}),
          keyring: service.service.sealer,
        },
        { identifier, password },
      );
    };

    it('stores a generated password with the fast keyed scheme, and it logs in', async () => {
      const { crm, t } = await start({ return_password: true, return_password_field: 'f1586' });
      const id = crm.addContact({ email: 'fresh@example.com', firstname: 'Fresh' });
      expect(await add(t, id)).toMatchObject({ created: true, passwordGenerated: true });
      const generated = crm.getContact(id)?.f1586 ?? '';
      expect(generated).toHaveLength(16);

      const user = await findUserByEmail(t.service.database.db, 'fresh@example.com');
      expect(user?.password_hash).toMatch(/^\$gen-hmac-sha256\$/);
      expect(user?.password_generated).toBe(1);
      expect(await login(t, 'fresh@example.com', generated)).toMatchObject({ ok: true });
      expect(await login(t, 'fresh@example.com', `${generated}x`)).toMatchObject({
        ok: false,
        reason: 'invalid',
      });
      // Logging in leaves it as it is: the password is still the random one.
      const after = await findUserByEmail(t.service.database.db, 'fresh@example.com');
      expect(after?.password_hash).toBe(user?.password_hash);
    });

    it('stores a password the CRM supplies with argon2id', async () => {
      const { crm, t } = await start({ field_map: { f1586: 'user_pass' } });
      const id = crm.addContact({ email: 'chosen@example.com', f1586: 'Cobol-Rules-59' });
      expect(await add(t, id)).toMatchObject({ created: true, passwordGenerated: false });
      const user = await findUserByEmail(t.service.database.db, 'chosen@example.com');
      expect(user?.password_hash).toMatch(/^\$argon2id\$/);
      expect(isGeneratedHash(user?.password_hash ?? '')).toBe(false);
      expect(await login(t, 'chosen@example.com', 'Cobol-Rules-59')).toMatchObject({ ok: true });
    });
  });
}
