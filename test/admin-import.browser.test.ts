/**
 * Importing users from the admin area in a real browser (Debian's Chromium),
 * against the Ontraport fake: refresh the tag list, start an import of the
 * contacts with a tag, watch the progress bar (moved by admin.js) reach 100%,
 * and read the summary. Screenshots go to test-artifacts/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUserWithPassword } from './helpers/admin.js';
import { hasBrowser, launchBrowser, logInToAdmin } from './helpers/browser.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import {
  encodeContactCat,
  startFakeOntraport,
  type FakeOntraport,
} from './fakes/ontraport.fake.js';

const PASSWORD = 'juniper lantern basalt 27 harbor';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');
const TAGGED = 12;

for (const dialect of hasBrowser() ? testDialects() : []) {
  describe(`admin import in the browser (${dialect})`, () => {
    let browser: Browser;
    let t: TestService;
    let crm: FakeOntraport;
    let context: BrowserContext;
    let page: Page;

    const shot = async (name: string) => {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: path.join(ARTIFACTS, `admin-${dialect}-${name}.png`),
        fullPage: true,
      });
    };

    beforeAll(async () => {
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser.close();
    });
    beforeEach(async () => {
      crm = await startFakeOntraport({
        withSampleContact: false,
        rateLimit: { limit: 6_000, windowMs: 60_000 },
      });
      for (let i = 1; i <= TAGGED + 3; i += 1)
        crm.addContact({
          firstname: `Guest${i}`,
          email: `guest${i}@example.com`,
          contact_cat: encodeContactCat(i <= TAGGED ? ['3', '7'] : ['7']),
        });
      // Two contacts at a time, so the import takes a few of the page's polls.
      t = await startTestService(dialect, { env: { CRM_BRIDGE_WORKER_CONCURRENCY: '2' } });
      await t.addConnection({
        id: 'ont',
        type: 'ontraport',
        apiUrl: crm.apiUrl,
        settings: { app_id: crm.appId, api_key: crm.apiKey, rate_limit_per_minute: 6_000 },
        isDefault: true,
      });
      await createUserWithPassword(t.service.database.db, {
        login: 'owner',
        email: 'owner@example.com',
        role: 'administrator',
        password: PASSWORD,
      });
      context = await browser.newContext({ baseURL: t.baseUrl });
      page = await context.newPage();
      await logInToAdmin(page, 'owner', PASSWORD);
    });
    afterEach(async () => {
      await context.close();
      await t.close();
      await crm.close();
    });

    it('imports the contacts with a tag, the progress bar moving to 100%, and shows the summary', async () => {
      await page.getByRole('link', { name: 'CRM connections' }).click();
      await page.getByRole('link', { name: 'ont', exact: true }).click();
      await page.getByRole('button', { name: 'Refresh tag list' }).click();
      await page.getByRole('heading', { name: /Tags in the CRM/ }).waitFor();

      await page.getByRole('link', { name: 'Import', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Import users' }).waitFor();
      await page.getByLabel('Connection').selectOption('ont');
      await page.getByLabel('Contacts with the tag').check();
      // The stored tag labels are offered for the chosen connection.
      expect(await page.locator('#tags-0 option[value="Customer"]').count()).toBe(1);
      await page.getByLabel('Tag', { exact: true }).fill('Customer');
      await shot('import-form');
      // The CRM lists no tagged contact until the job's page is up, then answers slowly, so the
      // page watches the job run however slow the machine is.
      const release = crm.hold('/objects/tag');
      crm.latencyMs = 150;
      await page.getByRole('button', { name: 'Start import' }).click();
      await page.getByRole('heading', { level: 1, name: 'Import #1' }).waitFor();
      const bar = page.getByRole('progressbar', { name: 'Import #1 progress' });
      const seen = new Set<number>([Number(await bar.getAttribute('value'))]);
      release();
      let runningShot = false;
      await waitFor(
        'the progress bar to reach 100%',
        async () => {
          // admin.js sets the bar's value, which is its value attribute.
          const value = Number(await bar.getAttribute('value'));
          seen.add(value);
          if (value > 0 && value < 100 && !runningShot) {
            runningShot = true;
            await shot('import-running');
          }
          return value === 100;
        },
        60_000,
      );
      // admin.js moved it: the first page load showed the job still going.
      expect(Math.min(...seen)).toBeLessThan(100);
      // At the end the page reloads with the summary.
      await page.getByRole('heading', { name: 'Summary', exact: true }).waitFor();
      const summary = await page.locator('#import-summary').innerText();
      expect(summary).toMatch(new RegExp(`Created\\s+${TAGGED}`));
      expect(summary).toMatch(/Skipped\s+0/);
      expect(summary).toMatch(/Errors\s+0/);
      expect(await page.locator('[data-field="figures"]').innerText()).toBe(
        `${TAGGED}/${TAGGED} 100%`,
      );
      await shot('import-done');

      await page.getByRole('link', { name: 'All imports' }).click();
      const row = page.getByRole('row', { name: /#1/ });
      await expect(row.innerText()).resolves.toContain(`${TAGGED} / 0 / 0`);
      await expect(row.innerText()).resolves.toContain('contacts tagged "Customer"');
    });
  });
}
