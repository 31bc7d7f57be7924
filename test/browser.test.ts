/**
 * The whole path a new user takes, in a real browser (Debian's Chromium):
 * a webhook creates the user and queues the welcome e-mail; the link in it
 * sets a password; the password logs in. Once from the `.eml` outbox of a
 * freshly started `crm-bridge serve`, once over SMTP with a reset link.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';
import { hasBrowser, launchBrowser } from './helpers/browser.js';
import { startTestService, type TestService } from './helpers/service.js';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.js';
import { waitFor } from './helpers/wait.js';

const LINK = /https?:\/\/\S+\/set-password\?token=[A-Za-z0-9_-]+/;
const OLD_PASSWORD = 'Old-Crm-Password-41';
const NEW_PASSWORD = 'violet-harbour-lantern-93';

async function setPassword(page: Page, link: string, password: string) {
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('New password again').fill(password);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page
    .getByRole('heading', { level: 1, name: 'Your password is set' })
    .waitFor({ timeout: 10_000 });
}

async function logIn(
  page: Page,
  baseUrl: string,
  login: string,
  password: string,
): Promise<string> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Username or e-mail address').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForLoadState('load');
  return (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
}

for (const dialect of hasBrowser() ? testDialects() : []) {
  describe(`a new user in the browser (${dialect})`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser.close();
    });

    describe('fresh install, no mail server', () => {
      let database: TestDatabase;
      let server: ServeProcess | undefined;
      let baseUrl = '';
      let key = '';

      beforeAll(async () => {
        database = await createTestDatabase(dialect);
        server = await startServe(database, {
          env: { CRM_BRIDGE_SETTING_SITE_NAME: 'Harbour Club' },
        });
        ({ baseUrl, accessKey: key } = server);
        expect(server.banner).toContain(`written to ${path.join(database.dataDir, 'outbox')}`);
      });
      afterAll(async () => {
        await server?.stop();
        await database.drop();
      });

      it('leaves an .eml whose link sets the password; the new password logs in and the old one no longer does', async () => {
        const query = new URLSearchParams({
          wpf_action: 'add',
          access_key: key,
          contact_id: '9001',
          email: 'marina@example.com',
          first_name: 'Marina',
          last_name: 'Quay',
          user_pass: OLD_PASSWORD,
          tags: 'Gold,Sailing',
          send_notification: 'true',
        });
        const answer = (await (await fetch(`${baseUrl}/?${query.toString()}`)).json()) as Record<
          string,
          unknown
        >;
        expect(answer).toMatchObject({ status: 'done', created: true, welcomeEmail: 'queued' });

        const outbox = path.join(database.dataDir, 'outbox');
        const file = await waitFor('the .eml in the outbox', () =>
          fs.existsSync(outbox)
            ? fs.readdirSync(outbox).find((name) => name.endsWith('.eml'))
            : undefined,
        );
        const message = await simpleParser(fs.readFileSync(path.join(outbox, file)));
        expect(message.subject).toBe('Your account at Harbour Club');
        const link = LINK.exec(message.text ?? '')?.[0] ?? '';
        expect(link.startsWith(`${baseUrl}/set-password?token=`)).toBe(true);

        const context = await browser.newContext();
        const page = await context.newPage();
        await setPassword(page, link, NEW_PASSWORD);
        expect(await logIn(page, baseUrl, 'marina@example.com', NEW_PASSWORD)).toBe('Your account');
        const account = await page.locator('main').innerText();
        expect(account).toContain('Marina Quay');
        expect(account).toContain('Gold');
        expect(account).toContain('Sailing');
        const cookie = (await context.cookies()).find(
          (entry) => entry.name === 'crm_bridge_session',
        );
        expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

        await page.getByRole('button', { name: 'Log out' }).click();
        await page.waitForLoadState('load');
        const other = await browser.newContext();
        const second = await other.newPage();
        expect(await logIn(second, baseUrl, 'marina@example.com', OLD_PASSWORD)).not.toBe(
          'Your account',
        );
        expect(await second.getByRole('alert').first().innerText()).toContain(
          'Unknown username or wrong password',
        );

        // The link worked once.
        await second.goto(link);
        expect(await second.getByRole('heading', { level: 1 }).textContent()).toBe(
          'This link was already used',
        );
        await context.close();
        await other.close();
      });
    });

    describe('over SMTP', () => {
      let smtp: TestSmtpServer;
      let t: TestService;
      afterEach(async () => {
        await t.close();
        await smtp.stop();
      });

      it('welcome link, then a lost password: an expired link is refused, a new one is requested and works', async () => {
        smtp = await startSmtpServer();
        t = await startTestService(dialect, {
          env: { CRM_BRIDGE_SMTP_URL: smtp.url, CRM_BRIDGE_SETTING_SITE_NAME: 'Harbour Club' },
        });
        const answer = await t.webhook(
          `/?wpf_action=add&access_key=${t.key}&contact_id=9100&email=otto@example.com&first_name=Otto&tags=Bronze&send_notification=true`,
        );
        expect(answer.body).toMatchObject({
          created: true,
          passwordGenerated: true,
          welcomeEmail: 'queued',
        });
        const [welcome] = await smtp.waitFor(1);
        expect(welcome?.envelopeTo).toEqual(['otto@example.com']);
        expect(welcome?.parsed.subject).toBe('Your account at Harbour Club');

        const context = await browser.newContext();
        const page = await context.newPage();
        await setPassword(page, LINK.exec(welcome?.parsed.text ?? '')?.[0] ?? '', NEW_PASSWORD);
        expect(await logIn(page, t.baseUrl, 'otto@example.com', NEW_PASSWORD)).toBe('Your account');
        await page.getByRole('button', { name: 'Log out' }).click();

        // Forgot it: ask for a link, and let it expire before it is used.
        await page.goto(`${t.baseUrl}/lost-password`);
        await page.getByLabel(/e-mail/i).fill('otto@example.com');
        await page.getByRole('button', { name: 'Send me a link' }).click();
        const [, reset] = await smtp.waitFor(2);
        expect(reset?.parsed.subject).toBe('Reset your password at Harbour Club');
        const expiredLink = LINK.exec(reset?.parsed.text ?? '')?.[0] ?? '';
        await t.service.database.db
          .updateTable('password_tokens')
          .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
          .where('purpose', '=', 'password_reset')
          .execute();
        await page.goto(expiredLink);
        expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
          'This link has expired',
        );

        await page.getByRole('link', { name: /new link/i }).click();
        await page.getByLabel(/e-mail/i).fill('otto@example.com');
        await page.getByRole('button', { name: 'Send me a link' }).click();
        const [, , fresh] = await smtp.waitFor(3);
        const SECOND_PASSWORD = 'copper-meadow-quartz-58';
        await setPassword(page, LINK.exec(fresh?.parsed.text ?? '')?.[0] ?? '', SECOND_PASSWORD);
        expect(await logIn(page, t.baseUrl, 'otto@example.com', NEW_PASSWORD)).not.toBe(
          'Your account',
        );
        expect(await logIn(page, t.baseUrl, 'otto@example.com', SECOND_PASSWORD)).toBe(
          'Your account',
        );
        expect(await page.locator('main').innerText()).toContain('Bronze');
        await context.close();
      });
    });
  });
}
