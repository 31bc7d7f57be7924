/**
 * The account pages over real HTTP, as a browser without JavaScript uses
 * them: cookies kept by hand, CSRF tokens taken from the forms, redirects
 * not followed.
 */
import type { AddressInfo } from 'node:net';
import { Tokens } from '@fastify/csrf';
import { afterEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { createPasswordToken } from '../src/accounts/password-tokens.repository.js';
import { hashPassword, verifyPassword } from '../src/directory/passwords.js';
import { findUserByEmail, findUserById, updateUser } from '../src/directory/user.repository.js';
import { testDialects } from './helpers/databases.js';
import { ARGON2ID_PREFIX, legacyScryptHash } from './helpers/passwords.js';
import { startTestService, type TestService } from './helpers/service.js';

const NEW_PASSWORD = 'lantern orbit pickle 47 tractor';
const KNOWN_PASSWORD = 'harbor velvet quantum 19 meadow';
const HOUR = 3_600_000;

interface Page {
  status: number;
  headers: Headers;
  body: string;
  location: string | null;
  cookies: string[];
}

/** A browser: a cookie jar and forms submitted with the CSRF token they carry. */
class Browser {
  readonly jar = new Map<string, string>();

  constructor(
    private readonly baseUrl: string,
    private readonly extraHeaders: Record<string, string> = {},
  ) {}

  async request(
    method: 'GET' | 'POST',
    path: string,
    body?: URLSearchParams | string,
    headers: Record<string, string> = {},
  ): Promise<Page> {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(this.baseUrl + path, {
      method,
      redirect: 'manual',
      headers: { ...this.extraHeaders, ...(cookie ? { cookie } : {}), ...headers },
      body: body ?? null,
    });
    const cookies = response.headers.getSetCookie();
    for (const line of cookies) {
      const [pair = ''] = line.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return {
      status: response.status,
      headers: response.headers,
      body: await response.text(),
      location: response.headers.get('location'),
      cookies,
    };
  }

  get(path: string, headers?: Record<string, string>): Promise<Page> {
    return this.request('GET', path, undefined, headers);
  }

  /** Opens `formPath`, then posts its form with `fields` (and the form's own hidden fields). */
  async submit(
    formPath: string,
    fields: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<Page> {
    const form = await this.get(formPath, headers);
    expect(form.status, `form at ${formPath}`).toBe(200);
    return this.post(actionOf(form.body), { ...hiddenFields(form.body), ...fields }, headers);
  }

  post(
    path: string,
    fields: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<Page> {
    return this.request('POST', path, new URLSearchParams(fields), headers);
  }
}

function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[match[1]!] = match[2]!
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  }
  return fields;
}

function actionOf(html: string): string {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error('no form on the page');
  return action;
}

function cookieLine(page: Page, name: string): string {
  const line = page.cookies.find((cookie) => cookie.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} cookie set`);
  return line;
}

/** The accessibility basics every page keeps: a language, one h1, a label for every visible input. */
function expectAccessible(html: string): void {
  expect(html).toMatch(/<html lang="en">/);
  expect(html.match(/<h1>/g)).toHaveLength(1);
  for (const input of html.matchAll(
    /<input (?![^>]*type="hidden")(?:[^>]* )?id="([^"]+)"[^>]*>/g,
  )) {
    expect(html, `label for ${input[1]}`).toContain(`<label for="${input[1]}">`);
    expect(input[0]).toMatch(/autocomplete="[a-z-]+"/);
  }
  expect(html).not.toMatch(/<script|<link |src="http/);
}

for (const dialect of testDialects()) {
  describe(`account pages (${dialect})`, () => {
    let t: TestService;
    const db = () => t.service.database.db;

    const start = async (env: Record<string, string> = {}) => {
      t = await startTestService(dialect, { env });
      return new Browser(t.baseUrl);
    };
    afterEach(async () => {
      await t.close();
    });

    /** A user made by a real webhook: with `password`, that one; without, a generated one. */
    const addUser = async (
      email: string,
      options: { password?: string; contactId?: string; tags?: string } = {},
    ) => {
      const query = new URLSearchParams({
        wpf_action: 'add',
        access_key: t.key,
        contact_id: options.contactId ?? '7',
        email,
        first_name: 'Jane',
        last_name: 'Doe',
      });
      if (options.tags) query.set('tags', options.tags);
      if (options.password) query.set('user_pass', options.password);
      const answer = await t.webhook(`/?${query.toString()}`);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const user = await findUserByEmail(db(), email);
      if (!user) throw new Error('user not created');
      return user;
    };
    /** A user whose password was generated, but is known to the test. */
    const addGeneratedUser = async (email: string, password: string) => {
      const user = await addUser(email, { tags: 'vip' });
      expect(user.password_generated).toBe(1);
      await updateUser(db(), user.id, { password_hash: await hashPassword(password) });
      return user;
    };
    const logIn = (browser: Browser, identifier: string, password: string, path = '/login') =>
      browser.submit(path, { identifier, password });
    const mailRows = () => db().selectFrom('mail_queue').selectAll().execute();

    it('sets the password with a valid link, and only the new password logs in afterwards', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const token = await createPasswordToken(
        db(),
        { userId: user.id, purpose: 'welcome', ttlMs: HOUR },
        new Date(),
      );

      const form = await browser.get(`/set-password?token=${token.raw}`);
      expect(form.status).toBe(200);
      expect(form.body).toContain('For jane@example.com.');
      expect(form.body).toMatch(
        /<input id="password" name="password" type="password" autocomplete="new-password"/,
      );
      expectAccessible(form.body);
      // Opening the link twice (a mail scanner, then the person) spends nothing.
      expect((await browser.get(`/set-password?token=${token.raw}`)).status).toBe(200);

      const done = await browser.post('/set-password', {
        ...hiddenFields(form.body),
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(done.status).toBe(200);
      expect(done.body).toContain('<h1>Your password is set</h1>');
      expect(done.body).toContain('href="/login?username=jane%40example.com"');
      expect(browser.jar.has('crm_bridge_session')).toBe(false);

      expect((await logIn(new Browser(t.baseUrl), 'jane@example.com', KNOWN_PASSWORD)).status).toBe(
        401,
      );
      expect((await logIn(new Browser(t.baseUrl), 'jane@example.com', NEW_PASSWORD)).status).toBe(
        303,
      );
      const activity = await queryActivity(db(), { userId: user.id, action: 'password' });
      expect(activity.map((entry) => [entry.level, entry.message])).toEqual([
        ['info', 'Password set via welcome link'],
      ]);

      const again = await browser.get(`/set-password?token=${token.raw}`);
      expect(again.status).toBe(410);
      expect(again.body).toContain('<h1>This link was already used</h1>');
      expect(again.body).toContain('href="/lost-password"');
      expect(again.body).toContain('href="/login"');
    });

    it('shows the form again with announced errors for mismatched or weak passwords, keeping the link usable', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com');
      const token = await createPasswordToken(
        db(),
        { userId: user.id, purpose: 'password_reset', ttlMs: HOUR },
        new Date(),
      );
      const formPath = `/set-password?token=${token.raw}`;

      const mismatch = await browser.submit(formPath, {
        password: NEW_PASSWORD,
        confirm: `${NEW_PASSWORD}!`,
      });
      expect(mismatch.status).toBe(422);
      expect(mismatch.body).toContain(
        '<div id="confirm-error" class="error" role="alert">The two passwords do not match.</div>',
      );
      expect(mismatch.body).toMatch(
        /<input id="confirm" [^>]*aria-describedby="confirm-error" aria-invalid="true">/,
      );
      expectAccessible(mismatch.body);

      const weak = await browser.submit(formPath, {
        password: 'Jane.Doe.2024!',
        confirm: 'Jane.Doe.2024!',
      });
      expect(weak.status).toBe(422);
      expect(weak.body).toMatch(
        /<div id="password-error" class="error" role="alert"><ul><li>This password is too easy to guess.<\/li>/,
      );
      expect(weak.body).toMatch(
        /<input id="password" [^>]*aria-describedby="password-hint password-error" aria-invalid="true">/,
      );
      expect(weak.body).not.toContain('Jane.Doe.2024!');

      const short = await browser.submit(formPath, { password: 'k7#Qz!', confirm: 'k7#Qz!' });
      expect(short.status).toBe(422);
      expect(short.body).toContain('Use at least 10 characters.');

      const done = await browser.submit(formPath, {
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(done.status).toBe(200);
      const activity = await queryActivity(db(), { userId: user.id, action: 'password' });
      expect(activity.map((entry) => entry.message)).toEqual(['Password set via reset link']);
    });

    it('explains expired, unknown and missing links, each with a way to get a new one', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com');
      const past = new Date(Date.now() - 2 * HOUR);
      const expired = await createPasswordToken(
        db(),
        { userId: user.id, purpose: 'welcome', ttlMs: HOUR },
        past,
      );

      const page = await browser.get(`/set-password?token=${expired.raw}`);
      expect(page.status).toBe(410);
      expect(page.body).toContain('<h1>This link has expired</h1>');
      expect(page.body).toContain('href="/lost-password"');
      expectAccessible(page.body);

      // A form opened in time and submitted late gets the same answer, and changes nothing.
      const valid = await browser.get(
        `/set-password?token=${(await createPasswordToken(db(), { userId: user.id, purpose: 'welcome', ttlMs: HOUR }, new Date())).raw}`,
      );
      const late = await browser.post('/set-password', {
        ...hiddenFields(valid.body),
        token: expired.raw,
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(late.status).toBe(410);
      expect((await findUserByEmail(db(), 'jane@example.com'))?.password_hash).toBe(
        user.password_hash,
      );

      const unknown = await browser.get('/set-password?token=not-a-real-token');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toContain('<h1>This link is not valid</h1>');
      expect(unknown.body).toContain('href="/lost-password"');

      const missing = await browser.get('/set-password');
      expect(missing.status).toBe(400);
      expect(missing.body).toContain('<h1>This link is not valid</h1>');
    });

    it('logs in with a session cookie (HttpOnly, SameSite=Lax) and shows the account with name and tags', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD, tags: 'vip,gold' });
      const loginForm = await browser.get('/login');
      expectAccessible(loginForm.body);
      expect(loginForm.body).toContain('autocomplete="current-password"');
      expect(loginForm.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(loginForm.headers.get('x-frame-options')).toBe('DENY');
      expect(loginForm.headers.get('referrer-policy')).toBe('no-referrer');
      expect(loginForm.headers.get('cache-control')).toBe('no-store');
      expect(loginForm.headers.get('x-content-type-options')).toBe('nosniff');

      const login = await logIn(browser, 'JANE@example.com', KNOWN_PASSWORD);
      expect(login.status).toBe(303);
      expect(login.location).toBe('/account');
      const cookie = cookieLine(login, 'crm_bridge_session');
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; SameSite=Lax/);
      expect(cookie).toMatch(/; Path=\//);
      expect(cookie).toMatch(/; Max-Age=1209600/);
      expect(cookie).not.toMatch(/Secure/);

      const account = await browser.get('/account');
      expect(account.status).toBe(200);
      expect(account.body).toContain('<dt>Name</dt><dd>Jane Doe</dd>');
      expect(account.body).toContain('<dt>Username</dt><dd>jane@example.com</dd>');
      expect(account.body).toContain('<li>vip</li>');
      expect(account.body).toContain('<li>gold</li>');
      expect(account.body).toContain('href="/account/password"');
      expectAccessible(account.body);

      const user = (await findUserByEmail(db(), 'jane@example.com'))!;
      await updateUser(db(), user.id, { display_name: '<script>alert(1)</script>' });
      const escaped = await browser.get('/account');
      expect(escaped.body).toContain('<dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>');
      expect(escaped.body).not.toContain('<script>');

      // Logged in already: the login page sends the user on.
      const again = await browser.get('/login');
      expect(again.status).toBe(303);
      expect(again.location).toBe('/account');
    });

    it('marks the cookie Secure behind an https proxy and returns to the site URL, ignoring redirects elsewhere', async () => {
      await start({
        CRM_BRIDGE_TRUST_PROXY: '1',
        CRM_BRIDGE_SETTING_SITE_URL: 'https://members.example.org/',
      });
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const browser = new Browser(t.baseUrl, { 'x-forwarded-proto': 'https' });

      expect(
        cookieLine(
          await new Browser(t.baseUrl, { 'x-forwarded-proto': 'https' }).get('/login'),
          'crm_bridge_csrf',
        ),
      ).toMatch(/; Secure/);
      const login = await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);
      expect(login.status).toBe(303);
      expect(login.location).toBe('https://members.example.org/');
      expect(cookieLine(login, 'crm_bridge_session')).toMatch(/; Secure/);
      expect(login.headers.get('content-security-policy')).toContain(
        "form-action 'self' https://members.example.org;",
      );

      const attempts: Array<[string, string]> = [
        ['/courses/1?tab=2', '/courses/1?tab=2'],
        ['https://members.example.org/shop', 'https://members.example.org/shop'],
        ['//evil.example', 'https://members.example.org/'],
        ['https://evil.example', 'https://members.example.org/'],
        ['/\\evil.example', 'https://members.example.org/'],
        ['https://members.example.org.evil.example/', 'https://members.example.org/'],
        ['/\t/evil.example', 'https://members.example.org/'],
        ['/kurse/€', 'https://members.example.org/'],
      ];
      for (const [redirectTo, expected] of attempts) {
        const viaLink = await logIn(
          new Browser(t.baseUrl),
          'jane@example.com',
          KNOWN_PASSWORD,
          `/login?redirect_to=${encodeURIComponent(redirectTo)}`,
        );
        expect(viaLink.location, redirectTo).toBe(expected);
        // A crafted form is checked as well, not only the link that fills the hidden field.
        const viaForm = await new Browser(t.baseUrl).submit('/login', {
          identifier: 'jane@example.com',
          password: KNOWN_PASSWORD,
          redirect_to: redirectTo,
        });
        expect(viaForm.location, redirectTo).toBe(expected);
      }
    });

    it('sends a user with a generated password to choose their own, once', async () => {
      const browser = await start();
      const user = await addGeneratedUser('gen@example.com', 'generated-for-the-test-81');

      const login = await logIn(
        browser,
        'gen@example.com',
        'generated-for-the-test-81',
        '/login?redirect_to=%2Fcourses',
      );
      expect(login.location).toBe('/account/password?redirect_to=%2Fcourses');
      const account = await browser.get('/account');
      expect(account.status).toBe(303);
      expect(account.location).toBe('/account/password');

      const form = await browser.get('/account/password?redirect_to=%2Fcourses');
      expect(form.body).toContain('Your password was generated for you; choose your own');
      expect(form.body).not.toContain('current_password');
      expectAccessible(form.body);
      const same = await browser.post('/account/password', {
        ...hiddenFields(form.body),
        password: 'generated-for-the-test-81',
        confirm: 'generated-for-the-test-81',
      });
      expect(same.status).toBe(422);

      const changed = await browser.post('/account/password', {
        ...hiddenFields(form.body),
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(changed.status).toBe(303);
      expect(changed.location).toBe('/courses');
      expect((await findUserByEmail(db(), 'gen@example.com'))?.password_generated).toBe(0);
      expect((await browser.get('/account')).status).toBe(200);

      const next = await logIn(new Browser(t.baseUrl), 'gen@example.com', NEW_PASSWORD);
      expect(next.location).toBe('/account');
      const activity = await queryActivity(db(), { userId: user.id, action: 'password' });
      expect(activity.map((entry) => entry.message)).toEqual([
        'Password chosen after the first login',
      ]);
    });

    it('logs in a user whose password was stored as scrypt, and stores it as argon2id from then on', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      expect(user.password_hash.startsWith(ARGON2ID_PREFIX)).toBe(true);
      const legacy = legacyScryptHash(KNOWN_PASSWORD);
      await updateUser(db(), user.id, { password_hash: legacy });

      expect(
        (await logIn(new Browser(t.baseUrl), 'jane@example.com', 'not the password 1')).status,
      ).toBe(401);
      expect((await findUserById(db(), user.id))?.password_hash).toBe(legacy);
      expect((await logIn(browser, 'jane@example.com', KNOWN_PASSWORD)).status).toBe(303);
      const upgraded = (await findUserById(db(), user.id))?.password_hash ?? '';
      expect(upgraded.startsWith(ARGON2ID_PREFIX)).toBe(true);
      expect(await verifyPassword(KNOWN_PASSWORD, upgraded)).toBe(true);
      expect((await logIn(new Browser(t.baseUrl), 'jane@example.com', KNOWN_PASSWORD)).status).toBe(
        303,
      );
    });

    it('changes a password only with the current one, and ends the other sessions', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const phone = new Browser(t.baseUrl);
      await logIn(phone, 'jane@example.com', KNOWN_PASSWORD);
      await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);

      const wrong = await browser.submit('/account/password', {
        current_password: 'not my password',
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(wrong.status).toBe(422);
      expect(wrong.body).toContain('Your current password is not correct.');

      const changed = await browser.submit('/account/password', {
        current_password: KNOWN_PASSWORD,
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      expect(changed.status).toBe(303);
      expect(changed.location).toBe('/account?notice=password-changed');
      const account = await browser.get(changed.location!);
      expect(account.body).toContain(
        '<p class="notice" role="status">Your password was changed.</p>',
      );
      expect((await phone.get('/account')).status).toBe(303);
    });

    it('ends the user\u2019s logins when the CRM changes the password (and not when it sends the same one again)', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);
      const update = (password: string) =>
        t.webhook(
          `/?${new URLSearchParams({ wpf_action: 'update', access_key: t.key, contact_id: '7', email: 'jane@example.com', user_pass: password }).toString()}`,
        );

      expect((await update(KNOWN_PASSWORD)).body).toMatchObject({ status: 'done', changes: [] });
      expect((await browser.get('/account')).status).toBe(200);
      expect((await update(NEW_PASSWORD)).body).toMatchObject({
        status: 'done',
        changes: ['password'],
      });
      expect((await browser.get('/account')).status).toBe(303);
      expect((await logIn(new Browser(t.baseUrl), 'jane@example.com', NEW_PASSWORD)).status).toBe(
        303,
      );
    });

    it('logs out with a button (GET changes nothing), after which the old cookie opens nothing', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);
      const oldSession = browser.jar.get('crm_bridge_session')!;

      const confirm = await browser.get('/logout');
      expect(confirm.status).toBe(200);
      expect(confirm.body).toContain('<button type="submit">Log out</button>');
      expect((await browser.get('/account')).status).toBe(200);

      const out = await browser.post('/logout', hiddenFields(confirm.body));
      expect(out.status).toBe(200);
      expect(out.body).toContain('<h1>You are logged out</h1>');
      expect(cookieLine(out, 'crm_bridge_session')).toMatch(/^crm_bridge_session=;/);

      const replay = new Browser(t.baseUrl);
      replay.jar.set('crm_bridge_session', oldSession);
      const account = await replay.get('/account');
      expect(account.status).toBe(303);
      expect(account.location).toBe('/login?redirect_to=%2Faccount');
    });

    it('notes when a session was last seen, writing at most once a minute', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);
      const lastSeen = async () =>
        (await db().selectFrom('sessions').select('last_seen_at').executeTakeFirstOrThrow())
          .last_seen_at;
      const setLastSeen = (msAgo: number) =>
        db()
          .updateTable('sessions')
          .set({ last_seen_at: new Date(Date.now() - msAgo).toISOString() })
          .execute();

      await setLastSeen(30_000);
      const recent = await lastSeen();
      await browser.get('/account');
      expect(await lastSeen()).toBe(recent);

      await setLastSeen(120_000);
      const before = Date.now();
      await browser.get('/account');
      expect(Date.parse(await lastSeen())).toBeGreaterThanOrEqual(before - 1000);
    });

    it('answers a storage failure with a 503 page, without details, and logs it', async () => {
      const browser = await start();
      const form = await browser.get('/login');
      await db().schema.dropTable('rate_limits').execute();
      const failed = await browser.post('/login', {
        ...hiddenFields(form.body),
        identifier: 'jane@example.com',
        password: KNOWN_PASSWORD,
      });
      expect(failed.status).toBe(503);
      expect(failed.headers.get('content-type')).toMatch(/^text\/html/);
      expect(failed.headers.get('retry-after')).toBe('30');
      expect(failed.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(failed.body).toContain('<h1>Temporarily unavailable</h1>');
      expect(failed.body).not.toMatch(/rate_limits|at .*\.ts|Error/);
      expect(t.logLines.join('\n')).toContain('account page failed');
    });

    it('refuses forms without a valid CSRF token with a 403 page, and odd bodies with a 400 page', async () => {
      const browser = await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const noCookie = await new Browser(t.baseUrl).post('/login', {
        identifier: 'jane@example.com',
        password: KNOWN_PASSWORD,
      });
      expect(noCookie.status).toBe(403);
      expect(noCookie.body).toContain('The form has expired; reload the page and try again.');
      expect(noCookie.headers.get('content-type')).toMatch(/^text\/html/);

      const form = await browser.get('/login');
      const noToken = await browser.post('/login', {
        identifier: 'jane@example.com',
        password: KNOWN_PASSWORD,
      });
      expect(noToken.status).toBe(403);
      const forged = await browser.post('/login', {
        _csrf: 'forged-token',
        identifier: 'jane@example.com',
        password: KNOWN_PASSWORD,
      });
      expect(forged.status).toBe(403);
      expect(browser.jar.has('crm_bridge_session')).toBe(false);

      const { _csrf } = hiddenFields(form.body);
      const repeated = await browser.request(
        'POST',
        '/login',
        `_csrf=${_csrf}&identifier=a&identifier=b&password=x`,
        {
          'content-type': 'application/x-www-form-urlencoded',
        },
      );
      expect(repeated.status).toBe(400);
      expect(repeated.body).toContain('<h1>The request is not valid</h1>');
      // An unreadable body carries no readable token either.
      const malformed = await browser.request('POST', '/lost-password', '{"_csrf":', {
        'content-type': 'application/json',
      });
      expect(malformed.status).toBe(403);
      const query = await browser.get('/set-password?token=a&token=b');
      expect(query.status).toBe(400);

      // Each refusal is a line in the activity log, without the values sent.
      const refused = await queryActivity(db(), { action: 'page' });
      expect(refused.map((row) => row.message)).toEqual(
        expect.arrayContaining([
          'Refused POST /login: missing or stale form token',
          expect.stringMatching(/^Refused POST \/login: The request is not valid/),
          'Refused GET /set-password: The request is not valid: unexpected value for "token"',
        ]),
      );
      expect(JSON.stringify(refused)).not.toContain(KNOWN_PASSWORD);
    });

    it('refuses a CSRF cookie it did not sign, even with a token made for it (a planted cookie)', async () => {
      await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const tokens = new Tokens({ userInfo: false });
      const plantedSecret = tokens.secretSync();
      const planted = new Browser(t.baseUrl);
      planted.jar.set('crm_bridge_csrf', plantedSecret);
      const forged = await planted.post('/login', {
        _csrf: tokens.create(plantedSecret),
        identifier: 'jane@example.com',
        password: KNOWN_PASSWORD,
      });
      expect(forged.status).toBe(403);
      expect(planted.jar.has('crm_bridge_session')).toBe(false);
      // The cookie the service sets is signed, and its own forms go through.
      const genuine = new Browser(t.baseUrl);
      expect((await logIn(genuine, 'jane@example.com', KNOWN_PASSWORD)).status).toBe(303);
      expect(genuine.jar.get('crm_bridge_csrf')).toMatch(/^[^.]+\.[^.]+$/);
    });

    it('names the CSRF cookie __Host-… (Secure, Path=/, no Domain) under an https public URL, and logs in with it', async () => {
      await start({ CRM_BRIDGE_PUBLIC_URL: 'https://bridge.example.org' });
      // The public URL names the proxy in front; the test talks to the service behind it.
      const local = `http://127.0.0.1:${(t.service.app.server.address() as AddressInfo).port}`;
      const query = new URLSearchParams({
        wpf_action: 'add',
        access_key: t.key,
        contact_id: '7',
        email: 'jane@example.com',
        user_pass: KNOWN_PASSWORD,
      });
      expect((await fetch(`${local}/?${query.toString()}`)).status).toBe(200);
      const browser = new Browser(local);
      const line = cookieLine(await browser.get('/login'), '__Host-crm_bridge_csrf');
      expect(line).toMatch(/; Secure/);
      expect(line).toMatch(/; Path=\/(;|$)/);
      expect(line).not.toMatch(/Domain=/i);
      expect((await logIn(browser, 'jane@example.com', KNOWN_PASSWORD)).status).toBe(303);
    });

    it('answers lost-password requests identically for known and unknown addresses, mailing only the known one', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com');
      const known = await browser.submit('/lost-password', { identifier: 'jane@example.com' });
      const unknown = await browser.submit('/lost-password', { identifier: 'nobody@example.com' });
      expect(known.status).toBe(200);
      expect(unknown.status).toBe(200);
      expect(unknown.body).toBe(known.body);
      expect(known.body).toContain(
        'If an account exists for that address, we have sent a link to reset its password. It expires in 24 hours.',
      );
      expectAccessible(known.body);

      const rows = await mailRows();
      expect(rows.map((row) => [row.kind, row.user_id, row.to_address])).toEqual([
        ['password_reset', user.id, 'jane@example.com'],
      ]);
      const activity = await queryActivity(db(), { action: 'reset' });
      expect(activity.map((entry) => [entry.level, entry.user_id])).toEqual([
        ['notice', null],
        ['info', user.id],
      ]);
    });

    it('does not write the name typed into the lost-password form to the process log or the activity log', async () => {
      const browser = await start();
      await addUser('jane@example.com');
      // Typed by mistake: a password, or someone else's address. Neither may end up in a log.
      const typed = ['Typed-Secret-77 horse', 'Someone.Else@example.net'];
      for (const identifier of typed)
        expect((await browser.submit('/lost-password', { identifier })).status).toBe(200);
      const logs = t.logLines.join('\n');
      const activity = JSON.stringify(await queryActivity(db(), {}));
      for (const identifier of typed) {
        for (const form of [identifier, identifier.toLowerCase(), encodeURIComponent(identifier)]) {
          expect(logs).not.toContain(form);
          expect(activity).not.toContain(form);
        }
      }
    });

    it('stops queueing reset e-mails over the per-account limit, answering the same', async () => {
      const browser = await start({ CRM_BRIDGE_SETTING_RESET_LIMIT_PER_ACCOUNT: '2' });
      const user = await addUser('jane@example.com');
      const answers: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const page = await browser.submit('/lost-password', {
          identifier: i === 1 ? 'jane@example.com' : 'JANE@example.com',
        });
        expect(page.status).toBe(200);
        answers.push(page.body);
      }
      expect(new Set(answers).size).toBe(1);
      expect(await mailRows()).toHaveLength(2);
      const suppressed = await queryActivity(db(), {
        userId: user.id,
        action: 'reset',
        level: 'warning',
      });
      expect(suppressed).toHaveLength(1);
    });

    it('limits reset requests per client address with a 429 page', async () => {
      const browser = await start({ CRM_BRIDGE_SETTING_RESET_LIMIT_PER_IP: '2' });
      await addUser('jane@example.com');
      for (let i = 0; i < 2; i += 1)
        expect(
          (await browser.submit('/lost-password', { identifier: `someone${i}@example.com` }))
            .status,
        ).toBe(200);
      const limited = await browser.submit('/lost-password', { identifier: 'jane@example.com' });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toMatch(
        /Too many requests from your network\. Please try again in (\d+ minutes|1 hour)\./,
      );
      expect(
        (await browser.submit('/lost-password', { identifier: 'jane@example.com' })).status,
      ).toBe(429);
      expect(await mailRows()).toHaveLength(0);
      // One warning per window, however many requests are refused.
      expect(await queryActivity(db(), { action: 'reset', level: 'warning' })).toHaveLength(1);
    });

    it('limits logins per client address: over the limit even the right password is refused with 429', async () => {
      const browser = await start({ CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '3' });
      const user = await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      for (let i = 0; i < 3; i += 1) {
        const failed = await logIn(browser, 'jane@example.com', `wrong password ${i}`);
        expect(failed.status).toBe(401);
        expect(failed.body).toContain('Unknown username or wrong password');
      }
      const limited = await logIn(browser, 'jane@example.com', KNOWN_PASSWORD);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toContain(
        '<div id="form-error" class="error" role="alert">Too many login attempts.',
      );
      expect(browser.jar.has('crm_bridge_session')).toBe(false);
      expect((await logIn(browser, 'jane@example.com', KNOWN_PASSWORD)).status).toBe(429);
      // Refusals are noted once per window, not once per attempt.
      const activity = await queryActivity(db(), { userId: user.id, action: 'login' });
      expect(activity.map((entry) => entry.level)).toEqual([
        'warning',
        'notice',
        'notice',
        'notice',
      ]);
    });

    it('behind one proxy, counts the address the proxy saw: a rotated X-Forwarded-For gets no fresh budget (spoofed client addresses)', async () => {
      await start({ CRM_BRIDGE_TRUST_PROXY: '1', CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '2' });
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      // The client writes the leftmost entries; the proxy appends the address it saw.
      const spoofing = (leftmost: string) =>
        new Browser(t.baseUrl, { 'x-forwarded-for': `${leftmost}, 198.51.100.7` });
      for (let i = 0; i < 2; i += 1)
        expect(
          (await logIn(spoofing(`203.0.113.${i}`), 'jane@example.com', `wrong password ${i}`))
            .status,
        ).toBe(401);
      expect(
        (await logIn(spoofing('203.0.113.99'), 'jane@example.com', KNOWN_PASSWORD)).status,
      ).toBe(429);
      // Another visitor behind the same proxy keeps their own budget.
      expect(
        (
          await logIn(
            new Browser(t.baseUrl, { 'x-forwarded-for': '198.51.100.8' }),
            'jane@example.com',
            KNOWN_PASSWORD,
          )
        ).status,
      ).toBe(303);
    });

    it('lets at most login_limit_per_account of 12 parallel wrong logins reach the password hash (regression: checked, hashed, then counted)', async () => {
      await start();
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const forms = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const browser = new Browser(t.baseUrl);
          return { browser, form: await browser.get('/login') };
        }),
      );
      const answers = await Promise.all(
        forms.map(({ browser, form }, i) =>
          browser.post('/login', {
            ...hiddenFields(form.body),
            identifier: 'jane@example.com',
            password: `wrong password ${i}`,
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      // 401 means the password was compared; the default limit is 5.
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
      expect(statuses.filter((status) => status !== 401).every((status) => status === 429)).toBe(
        true,
      );
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(7);
    });

    it('limits failed logins per account, from any address, and answers unknown names like wrong passwords', async () => {
      await start({ CRM_BRIDGE_TRUST_PROXY: '1', CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_ACCOUNT: '2' });
      await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const from = (ip: string) => new Browser(t.baseUrl, { 'x-forwarded-for': ip });

      const unknownName = await logIn(from('203.0.113.9'), 'nobody@example.com', KNOWN_PASSWORD);
      const wrongPassword = await logIn(from('203.0.113.1'), 'jane@example.com', 'wrong password');
      expect(unknownName.status).toBe(401);
      expect(wrongPassword.status).toBe(401);
      expect(unknownName.body.replace(/value="[^"]*"/g, '')).toBe(
        wrongPassword.body.replace(/value="[^"]*"/g, ''),
      );

      await logIn(from('203.0.113.2'), 'jane@example.com', 'wrong password');
      const limited = await logIn(from('203.0.113.3'), 'jane@example.com', KNOWN_PASSWORD);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('never writes the link token or a password to the process log or the activity log', async () => {
      const browser = await start();
      const user = await addUser('jane@example.com', { password: KNOWN_PASSWORD });
      const token = await createPasswordToken(
        db(),
        { userId: user.id, purpose: 'welcome', ttlMs: HOUR },
        new Date(),
      );
      await browser.submit(`/set-password?token=${token.raw}`, {
        password: 'weak',
        confirm: 'weak',
      });
      await browser.submit(`/set-password?token=${token.raw}`, {
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      await logIn(browser, 'jane@example.com', 'a wrong guess 123');
      await logIn(browser, 'jane@example.com', NEW_PASSWORD);
      await browser.get(`/login?password=${encodeURIComponent(NEW_PASSWORD)}&token=${token.raw}`);

      const logs = t.logLines.join('\n');
      expect(logs).toContain('/set-password?token=***');
      const activity = JSON.stringify(await queryActivity(db(), {}));
      const session = browser.jar.get('crm_bridge_session')!;
      for (const secret of [
        token.raw,
        NEW_PASSWORD,
        KNOWN_PASSWORD,
        'a wrong guess 123',
        encodeURIComponent(NEW_PASSWORD),
        session,
      ]) {
        expect(logs).not.toContain(secret);
        expect(activity).not.toContain(secret);
      }
    });
  });
}
