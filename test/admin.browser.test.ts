/**
 * The admin area in a real browser (Debian's Chromium), as a site owner uses
 * it against the test CRM's fake: log in, copy the webhook URL, reveal and
 * rotate the access key, run "Test webhooks", turn on Return Password with a
 * field the CRM lists, edit a field mapping, filter the activity log and
 * replay a failed webhook. Screenshots of each page go to test-artifacts/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { createUserWithPassword } from './helpers/admin.js';
import { hasBrowser, launchBrowser, logInToAdmin } from './helpers/browser.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';

const PASSWORD = 'amber tugboat quartz 64 willow';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');

for (const dialect of hasBrowser() ? testDialects() : []) {
  describe(`admin area in the browser (${dialect})`, () => {
    let browser: Browser;
    let t: TestService;
    let crm: FakeTestCrm;
    let context: BrowserContext;
    let page: Page;
    const db = () => t.service.database.db;

    const shot = async (name: string) => {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: path.join(ARTIFACTS, `admin-${dialect}-${name}.png`),
        fullPage: true,
      });
    };
    const section = (heading: string) =>
      page.locator('section').filter({ has: page.getByRole('heading', { name: heading }) });

    beforeAll(async () => {
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser.close();
    });
    beforeEach(async () => {
      crm = await startFakeTestCrm();
      crm.addContact({
        id: '101',
        email: 'ann@example.com',
        fields: { first_name: 'Ann', plan: 'gold' },
        tags: ['1', '2'],
      });
      t = await startTestService(dialect);
      await t.connectTestCrm(crm);
      await createUserWithPassword(db(), {
        login: 'owner',
        email: 'owner@example.com',
        role: 'administrator',
        password: PASSWORD,
      });
      context = await browser.newContext({ baseURL: t.baseUrl });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.baseUrl });
      page = await context.newPage();
      await logInToAdmin(page, 'owner', PASSWORD);
    });
    afterEach(async () => {
      await context.close();
      await t.close();
      await crm.close();
    });

    it('copies the webhook URL, reveals and rotates the key, and tests the webhooks', async () => {
      await shot('general');
      const crmSection = section('crm');
      const base = `${t.baseUrl}/webhooks/crm`;
      await expect(crmSection.getByLabel('Webhook base URL').inputValue()).resolves.toBe(base);
      await crmSection.getByRole('button', { name: 'Copy' }).first().click();
      await crmSection.getByRole('button', { name: 'Copied' }).waitFor();
      expect(await page.evaluate('navigator.clipboard.readText()')).toBe(base);

      // Hidden until revealed on purpose.
      expect(await page.content()).not.toContain(t.key);
      await page.getByRole('button', { name: 'Reveal access key' }).click();
      await expect(page.locator('input#access-key').inputValue()).resolves.toBe(t.key);
      const addUrl = await crmSection
        .getByRole('row', { name: /Create a user, or update/ })
        .getByRole('textbox')
        .inputValue();
      expect(addUrl).toBe(`${base}?wpf_action=add&access_key=${t.key}&contact_id=CONTACT_ID`);

      await page.getByRole('button', { name: 'Rotate access key' }).click();
      await page.getByText(/keeps working until/).waitFor();
      const newKey = await page.locator('input#access-key').inputValue();
      expect(newKey).not.toBe(t.key);
      expect(await page.getByRole('table').filter({ hasText: 'grace period' }).innerText()).toMatch(
        /valid until/,
      );
      await shot('rotated');
      // Both keys work during the grace period.
      for (const key of [t.key, newKey]) {
        expect((await t.webhook(`/?wpf_action=test&access_key=${key}`)).status).toBe(200);
      }

      await crmSection.getByRole('button', { name: 'Test webhooks' }).click();
      await page.getByText(/^Success: .* answered 200/).waitFor();
      await shot('test-webhooks');

      // The dashboard's chart is drawn server-side and counts the webhooks received.
      expect((await t.webhook(`/?wpf_action=add&access_key=${newKey}&contact_id=101`)).status).toBe(
        200,
      );
      await page.getByRole('link', { name: 'Dashboard' }).click();
      await page.locator('#webhook-chart svg').waitFor();
      expect(Number(await page.locator('#received-24h').innerText())).toBeGreaterThanOrEqual(1);
      expect(await page.locator('#webhook-chart svg polyline').count()).toBe(2);
      await shot('dashboard');
    });

    it('turns on Return Password with a CRM field and edits a field mapping', async () => {
      await page.getByRole('link', { name: 'Webhook settings' }).click();
      const rp = section('Return Password');
      await rp.getByLabel('Return Password: write generated passwords to the CRM').check();
      await rp.getByLabel('CRM field to write the generated password to').selectOption('password');
      await rp.getByRole('button', { name: 'Save Return Password' }).click();
      await page.getByText('Saved: Return Password of crm on, field password.').waitFor();
      await shot('settings');
      t.service.registry.invalidate();
      expect((await t.service.registry.resolve('crm')).returnPasswordField).toBe('password');

      await page.getByRole('link', { name: 'CRM connections' }).click();
      await page.getByRole('link', { name: 'crm', exact: true }).click();
      await page.getByLabel('plan maps to').fill('membership_plan');
      await page.getByRole('button', { name: 'Save mapping' }).click();
      await page.getByText('Field mapping saved.').waitFor();
      await expect(page.getByLabel('plan maps to').inputValue()).resolves.toBe('membership_plan');
      await shot('connection');
      t.service.registry.invalidate();
      expect((await t.service.registry.resolve('crm')).fieldMap.plan).toBe('membership_plan');

      // The next webhook uses it.
      const answer = await t.webhook(`/?wpf_action=add&access_key=${t.key}&contact_id=101`);
      expect(answer.body).toMatchObject({ status: 'done' });
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByLabel('Tag (label or id)').fill('VIP');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('link', { name: /^#\d+$/ }).click();
      expect(await page.locator('main').innerText()).toMatch(/membership_plan\s+gold/);
      await shot('user');
    });

    it('filters the activity log and replays a failed webhook', async () => {
      const failed = await t.webhook(`/?wpf_action=add&access_key=${t.key}&contact_id=999`);
      expect(failed.body).toMatchObject({ status: 'failed' });
      await t.webhook(`/?wpf_action=update_tags&access_key=${t.key}&contact_id=101`);
      crm.addContact({ id: '999', email: 'late@example.com', fields: {}, tags: [] });

      await page.getByRole('link', { name: 'Activity log' }).click();
      await page.getByLabel('Contact id').fill('999');
      await page.getByLabel('Level (and above)').selectOption('warning');
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      await page.waitForURL(/contact=999/);
      const entries = page.locator('#log-entries tbody tr');
      await waitFor('filtered entries', async () => (await entries.count()) > 0);
      for (const row of await entries.all()) {
        const cells = await row.locator('td').allInnerTexts();
        expect(cells[4]).toBe('999');
        expect(['warning', 'error']).toContain(cells[1]);
      }
      await shot('log');

      await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
      await page.getByLabel('Status').selectOption('failed');
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      await page.waitForURL(/status=failed/);
      const id = Number(failed.body.eventId);
      await page.getByRole('button', { name: `Replay #${id}` }).click();
      await page.getByText(new RegExp(`Replayed #${id} as #\\d+`)).waitFor();
      await shot('replayed');
      const heading = (await page.getByRole('heading', { level: 1 }).innerText()).replace(
        'Webhook #',
        '',
      );
      const replay = await waitFor('the replay to finish', async () => {
        const row = await findEvent(db(), Number(heading));
        return row && row.status !== 'pending' && row.status !== 'running' ? row : undefined;
      });
      expect(replay).toMatchObject({ status: 'done', replay_of: id });
    });
  });
}
