/**
 * Account takeover through webhooks, end to end: whoever holds the access key
 * (every CRM automation and Zapier zap does) must not get into accounts that
 * their contact does not own. Regression tests for the reported takeover: an
 * `update` with the admin's e-mail in `email=` and a `user_pass` changed the
 * admin's password, linked the attacker's contact to the admin, let that
 * contact change the admin's e-mail, and `/lost-password` then mailed the
 * attacker a working reset link.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { createPasswordToken } from '../src/accounts/password-tokens.repository.js';
import { createSession } from '../src/accounts/sessions.repository.js';
import { hashPassword, verifyPassword } from '../src/directory/passwords.js';
import { saveRole } from '../src/directory/role.repository.js';
import {
  findUserByEmail,
  findUserById,
  insertUser,
  listContactLinks,
} from '../src/directory/user.repository.js';
import type { UserRow } from '../src/storage/schema.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';

const ADMIN_PASSWORD = 'harbor velvet quantum 19 meadow';
const VICTIM_PASSWORD = 'lantern orbit pickle 47 tractor';
const EVIL_PASSWORD = 'Evil-takeover-pass-1';
const HOUR = 3_600_000;

interface Answer {
  status?: string;
  userId?: number | null;
  created?: boolean;
  changes?: string[];
  notices?: string[];
  error?: { code: string; message: string };
}

for (const dialect of testDialects()) {
  describe(`account takeover through webhooks (${dialect})`, () => {
    let t: TestService;
    let crm: FakeTestCrm;
    const db = () => t.service.database.db;

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect);
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    /** A webhook to the built-in payload connection (the contact comes in the query). */
    const hook = async (params: Record<string, string>, path = '/webhooks/payload') => {
      const reply = await t.webhook(
        `${path}?${new URLSearchParams({ access_key: t.key, ...params }).toString()}`,
      );
      return { status: reply.status, body: reply.body as Answer };
    };
    const connectCrm = () =>
      t.addConnection({
        id: 'crm',
        type: 'testcrm',
        apiUrl: crm.url,
        settings: { api_key: crm.apiKey, field_map: { password: 'user_pass' } },
      });

    const insertAdmin = async (email: string): Promise<UserRow> => {
      const now = new Date().toISOString();
      return insertUser(db(), {
        login: 'boss',
        email,
        email_lower: email.toLowerCase(),
        password_hash: await hashPassword(ADMIN_PASSWORD),
        password_generated: 0,
        role: 'administrator',
        first_name: 'Boss',
        last_name: '',
        display_name: 'Boss',
        created_at: now,
        updated_at: now,
      });
    };
    const reload = async (user: UserRow): Promise<UserRow> => {
      const row = await findUserById(db(), user.id);
      if (!row) throw new Error(`user #${user.id} is gone`);
      return row;
    };
    const linksOf = async (user: UserRow) =>
      (await listContactLinks(db(), user.id)).map(
        (link) => `${link.connection_id}/${link.contact_id}`,
      );
    const countUsers = async (email: string) =>
      (
        await db()
          .selectFrom('users')
          .select('id')
          .where('email_lower', '=', email.toLowerCase())
          .execute()
      ).length;

    /** Submits the /lost-password form as a browser does (CSRF cookie and field). */
    const requestReset = async (identifier: string) => {
      const form = await fetch(`${t.baseUrl}/lost-password`);
      const cookie = form.headers
        .getSetCookie()
        .map((line) => line.split(';')[0])
        .join('; ');
      const csrf = /name="_csrf" value="([^"]*)"/.exec(await form.text())?.[1] ?? '';
      const reply = await fetch(`${t.baseUrl}/lost-password`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, identifier }),
      });
      expect(reply.status).toBe(200);
    };
    const mailsTo = async (address: string) =>
      (
        await db()
          .selectFrom('mail_queue')
          .select(['kind', 'user_id'])
          .where('to_address', '=', address)
          .execute()
      ).length;

    /** A live login session and an open reset link of the user, as the account pages see them. */
    const openAccess = async (user: UserRow) => {
      const now = new Date();
      const session = await createSession(
        db(),
        { userId: user.id, ttlMs: HOUR, ip: null, userAgent: null },
        now,
      );
      const link = await createPasswordToken(
        db(),
        { userId: user.id, purpose: 'password_reset', ttlMs: HOUR },
        now,
      );
      const account = () =>
        fetch(`${t.baseUrl}/account`, {
          redirect: 'manual',
          headers: { cookie: `crm_bridge_session=${session.secret}` },
        });
      const setPassword = () => fetch(`${t.baseUrl}/set-password?token=${link.raw}`);
      expect((await account()).status).toBe(200);
      expect((await setPassword()).status).toBe(200);
      return { account, setPassword };
    };

    it('regression: update with email=<admin> and user_pass, then an e-mail change and /lost-password, no longer take over the admin', async () => {
      const admin = await insertAdmin('boss@example.com');

      // 1. The reported request: the admin's e-mail as the fallback and a password of the attacker's choice.
      const takeover = await hook({
        wpf_action: 'update',
        contact_id: 'evil-1',
        email: 'boss@example.com',
        user_pass: EVIL_PASSWORD,
      });
      expect(takeover.status).toBe(200);
      expect(takeover.body).toMatchObject({ status: 'skipped', userId: null });
      expect(takeover.body.notices).toEqual([
        expect.stringMatching(
          /User #\d+ with the e-mail boss@example\.com holds the admin role "administrator"/,
        ),
      ]);

      // 2. The same contact asks for the admin's e-mail to become the attacker's.
      for (const wpf_action of ['update', 'update_tags']) {
        const change = await hook({
          wpf_action,
          contact_id: 'evil-1',
          email: 'attacker@evil.example',
        });
        expect(change.body).toMatchObject({ status: 'skipped', userId: null });
      }
      const viaAdd = await hook({
        wpf_action: 'add',
        contact_id: 'evil-1',
        email: 'boss@example.com',
        user_pass: EVIL_PASSWORD,
      });
      expect(viaAdd.status).toBe(400);
      expect(viaAdd.body.error?.code).toBe('ADMIN_NOT_LINKABLE');

      // 3. A reset requested for the attacker's address sends nothing.
      await requestReset('attacker@evil.example');

      const after = await reload(admin);
      expect(await verifyPassword(ADMIN_PASSWORD, after.password_hash)).toBe(true);
      expect(await verifyPassword(EVIL_PASSWORD, after.password_hash)).toBe(false);
      expect(after.email).toBe('boss@example.com');
      expect(after.login).toBe('boss');
      expect(await linksOf(admin)).toEqual([]);
      expect(await findUserByEmail(db(), 'attacker@evil.example')).toBeUndefined();
      expect(await mailsTo('attacker@evil.example')).toBe(0);

      const notices = await queryActivity(db(), { contactId: 'evil-1', level: 'notice' });
      expect(notices.map((row) => row.message)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/admin role "administrator", which webhooks never link/),
        ]),
      );
      const skipped = await queryActivity(db(), { contactId: 'evil-1', level: 'info' });
      expect(skipped.map((row) => row.message)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^Skipped update for contact evil-1: User #\d+ .*admin role/),
        ]),
      );
    });

    it('a contact linked to an admin changes neither its password, e-mail, login nor role, and says so', async () => {
      const created = await hook({
        wpf_action: 'add',
        contact_id: 'boss-1',
        email: 'boss@example.com',
        user_pass: ADMIN_PASSWORD,
      });
      expect(created.body).toMatchObject({ status: 'done', created: true });
      const admin = (await findUserByEmail(db(), 'boss@example.com'))!;
      // Promoted after it was created from the CRM (say, by the site owner).
      await db()
        .updateTable('users')
        .set({ role: 'administrator' })
        .where('id', '=', admin.id)
        .execute();
      const access = await openAccess(admin);

      const attempt = await hook({
        wpf_action: 'update',
        contact_id: 'boss-1',
        email: 'attacker@evil.example',
        user_pass: EVIL_PASSWORD,
        user_login: 'evil',
        first_name: 'Still',
      });
      expect(attempt.body).toMatchObject({
        status: 'done',
        userId: admin.id,
        changes: ['first_name'],
      });
      expect(attempt.body.notices).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /admin role "administrator", whose e-mail webhooks never change; kept boss@example\.com/,
          ),
          expect.stringMatching(/admin role "administrator", whose password webhooks never change/),
        ]),
      );

      const after = await reload(admin);
      expect(after).toMatchObject({
        email: 'boss@example.com',
        login: 'boss@example.com',
        role: 'administrator',
        first_name: 'Still',
      });
      expect(await verifyPassword(ADMIN_PASSWORD, after.password_hash)).toBe(true);
      // Nothing was changed, so nothing was revoked either.
      expect((await access.account()).status).toBe(200);
      expect((await access.setPassword()).status).toBe(200);
      const notices = await queryActivity(db(), { contactId: 'boss-1', level: 'notice' });
      expect(notices.map((row) => row.message)).toEqual(
        expect.arrayContaining([expect.stringMatching(/whose password webhooks never change/)]),
      );
    });

    it('a contact carrying the e-mail of a user linked to another contact neither re-links it nor changes its password or e-mail', async () => {
      await connectCrm();
      crm.addContact({
        id: 'A',
        email: 'victim@example.com',
        fields: { password: VICTIM_PASSWORD },
      });
      expect(
        (await hook({ wpf_action: 'add', contact_id: 'A' }, '/webhooks/crm')).body,
      ).toMatchObject({ status: 'done', created: true });
      const victim = (await findUserByEmail(db(), 'victim@example.com'))!;

      // B's own CRM e-mail is the victim's; C names the victim only in the email parameter.
      crm.addContact({ id: 'B', email: 'victim@example.com', fields: { password: EVIL_PASSWORD } });
      crm.addContact({
        id: 'C',
        email: 'attacker@evil.example',
        fields: { password: EVIL_PASSWORD },
      });
      for (const wpf_action of ['update', 'update_tags']) {
        for (const params of [
          { contact_id: 'B' },
          { contact_id: 'C', email: 'victim@example.com' },
        ] as Array<Record<string, string>>) {
          const reply = await hook({ wpf_action, ...params }, '/webhooks/crm');
          expect(reply.status).toBe(200);
          expect(reply.body).toMatchObject({ status: 'skipped', userId: null });
          expect(reply.body.notices).toEqual([
            expect.stringMatching(
              /User #\d+ with the e-mail victim@example\.com is already linked to another contact of connection crm/,
            ),
          ]);
        }
      }
      // add never takes over the user, and never makes a second one with its e-mail.
      const add = await hook({ wpf_action: 'add', contact_id: 'B' }, '/webhooks/crm');
      expect(add.status).toBe(400);
      expect(add.body.error?.code).toBe('USER_LINKED_TO_OTHER_CONTACT');

      const after = await reload(victim);
      expect(after.email).toBe('victim@example.com');
      expect(await verifyPassword(VICTIM_PASSWORD, after.password_hash)).toBe(true);
      expect(await linksOf(victim)).toEqual(['crm/A']);
      expect(await countUsers('victim@example.com')).toBe(1);
      const skipped = await queryActivity(db(), { contactId: 'B', level: 'info' });
      expect(skipped.map((row) => row.message)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^Skipped update for contact B: User #\d+ .*already linked/),
        ]),
      );
      const failed = await queryActivity(db(), { contactId: 'B', level: 'error' });
      expect(failed.map((row) => row.message)).toEqual([
        expect.stringMatching(/already linked to another contact.*no user was created/),
      ]);

      // The user's own contact still works.
      crm.contacts.get('A')!.fields.first_name = 'Vic';
      expect(
        (await hook({ wpf_action: 'update', contact_id: 'A' }, '/webhooks/crm')).body,
      ).toMatchObject({ status: 'done', userId: victim.id });
    });

    it('once a CRM is configured, the built-in payload connection is gone, so it cannot claim that CRM\u2019s users', async () => {
      await connectCrm();
      crm.addContact({
        id: 'E',
        email: 'member2@example.com',
        fields: { password: VICTIM_PASSWORD },
      });
      expect(
        (await hook({ wpf_action: 'add', contact_id: 'E' }, '/webhooks/crm')).body,
      ).toMatchObject({ status: 'done', created: true });
      const member = (await findUserByEmail(db(), 'member2@example.com'))!;

      const claim = await hook({
        wpf_action: 'update',
        contact_id: 'x-1',
        email: 'member2@example.com',
        user_pass: EVIL_PASSWORD,
      });
      expect(claim.status).toBe(400);
      expect(claim.body.error?.code).toBe('UNKNOWN_CONNECTION');
      const after = await reload(member);
      expect(await verifyPassword(VICTIM_PASSWORD, after.password_hash)).toBe(true);
      expect(await linksOf(member)).toEqual(['crm/E']);
    });

    it('add ignores the email parameter: it goes by the contact\u2019s own e-mail and leaves the named user alone', async () => {
      await connectCrm();
      await t.addConnection({ id: 'payload', type: 'payload' });
      // A user of the site who is not linked to any contact of the connection yet.
      expect(
        (
          await hook({
            wpf_action: 'add',
            contact_id: 'p-1',
            email: 'member@example.com',
            user_pass: VICTIM_PASSWORD,
          })
        ).body,
      ).toMatchObject({ created: true });
      const member = (await findUserByEmail(db(), 'member@example.com'))!;
      crm.addContact({
        id: 'D',
        email: 'newcomer@example.com',
        fields: { password: EVIL_PASSWORD },
      });

      const add = await hook(
        { wpf_action: 'add', contact_id: 'D', email: 'member@example.com' },
        '/webhooks/crm',
      );
      expect(add.body).toMatchObject({ status: 'done', created: true });
      expect(add.body.userId).not.toBe(member.id);
      expect(await findUserByEmail(db(), 'newcomer@example.com')).toMatchObject({
        id: add.body.userId,
      });
      const after = await reload(member);
      expect(await verifyPassword(VICTIM_PASSWORD, after.password_hash)).toBe(true);
      expect(await linksOf(member)).toEqual(['payload/p-1']);
    });

    it('an e-mail or password change by a webhook ends the user\u2019s sessions and spends their open links', async () => {
      expect(
        (
          await hook({
            wpf_action: 'add',
            contact_id: '7',
            email: 'jane@example.com',
            user_pass: VICTIM_PASSWORD,
          })
        ).body,
      ).toMatchObject({ created: true });
      const jane = (await findUserByEmail(db(), 'jane@example.com'))!;

      const beforeEmail = await openAccess(jane);
      const email = await hook({
        wpf_action: 'update',
        contact_id: '7',
        email: 'jane.new@example.com',
      });
      expect(email.body).toMatchObject({ status: 'done', changes: ['email'] });
      expect((await beforeEmail.account()).status).toBe(303);
      expect((await beforeEmail.setPassword()).status).toBe(410);

      const beforePassword = await openAccess(jane);
      const password = await hook({
        wpf_action: 'update',
        contact_id: '7',
        email: 'jane.new@example.com',
        user_pass: EVIL_PASSWORD,
      });
      expect(password.body).toMatchObject({ status: 'done', changes: ['password'] });
      expect((await beforePassword.account()).status).toBe(303);
      expect((await beforePassword.setPassword()).status).toBe(410);

      // A run that changes neither leaves them alone.
      const untouched = await openAccess(jane);
      expect(
        (
          await hook({
            wpf_action: 'update',
            contact_id: '7',
            email: 'jane.new@example.com',
            first_name: 'Jane',
          })
        ).body,
      ).toMatchObject({
        changes: ['first_name'],
      });
      expect((await untouched.account()).status).toBe(200);
      expect((await untouched.setPassword()).status).toBe(200);
    });

    it('refuses an admin role as default_role from `settings set`; new users never get one', async () => {
      const database = t.database;
      const refused = await runCli(database, 'settings', 'set', 'default_role', 'administrator');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(
        /default_role="administrator": "administrator" is an admin role, which webhooks never assign/,
      );
      expect((await runCli(database, 'settings', 'get', 'default_role')).stdout.trim()).toBe(
        'subscriber',
      );

      // The CLI will not make the default role an admin role…
      expect((await runCli(database, 'settings', 'set', 'default_role', 'member')).code).toBe(0);
      const promoted = await runCli(database, 'roles', 'add', 'member', 'Member', '--admin');
      expect(promoted.code).not.toBe(0);
      expect(promoted.stderr).toMatch(/default role of new users/);
      // …and one made an admin role behind its back is not handed out either.
      await saveRole(db(), { slug: 'member', name: 'Member', isAdmin: true });
      const add = await hook({ wpf_action: 'add', contact_id: 'n-1', email: 'new@example.com' });
      expect(add.body).toMatchObject({ status: 'failed', error: { code: 'INVALID_SETTING' } });
      expect(await countUsers('new@example.com')).toBe(0);
    });
  });

  describe(`default_role override at start-up (${dialect})`, () => {
    it('refuses CRM_BRIDGE_SETTING_DEFAULT_ROLE naming an admin role with a clear error', async () => {
      const database = await createTestDatabase(dialect);
      try {
        await expect(
          startTestService(dialect, {
            database,
            env: { CRM_BRIDGE_SETTING_DEFAULT_ROLE: 'administrator' },
          }),
        ).rejects.toThrow(
          /default_role="administrator": "administrator" is an admin role, which webhooks never assign/,
        );
      } finally {
        await database.drop();
      }
    });
  });
}
