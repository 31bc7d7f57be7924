/**
 * The Import users page over plain HTTP (a browser without script), against
 * the Ontraport fake: the tag list to choose from, starting an import, its
 * figures on every reload and as JSON, cancelling it, and bad input answered
 * with a 4xx on the page and an activity line, never a 500.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { getImportJob } from '../src/import/import-jobs.js';
import { createUserWithPassword, csrfTokenOf, PageClient } from './helpers/admin.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import {
  encodeContactCat,
  startFakeOntraport,
  type FakeOntraport,
} from './fakes/ontraport.fake.js';

const PASSWORD = 'velvet harbour cobalt 39 meadow';

for (const dialect of testDialects()) {
  describe(`admin import page (${dialect})`, () => {
    let t: TestService;
    let crm: FakeOntraport;
    let owner: PageClient;
    const db = () => t.service.database.db;

    const submit = async (page: string, action: string, fields: Record<string, string>) => {
      const token = csrfTokenOf((await owner.get(page)).body);
      return owner.post(action, { _csrf: token, ...fields });
    };
    const lastAdminLine = async () =>
      (await queryActivity(db(), { action: 'admin', limit: 1 }))[0]?.message;

    beforeEach(async () => {
      crm = await startFakeOntraport({
        withSampleContact: false,
        rateLimit: { limit: 6_000, windowMs: 60_000 },
      });
      t = await startTestService(dialect);
      await t.addConnection({
        id: 'ont',
        type: 'ontraport',
        apiUrl: crm.apiUrl,
        settings: { app_id: crm.appId, api_key: crm.apiKey, rate_limit_per_minute: 6_000 },
        isDefault: true,
      });
      await t.addConnection({ id: 'hooks', type: 'payload' });
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

    it('offers the stored tags, starts an import, shows current figures on every load and as JSON, and sums up', async () => {
      for (let i = 1; i <= 4; i += 1)
        crm.addContact({
          email: `buyer${i}@example.com`,
          contact_cat: encodeContactCat(i <= 3 ? ['3'] : ['7']),
        });
      // The tag list offered is the one "Refresh tag list" stored.
      await submit('/admin/connections/ont', '/admin/connections/ont/tags', {});
      const page = await owner.get('/admin/import');
      expect(page.status).toBe(200);
      expect(page.body).toContain('<a href="/admin/import" aria-current="page">Import</a>');
      expect(page.body).toMatch(/<datalist id="tags-0">.*<option value="Customer">/);
      expect(page.body).toContain('hooks (hooks, payload): cannot list contacts');

      const started = await submit('/admin/import', '/admin/import', {
        connection: 'ont',
        scope: 'tag',
        tag: 'customer',
      });
      expect(started.status).toBe(303);
      expect(started.location).toBe('/admin/import/1');
      expect(await lastAdminLine()).toBe(
        'owner: started import #1: contacts tagged "Customer" from "ont"',
      );

      // Without script, a reload shows where the job is; at the end, the summary.
      const job = await waitFor('the import to finish', async () => {
        const current = await getImportJob(db(), 1);
        return current?.status === 'done' ? current : undefined;
      });
      expect(job).toMatchObject({ total: 3, done: 3, errors: 0, startedBy: 'owner' });
      const detail = await owner.get('/admin/import/1');
      expect(detail.status).toBe(200);
      expect(detail.body).toContain('<progress max="100" value="100"');
      expect(detail.body).toContain('<span data-field="figures">3/3 100%</span>');
      expect(detail.body).toMatch(/<dt>Created<\/dt><dd>3<\/dd>/);
      expect(detail.body).not.toContain('Cancel import');
      const listed = await owner.get('/admin/import');
      expect(listed.body).toContain('<a href="/admin/import/1">#1</a>');
      expect(listed.body).toContain('3 / 0 / 0');

      const figures = await owner.request('GET', '/admin/import/1/progress');
      expect(JSON.parse(figures.body)).toEqual({
        id: 1,
        status: 'done',
        ended: true,
        total: 3,
        done: 3,
        errors: 0,
        percent: 100,
        figures: '3/3 100%',
      });
      expect((await owner.get('/admin/import/99/progress')).status).toBe(404);
      expect((await owner.get('/admin/import/99')).status).toBe(404);
    });

    it('cancels an import from its page, and refuses to cancel one that has ended', async () => {
      // The CRM is down for maintenance: the job waits to list its first page when it is cancelled.
      for (let i = 1; i <= 120; i += 1)
        crm.addContact({ email: `slow${i}@example.com`, contact_cat: encodeContactCat(['3']) });
      crm.failNext({ kind: 'status', status: 503, body: 'maintenance' }, 1, '/1/objects');
      const started = await submit('/admin/import', '/admin/import', {
        connection: 'ont',
        scope: 'all',
        tag: 'ignored when every contact is chosen',
      });
      expect(started.location).toBe('/admin/import/1');
      const page = await owner.get('/admin/import/1');
      expect(page.body).toContain('Cancel import #1');
      const cancelled = await owner.post('/admin/import/1/cancel', {
        _csrf: csrfTokenOf(page.body),
      });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toContain('Import #1 cancelled.');
      expect(cancelled.body).toContain('cancelled by owner');
      expect(await lastAdminLine()).toMatch(
        /^owner: cancelled import #1 \(every contact from "ont"\)/,
      );
      expect((await getImportJob(db(), 1))?.status).toBe('cancelled');

      const again = await owner.post('/admin/import/1/cancel', {
        _csrf: csrfTokenOf(cancelled.body),
      });
      expect(again.status).toBe(409);
      expect(again.body).toContain('The import has already ended, so it cannot be cancelled');
      expect(await lastAdminLine()).toMatch(/^owner: could not cancel import #1: /);
      const missing = await owner.post('/admin/import/42/cancel', {
        _csrf: csrfTokenOf(cancelled.body),
      });
      expect(missing.status).toBe(404);
      expect(missing.body).toContain('No import #42.');
    });

    it('refuses what cannot run with a 4xx on the page and an activity line', async () => {
      const cases: Array<[fields: Record<string, string>, status: number, shown: string]> = [
        [{ connection: 'hooks', scope: 'all' }, 422, 'This connection cannot list contacts'],
        [{ connection: 'ont', scope: 'tag', tag: 'No such tag' }, 404, 'The CRM has no such tag'],
        [{ connection: 'gone', scope: 'all' }, 404, 'No such CRM connection'],
        [{ connection: 'ont', scope: 'tag', tag: '  ' }, 400, 'Enter a tag, or choose'],
        [{ connection: '', scope: 'all' }, 400, 'Choose a connection.'],
      ];
      for (const [fields, status, shown] of cases) {
        const answer = await submit('/admin/import', '/admin/import', fields);
        expect(answer.status, shown).toBe(status);
        expect(answer.body, shown).toContain(shown);
        expect(answer.body, shown).toContain('role="alert"');
        expect(await lastAdminLine(), shown).toMatch(/^owner: import of .* not started: /);
      }
      expect((await owner.get('/admin/import/abc')).status).toBe(404);
      const badForm = await submit('/admin/import', '/admin/import', {
        connection: 'x'.repeat(100),
      });
      expect(badForm.status).toBe(400);
      expect(await getImportJob(db(), 1)).toBeUndefined();
    });
  });
}
