/**
 * The admin area's door, on every route: anonymous visitors are sent to log
 * in, signed-in users without an admin role get 403, and a form posted
 * without its CSRF token changes nothing. `crm-bridge admin create` makes the
 * first administrator, whose one-time link leads into the admin area.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { insertImportJob } from '../src/import/import-jobs.repository.js';
import { listActiveKeys } from '../src/settings/access-keys.js';
import { systemClock } from '../src/clock.js';
import { createUserWithPassword, csrfTokenOf, PageClient } from './helpers/admin.js';
import { runCliWithEnv } from './helpers/cli.js';
import { testDialects } from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';
import { startTestService, type TestService } from './helpers/service.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';

const PASSWORD = 'copper kettle meadow 58 lantern';

const GET_ROUTES = [
  '/admin',
  '/admin/dashboard',
  '/admin/settings',
  '/admin/connections',
  '/admin/connections/new?type=testcrm',
  '/admin/connections/crm',
  '/admin/log',
  '/admin/webhooks',
  '/admin/webhooks/1',
  '/admin/users',
  '/admin/users/1',
  '/admin/import',
  '/admin/import/1',
  '/admin/import/1/progress',
  '/admin/assets/admin.js',
];

const POST_ROUTES = [
  '/admin/access-key/reveal',
  '/admin/access-key/rotate',
  '/admin/test-webhook',
  '/admin/settings/general',
  '/admin/settings/return-password',
  '/admin/settings/roles/add',
  '/admin/settings/roles/rename',
  '/admin/settings/roles/remove',
  '/admin/settings/welcome-email',
  '/admin/connections/new',
  '/admin/connections/crm',
  '/admin/connections/crm/test',
  '/admin/connections/crm/tags',
  '/admin/connections/crm/mapping',
  '/admin/webhooks/1/replay',
  '/admin/webhooks/replay-failed',
  '/admin/users/1/resync',
  '/admin/users/1/password-reset',
  '/admin/import',
  '/admin/import/1/cancel',
];

for (const dialect of testDialects()) {
  describe(`admin area access (${dialect})`, () => {
    let t: TestService;
    let crm: FakeTestCrm;
    const db = () => t.service.database.db;

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect);
      await t.addConnection({
        id: 'crm',
        type: 'testcrm',
        apiUrl: crm.url,
        settings: { api_key: crm.apiKey },
      });
      await createUserWithPassword(db(), {
        login: 'owner',
        email: 'owner@example.com',
        role: 'administrator',
        password: PASSWORD,
      });
      await createUserWithPassword(db(), {
        login: 'member',
        email: 'member@example.com',
        role: 'subscriber',
        password: PASSWORD,
      });
      await db()
        .insertInto('webhook_events')
        .values([
          eventRow({
            status: 'failed',
            contact_id: '5',
            connection_id: 'crm',
            request: JSON.stringify({
              method: 'GET',
              url: '/webhooks/crm?wpf_action=update&contact_id=5',
              contentType: null,
              body: null,
            }),
          }),
        ])
        .execute();
      // Import #1, for its page, its figures and its Cancel route.
      await insertImportJob(
        db(),
        { connectionId: 'crm', tagId: null, tagLabel: null, sendWelcome: false, startedBy: 'cli' },
        new Date().toISOString(),
      );
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    it('sends anonymous visitors of every admin route to the login page, which brings them back', async () => {
      const anonymous = new PageClient(t.baseUrl);
      for (const path of GET_ROUTES) {
        const answer = await anonymous.get(path);
        expect(answer.status, path).toBe(303);
        expect(answer.location, path).toBe(`/login?redirect_to=${encodeURIComponent(path)}`);
      }
      for (const path of POST_ROUTES) {
        const answer = await anonymous.post(path, { _csrf: 'x' });
        expect(answer.status, path).toBe(303);
        expect(answer.location, path).toBe('/login?redirect_to=%2Fadmin');
      }
      const back = await anonymous.post('/login', {
        _csrf: csrfTokenOf((await anonymous.get('/login?redirect_to=%2Fadmin%2Flog')).body),
        identifier: 'owner',
        password: PASSWORD,
        redirect_to: '/admin/log',
      });
      expect(back.location).toBe('/admin/log');
    });

    it('refuses signed-in users without an admin role on every route with 403, and logs it', async () => {
      const member = new PageClient(t.baseUrl);
      await member.logIn('member', PASSWORD);
      const token = csrfTokenOf((await member.get('/logout')).body);
      for (const path of GET_ROUTES) {
        const answer = await member.get(path);
        expect(answer.status, path).toBe(403);
        expect(answer.body, path).toContain('Administrators only');
      }
      for (const path of POST_ROUTES) {
        expect((await member.post(path, { _csrf: token })).status, path).toBe(403);
      }
      const refused = await queryActivity(db(), { action: 'admin', level: 'warning', limit: 500 });
      expect(refused.length).toBe(GET_ROUTES.length + POST_ROUTES.length);
      expect(refused[0]?.message).toMatch(/^Refused POST \/admin\/.*: member holds no admin role$/);
    });

    it('shows every page to an administrator, and refuses every form posted without its CSRF token', async () => {
      const owner = new PageClient(t.baseUrl);
      await owner.logIn('owner', PASSWORD);
      for (const path of GET_ROUTES) {
        const answer = await owner.get(path);
        expect(answer.status, path).toBe(200);
        expect(answer.body, path).not.toContain(t.key);
        expect(answer.body, path).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
      }
      const keysBefore = await listActiveKeys(db(), systemClock);
      for (const path of POST_ROUTES) {
        const answer = await owner.post(path, { connection: 'crm', slug: 'x', name: 'X' });
        expect(answer.status, path).toBe(403);
        expect(answer.body, path).toContain('The form has expired');
      }
      expect(await listActiveKeys(db(), systemClock)).toEqual(keysBefore);
      expect(await queryActivity(db(), { action: 'admin', limit: 5 })).toEqual([]);

      // With the token the same rotation goes through, shows the new key once, and names who did it.
      const general = await owner.get('/admin');
      const rotated = await owner.post('/admin/access-key/rotate', {
        _csrf: csrfTokenOf(general.body),
      });
      expect(rotated.status).toBe(200);
      expect(rotated.body).toContain('keeps working until');
      const [line] = await queryActivity(db(), { action: 'admin', limit: 1 });
      expect(line?.message).toMatch(/^owner: rotated the access key/);
      expect(line?.message).not.toContain(t.key);
    });

    it('admin create prints a one-time link that leads a new administrator into the admin area', async () => {
      const created = await runCliWithEnv(
        t.database,
        { CRM_BRIDGE_PUBLIC_URL: t.baseUrl },
        'admin',
        'create',
        '--email',
        'boss@example.com',
      );
      expect(created.code).toBe(0);
      const link = created.stdout.trim();
      expect(link.startsWith(`${t.baseUrl}/set-password?token=`)).toBe(true);
      expect(created.stderr).toContain('administrator');

      const boss = new PageClient(t.baseUrl);
      const path = link.slice(t.baseUrl.length);
      const form = await boss.get(path);
      expect(form.status).toBe(200);
      const token = new URL(link).searchParams.get('token') ?? '';
      const set = await boss.post('/set-password', {
        _csrf: csrfTokenOf(form.body),
        token,
        password: PASSWORD,
        confirm: PASSWORD,
      });
      expect(set.status).toBe(200);
      expect((await boss.get(path)).body).not.toContain('name="password"');
      await boss.logIn('boss@example.com', PASSWORD);
      expect((await boss.get('/admin')).status).toBe(200);

      const again = await runCliWithEnv(
        t.database,
        {},
        'admin',
        'create',
        '--email',
        'not-an-address',
      );
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/not an e-mail address/);
    });
  });
}
