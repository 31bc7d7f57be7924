/**
 * The admin pages' actions over plain HTTP, against the test CRM's fake:
 * adding a connection and testing it (good and bad credentials), refreshing
 * its tag list, roles with the administrator protected, the welcome e-mail
 * preview, resync from the CRM and a password-reset e-mail. Bad input gets a
 * page with a 4xx and never a 500.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { findConnection } from '../src/connections/connection.repository.js';
import { listRoles } from '../src/directory/role.repository.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { getTagLabels } from '../src/directory/tag.repository.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { isSealed } from '../src/lib/seal.js';
import { createUserWithPassword, csrfTokenOf, PageClient } from './helpers/admin.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';

const PASSWORD = 'silver canal orchard 71 beacon';

for (const dialect of testDialects()) {
  describe(`admin page actions (${dialect})`, () => {
    let t: TestService;
    let crm: FakeTestCrm;
    let owner: PageClient;
    const db = () => t.service.database.db;

    /** Opens `page` and posts `fields` to `action` with the page's CSRF token. */
    const submit = async (page: string, action: string, fields: Record<string, string>) => {
      const token = csrfTokenOf((await owner.get(page)).body);
      return owner.post(action, { _csrf: token, ...fields });
    };

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect);
      await createUserWithPassword(db(), {
        login: 'owner',
        email: 'owner@example.com',
        role: 'administrator',
        password: PASSWORD,
      });
      owner = new PageClient(t.baseUrl);
      await owner.logIn('owner', PASSWORD);
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    it('adds a connection with sealed credentials, tests it, and refreshes its tag list', async () => {
      const wrong = await submit('/admin/connections/new?type=testcrm', '/admin/connections/new', {
        type: 'testcrm',
        id: 'crm',
        name: 'Our CRM',
        api_url: crm.url,
        set_api_key: 'not-the-key',
        make_default: 'on',
      });
      expect(wrong.status).toBe(200);
      expect(wrong.body).toContain('Connection added');
      const row = await findConnection(db(), 'crm');
      expect(row?.is_default).toBe(1);
      const stored = JSON.parse(row?.settings ?? '{}') as { api_key: string };
      expect(isSealed(stored.api_key)).toBe(true);
      expect(wrong.body).not.toContain('not-the-key');

      const failed = await submit('/admin/connections/crm', '/admin/connections/crm/test', {});
      expect(failed.body).toMatch(/Connection test failed: .*401|Connection test failed/);

      // A secret left empty keeps the stored one; a new one replaces it.
      const kept = await submit('/admin/connections/crm', '/admin/connections/crm', {
        name: 'Our CRM',
        api_url: crm.url,
        set_api_key: '',
        rate_limit_per_minute: '120',
      });
      expect(kept.body).toContain('Connection saved.');
      const fixed = await submit('/admin/connections/crm', '/admin/connections/crm', {
        name: 'Our CRM',
        api_url: crm.url,
        set_api_key: crm.apiKey,
        rate_limit_per_minute: '120',
      });
      expect(fixed.body).toContain('Connection saved.');
      const resolved = await t.service.registry.resolve('crm');
      expect(resolved.rateLimit).toEqual({ requests: 120, windowMs: 60_000 });

      const ok = await submit('/admin/connections/crm', '/admin/connections/crm/test', {});
      expect(ok.body).toContain('Connection test passed');
      const tags = await submit('/admin/connections/crm', '/admin/connections/crm/tags', {});
      expect(tags.body).toContain('Tag list refreshed: 3 tags.');
      expect(Object.fromEntries(await getTagLabels(db(), 'crm', ['1', '2', '3']))).toEqual({
        '1': 'Customer',
        '2': 'VIP',
        '3': 'Newsletter',
      });

      const bad = await submit('/admin/connections/crm', '/admin/connections/crm', {
        name: 'Our CRM',
        api_url: 'http://crm.example.com',
        rate_limit_per_minute: 'lots',
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('whole number');
      const insecure = await submit('/admin/connections/crm', '/admin/connections/crm', {
        name: 'Our CRM',
        api_url: 'http://crm.example.com',
      });
      expect(insecure.status).toBe(400);
      expect(insecure.body).toContain('plain http');
      const lines = await queryActivity(db(), { action: 'admin', limit: 20 });
      expect(lines.map((line) => line.message)).toContain('owner: tested the connection crm: OK');
      expect(JSON.stringify(lines)).not.toContain(crm.apiKey);
    });

    it('adds, renames and removes roles, keeps the administrator role, and previews the welcome e-mail', async () => {
      const added = await submit('/admin/settings', '/admin/settings/roles/add', {
        slug: 'member',
        name: 'Member',
      });
      expect(added.body).toContain('Saved: role member added.');
      const renamed = await submit('/admin/settings', '/admin/settings/roles/rename', {
        slug: 'member',
        name: 'Club member',
      });
      expect(renamed.status).toBe(200);
      expect((await listRoles(db())).find((role) => role.slug === 'member')?.name).toBe(
        'Club member',
      );
      for (const action of ['rename', 'remove']) {
        const refused = await submit('/admin/settings', `/admin/settings/roles/${action}`, {
          slug: 'administrator',
          name: 'Boss',
        });
        expect(refused.status).toBe(400);
        expect(refused.body).toContain('admin role: protected');
      }
      const defaultRole = await submit('/admin/settings', '/admin/settings/roles/remove', {
        slug: 'subscriber',
      });
      expect(defaultRole.status).toBe(400);
      const removed = await submit('/admin/settings', '/admin/settings/roles/remove', {
        slug: 'member',
      });
      expect(removed.status).toBe(200);
      expect((await listRoles(db())).map((role) => role.slug)).not.toContain('member');
      const badSlug = await submit('/admin/settings', '/admin/settings/roles/add', {
        slug: 'Bad Slug!',
        name: 'x',
      });
      expect(badSlug.status).toBe(400);

      const preview = await submit('/admin/settings', '/admin/settings/welcome-email', {
        welcome_email_subject: 'Welcome aboard, {first_name}',
        welcome_email_text: 'Hi {first_name}, pick a password: {set_password_url}',
        welcome_email_html: '<p>Hi <b>{first_name}</b></p>',
        action: 'preview',
      });
      expect(preview.status).toBe(200);
      expect(preview.body).toContain('Welcome aboard, Jane');
      expect(preview.body).toContain('Hi Jane, pick a password: ');
      expect(preview.body).toMatch(/srcdoc="[^"]*Hi &lt;b&gt;Jane/);
      const rows = await db().selectFrom('settings').selectAll().execute();
      expect(rows.find((row) => row.key === 'welcome_email_subject')).toBeUndefined();
      const typo = await submit('/admin/settings', '/admin/settings/welcome-email', {
        welcome_email_subject: 'Hello {frist_name}',
        welcome_email_text: 'x',
        welcome_email_html: 'x',
        action: 'save',
      });
      expect(typo.status).toBe(400);
      expect(typo.body).toContain('unknown placeholder {frist_name}');
      expect(typo.body).toContain('Hello {frist_name}');
    });

    it('resyncs a user from the CRM through the intake and queues a password-reset e-mail', async () => {
      await t.connectTestCrm(crm);
      const contact = crm.addContact({
        id: '42',
        email: 'ann@example.com',
        fields: { first_name: 'Ann' },
        tags: ['1'],
      });
      expect(
        (await t.webhook(`/?wpf_action=add&access_key=${t.key}&contact_id=42`)).body,
      ).toMatchObject({
        status: 'done',
      });
      const user = await findUserByEmail(db(), 'ann@example.com');
      contact.fields.first_name = 'Annie';
      contact.tags = ['1', '2'];

      const page = `/admin/users/${user?.id}`;
      const resync = await submit(page, `${page}/resync`, { connection: 'crm', contact: '42' });
      expect(resync.status).toBe(200);
      const eventId = Number(/Resync queued as webhook #(\d+)/.exec(resync.body)?.[1]);
      const event = await waitFor('the resync to run', async () => {
        const row = await findEvent(db(), eventId);
        return row?.status === 'done' ? row : undefined;
      });
      expect(event.action).toBe('update');
      expect((await findUserByEmail(db(), 'ann@example.com'))?.first_name).toBe('Annie');
      const notLinked = await submit(page, `${page}/resync`, { connection: 'crm', contact: '43' });
      expect(notLinked.body).toContain('not linked to this user');

      const reset = await submit(page, `${page}/password-reset`, {});
      expect(reset.body).toContain('Password-reset e-mail queued for ann@example.com');
      const mail = await db()
        .selectFrom('mail_queue')
        .selectAll()
        .where('kind', '=', 'password_reset')
        .execute();
      expect(mail.map((row) => row.to_address)).toEqual(['ann@example.com']);
      const lines = (await queryActivity(db(), { action: 'admin', userId: user?.id })).map(
        (l) => l.message,
      );
      expect(lines.some((line) => line.startsWith('owner: queued a password-reset e-mail'))).toBe(
        true,
      );
      expect(
        lines.some((line) => line.startsWith('owner: asked for a resync of ann@example.com')),
      ).toBe(true);

      // Searching by tag label finds her.
      const byTag = await owner.get('/admin/users?tag=Customer');
      expect(byTag.body).toContain('ann@example.com');
      expect((await owner.get('/admin/users?tag=Nobody')).body).not.toContain('ann@example.com');
    });
  });
}
