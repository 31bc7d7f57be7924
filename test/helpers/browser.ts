/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser).
 * CI installs it and requires it; elsewhere the browser tests say why they did not run.
 */
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { trackOpen } from './open-resources.js';

const candidates = [
  process.env.CRM_BRIDGE_TEST_CHROMIUM,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
];
const executablePath = candidates.find(
  (file): file is string => Boolean(file) && fs.existsSync(file ?? ''),
);

if (!executablePath && process.env.CI) {
  throw new Error(
    'CI must run the browser tests: install Debian\u2019s chromium package (.ci/run does)',
  );
}

/** True when a Chromium is installed; prints once why the browser tests are left out when it is not. */
export function hasBrowser(): boolean {
  if (!executablePath)
    console.warn(
      'Browser tests not run: install Chromium (apt-get install chromium) or set CRM_BRIDGE_TEST_CHROMIUM',
    );
  return executablePath !== undefined;
}

export async function launchBrowser(): Promise<Browser> {
  if (!executablePath) throw new Error('no Chromium found');
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // This machine has no outside network: keep Chromium from trying to reach it.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  browser.once('disconnected', trackOpen('a Chromium browser'));
  return browser;
}

/** Logs in through the ordinary login page, starting at /admin, and waits for the admin area's first page. */
export async function logInToAdmin(page: Page, login: string, password: string): Promise<void> {
  await page.goto('/admin');
  await page.getByLabel('Username or e-mail address').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'General' }).waitFor();
}
