/**
 * `crm-bridge import wordpress` against a real WordPress-shaped database on
 * MariaDB: users with hashes of every WordPress era, roles, WP Fusion's
 * options, contact ids and tags. After the import the users log in with their
 * old passwords (login page and REST API), their hashes become argon2id, the
 * imported access key takes webhooks, and an `update_tags` webhook for an
 * imported contact id updates the imported user. A second run changes nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/api/api-tokens.repository.js';
import { listRoles } from '../src/directory/role.repository.js';
import {
  findUserByContact,
  findUserByEmail,
  getUserMeta,
  insertUser,
  listUserTags,
} from '../src/directory/user.repository.js';
import { findConnection } from '../src/connections/connection.repository.js';
import { loadSettings } from '../src/settings/settings.js';
import type { UserRow } from '../src/storage/schema.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { runCli, type CliResult } from './helpers/cli.js';
import {
  createTestDatabase,
  openTestPool,
  testDialects,
  type TestDatabase,
} from './helpers/databases.js';
import { ARGON2ID_PREFIX } from './helpers/passwords.js';
import { startTestService, type TestService } from './helpers/service.js';
import {
  legacyMd5,
  PHPASS_TEST12345,
  PHPASS_WORDPRESS_COST,
  phpBcrypt,
  WP68_PUBLISHED,
  wp68Hash,
} from './helpers/wordpress-hashes.js';
import { createWordPressSite, phpSerialize, type WordPressSite } from './helpers/wordpress-site.js';

const WPF_KEY = 'a1b2c3d4';
const CAROL_PASSWORD = 'carol bcrypt plugin pw';
const DAVE_PASSWORD = 'password';
const GRACE_PASSWORD = 'grace on WordPress 6.8';
const GOLD = 'Gold "VIP", members 🎉';

/** Everything a WP Fusion site holds that the import reads. */
async function fillSite(site: WordPressSite): Promise<void> {
  await site.setOption(
    'wpf_options',
    phpSerialize({
      access_key: WPF_KEY,
      crm: 'testcrm',
      username_format: 'flname',
      return_password: true,
      return_password_field: { crm_field: 'Password' },
      send_welcome_email: '1',
      contact_fields: {
        user_email: { crm_field: 'Email', active: true, type: 'text', pull: true },
        first_name: { crm_field: 'FirstName', active: true, type: 'text', pull: true },
        last_name: { crm_field: 'LastName', active: true, type: 'text', pull: true },
        company: { crm_field: 'Company', active: true, type: 'text', pull: true },
        phone: { crm_field: 'Phone', active: false, type: 'text', pull: false },
        user_registered: { crm_field: 'Registered', active: true, type: 'date', pull: false },
      },
    }),
  );
  await site.setOption('wpf_available_tags', phpSerialize({ 1: 'Customer', 2: 'VIP', 7: GOLD }));
  await site.setOption('wpf_crm_fields', phpSerialize({ Email: 'Email', Company: 'Company' }));
  await site.setOption('default_role', 'subscriber');
  await site.setOption(
    'wp_user_roles',
    phpSerialize({
      administrator: {
        name: 'Administrator',
        capabilities: { manage_options: true, edit_users: true, read: true },
      },
      subscriber: { name: 'Subscriber', capabilities: { read: true } },
      member: { name: 'Member', capabilities: { read: true } },
      shop_manager: { name: 'Shop manager', capabilities: { read: true, edit_users: true } },
    }),
  );
  const role = (slug: string) => phpSerialize({ [slug]: true });
  // WordPress ≤ 6.7: phpass with WordPress's own cost.
  await site.addUser({
    login: 'alice',
    email: 'alice@example.com',
    pass: PHPASS_WORDPRESS_COST.hash,
    displayName: 'Alice Admin',
    registered: '2019-05-06 07:08:09',
    meta: {
      first_name: 'Alice',
      last_name: 'Liddell',
      wp_capabilities: role('administrator'),
      testcrm_contact_id: '101',
      testcrm_tags: phpSerialize({ 1: '1', 2: '2' }),
      company: 'Wonderland Ltd',
      phone: '555-0101',
    },
  });
  // WordPress 6.8+; the CRM sent a login WordPress sanitized ("user_login" meta keeps it).
  await site.addUser({
    login: 'bobsmith',
    email: 'Bob@Example.com',
    pass: WP68_PUBLISHED.hash,
    displayName: 'Bob Smith',
    meta: {
      first_name: 'Bob',
      last_name: 'Smith',
      user_login: 'Bob Smith!',
      wp_capabilities: role('member'),
      testcrm_contact_id: '102',
      testcrm_tags: phpSerialize({ 1: '1', 2: '7' }),
      company: 'Smith & Co',
    },
  });
  // A bcrypt plugin's hash; no tags.
  await site.addUser({
    login: 'carol',
    email: 'carol@example.com',
    pass: phpBcrypt(CAROL_PASSWORD),
    meta: {
      first_name: 'Carol',
      wp_capabilities: role('subscriber'),
      testcrm_contact_id: '103',
      testcrm_tags: 'a:0:{}',
    },
  });
  // A site from before WordPress 2.5: plain MD5, never logged in since; no contact.
  await site.addUser({
    login: 'dave',
    email: 'dave@example.com',
    pass: legacyMd5(DAVE_PASSWORD),
    meta: { wp_capabilities: role('subscriber') },
  });
  // Already here (a webhook made the account, with a generated password): matched, not duplicated.
  await site.addUser({
    login: 'erin',
    email: 'erin@example.com',
    pass: PHPASS_TEST12345.hash,
    meta: {
      first_name: 'Erin',
      wp_capabilities: role('administrator'),
      testcrm_contact_id: '105',
      testcrm_tags: phpSerialize({ 1: '2' }),
    },
  });
  // A WordPress 6.8 hash made as wp_hash_password makes it.
  await site.addUser({
    login: 'grace',
    email: 'grace@example.com',
    pass: wp68Hash(GRACE_PASSWORD),
    meta: { wp_capabilities: role('shop_manager'), testcrm_contact_id: '107' },
  });
  // No usable e-mail address.
  await site.addUser({ login: 'frank', email: 'not-an-address', pass: legacyMd5('x') });
}

/** Logs in through the login page as a browser would: the form, its token and cookie, then the post. */
async function logInThroughPage(baseUrl: string, identifier: string, password: string) {
  const form = await fetch(`${baseUrl}/login`);
  const html = await form.text();
  const cookie = form.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ');
  const fields = new URLSearchParams();
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields.set(match[1]!, match[2]!.replace(/&amp;/g, '&'));
  fields.set('identifier', identifier);
  fields.set('password', password);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '/login';
  const response = await fetch(baseUrl + action, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: fields,
  });
  return {
    status: response.status,
    session: response.headers.getSetCookie().some((line) => line.startsWith('crm_bridge_session=')),
  };
}

function summaryOf(result: CliResult) {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as {
    dryRun: boolean;
    total: number;
    created: number;
    updated: number;
    unchanged: number;
    skipped: Record<string, number>;
    errors: unknown[];
    passwordsCarried: number;
    contactsLinked: number;
    tagsAdded: number;
    tagLabelsSaved: number;
    rolesCreated: string[];
    settingsChanged: string[];
    accessKey: string;
    notices: string[];
    warnings: string[];
  };
}

for (const dialect of testDialects()) {
  describe(`import wordpress (${dialect})`, () => {
    // Each test imports into a database of its own; the WordPress site is only read (a test
    // that adds users to WordPress fills a site of its own).
    let site: WordPressSite;
    let database: TestDatabase;
    let crm: FakeTestCrm;
    let t: TestService | undefined;
    let erinBefore: UserRow;
    const importFrom = (source: WordPressSite, ...extra: string[]) =>
      runCli(database, 'import', 'wordpress', '--from', source.url, ...extra);
    const importCli = (...extra: string[]) => importFrom(site, ...extra);
    /** Imports `source` and starts the service on what came over. */
    const importAndServe = async (source = site): Promise<TestService> => {
      const result = await importFrom(source);
      expect(result.code, result.stderr).toBe(0);
      t = await startTestService(dialect, { database });
      return t;
    };
    /** The CRM gives bob (contact 102) another tag and says so with an `update_tags` webhook. */
    const retagBob = (service: TestService) => {
      crm.addContact({
        id: '102',
        email: 'Bob@Example.com',
        fields: { FirstName: 'Bob' },
        tags: ['3'],
      });
      return service.webhook(`/?wpf_action=update_tags&access_key=${WPF_KEY}&contact_id=102`);
    };

    beforeAll(async () => {
      site = await createWordPressSite();
      await fillSite(site);
    });
    afterAll(async () => {
      await site?.drop();
    });
    beforeEach(async () => {
      crm = await startFakeTestCrm();
      database = await createTestDatabase(dialect);
      const added = await runCli(
        database,
        'connections',
        'add',
        'testcrm',
        '--id',
        'crm',
        '--api-url',
        crm.url,
        '--set',
        `api_key=${crm.apiKey}`,
        '--default',
      );
      expect(added.code, added.stderr).toBe(0);
      // The site was already running here: erin came in by a webhook and never chose a password.
      const before = openTestPool(database.url);
      try {
        erinBefore = await insertUser(before.db, {
          login: 'erin-from-crm',
          email: 'ERIN@example.com',
          email_lower: 'erin@example.com',
          password_hash: '$argon2id$v=19$m=19456,t=2,p=1$bm90aGluZw$bm90aGluZ2F0YWxsbm90aGluZw',
          password_generated: 1,
          role: 'subscriber',
          first_name: '',
          last_name: 'Existing',
          display_name: '',
          created_at: '2024-01-01T00:00:00.000Z',
          updated_at: '2024-01-01T00:00:00.000Z',
        });
      } finally {
        await before.destroy();
      }
    });
    afterEach(async () => {
      await t?.close();
      t = undefined;
      await database?.drop();
      await crm?.close();
    });

    it('a dry run reports the import and writes nothing', async () => {
      const dry = summaryOf(await importCli('--dry-run', '--json'));
      expect(dry).toMatchObject({
        dryRun: true,
        total: 7,
        created: 5,
        updated: 1,
        unchanged: 0,
        skipped: { 'no valid e-mail address': 1 },
        errors: [],
        passwordsCarried: 6,
        contactsLinked: 5,
        tagsAdded: 5,
        tagLabelsSaved: 3,
        accessKey: 'imported',
      });
      const text = await importCli('--dry-run');
      expect(text.stdout).toContain('Dry run: nothing was written.');
      const listed = await runCli(database, 'users', 'list', '--json');
      expect(JSON.parse(listed.stdout)).toHaveLength(1);
    });

    it('imports users, passwords, roles, contact links, tags, meta, settings and the access key', async () => {
      const result = await importCli();
      expect(result.code, result.stderr).toBe(0);
      // The database password never shows, not even masked in an error.
      expect(result.stdout + result.stderr).not.toContain(site.password);
      expect(result.stdout).toContain(`mysql://${site.url.split('//')[1]!.split(':')[0]}:***@`);
      expect(result.stdout).toMatch(/created: +5/);
      expect(result.stdout).toMatch(/updated: +1/);
      expect(result.stdout).toContain('1 × no valid e-mail address');
      expect(result.stdout).toContain('Passwords carried: 6');
      expect(result.stdout).toContain('Contacts linked: 5');
      expect(result.stdout).toContain('the imported access key is weak (8 characters');
      // Not a terminal: progress comes as plain lines, no bar drawing.
      expect(result.stderr).toContain('progress: 7 of 7 done, 0 error(s)');
      expect(result.stderr).not.toContain('\r');

      t = await startTestService(dialect, { database });
      const db = t.service.database.db;
      // WP Fusion's key is the current key: the CRM's automations keep their URLs.
      expect(t.key).toBe(WPF_KEY);

      const alice = await findUserByEmail(db, 'alice@example.com');
      expect(alice).toMatchObject({
        login: 'alice',
        role: 'administrator',
        first_name: 'Alice',
        last_name: 'Liddell',
        display_name: 'Alice Admin',
        created_at: '2019-05-06T07:08:09.000Z',
        password_hash: PHPASS_WORDPRESS_COST.hash,
        password_generated: 0,
      });
      expect(await getUserMeta(db, alice!.id)).toEqual({ company: 'Wonderland Ltd' });
      const bob = await findUserByContact(db, 'crm', '102');
      expect(bob).toMatchObject({ login: 'bobsmith', email: 'Bob@Example.com', role: 'member' });
      expect((await listUserTags(db, bob!.id)).map((tag) => tag.label).sort()).toEqual([
        'Customer',
        GOLD,
      ]);
      expect((await findUserByContact(db, 'crm', '103'))?.login).toBe('carol');
      // shop_manager can edit users: an admin role here.
      const roles = await listRoles(db);
      expect(roles.find((role) => role.slug === 'shop_manager')?.isAdmin).toBe(true);
      expect(roles.find((role) => role.slug === 'member')).toEqual({
        slug: 'member',
        name: 'Member',
        isAdmin: false,
      });

      // Matched by e-mail: the same account, completed, but not made an admin.
      const erin = await findUserByEmail(db, 'erin@example.com');
      expect(erin).toMatchObject({
        id: erinBefore.id,
        login: 'erin-from-crm',
        role: 'subscriber',
        first_name: 'Erin',
        last_name: 'Existing',
        password_hash: PHPASS_TEST12345.hash,
        password_generated: 0,
      });
      expect(result.stdout).toContain(
        'an admin role is never given to a user who was already here',
      );
      expect(await db.selectFrom('users').select('id').execute()).toHaveLength(6);

      const settings = await loadSettings(db, {});
      expect(settings.username_format).toBe('flname');
      expect(settings.send_welcome_email).toBe(true);
      expect(settings.default_role).toBe('subscriber');
      const connection = JSON.parse((await findConnection(db, 'crm'))!.settings) as Record<
        string,
        unknown
      >;
      expect(connection).toMatchObject({
        field_map: {
          Email: 'email',
          FirstName: 'first_name',
          LastName: 'last_name',
          Company: 'company',
        },
        return_password: true,
        return_password_field: 'Password',
      });
      expect(connection.field_map).not.toHaveProperty('Phone');
      expect(connection.field_map).not.toHaveProperty('Registered');
    });

    it('every imported user logs in with the old password, page or API, and the hash becomes argon2id', async () => {
      const service = await importAndServe();
      const db = service.service.database.db;
      const page = await logInThroughPage(service.baseUrl, 'alice', PHPASS_WORDPRESS_COST.password);
      expect(page).toEqual({ status: 303, session: true });
      expect(await logInThroughPage(service.baseUrl, 'carol@example.com', 'wrong')).toMatchObject({
        session: false,
      });

      const token = (await createApiToken(db, 'site', new Date())).token;
      const verify = (login: string, password: string) =>
        fetch(`${service.baseUrl}/api/v1/auth/verify`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ login, password }),
        });
      for (const [login, password] of [
        ['bobsmith', WP68_PUBLISHED.password],
        ['carol', CAROL_PASSWORD],
        ['dave@example.com', DAVE_PASSWORD],
        ['erin-from-crm', PHPASS_TEST12345.password],
        ['grace', GRACE_PASSWORD],
      ] as const) {
        expect((await verify(login, `${password}!`)).status, `${login}, wrong password`).toBe(401);
        const response = await verify(login, password);
        expect(response.status, login).toBe(200);
      }
      for (const email of [
        'alice@example.com',
        'bob@example.com',
        'carol@example.com',
        'dave@example.com',
        'erin@example.com',
        'grace@example.com',
      ]) {
        const user = await findUserByEmail(db, email);
        expect(user?.password_hash.startsWith(ARGON2ID_PREFIX), email).toBe(true);
      }
      // The new hash still takes the same password.
      expect((await verify('alice', PHPASS_WORDPRESS_COST.password)).status).toBe(200);
    });

    it('an update_tags webhook with WP Fusion\u2019s key, for an imported contact id, updates the imported user', async () => {
      const service = await importAndServe();
      const reply = await retagBob(service);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toMatchObject({ status: 'done', action: 'update_tags' });
      const bob = await findUserByContact(service.service.database.db, 'crm', '102');
      expect(
        (await listUserTags(service.service.database.db, bob!.id)).map((t) => t.label),
      ).toEqual(['Newsletter']);
    });

    it('a second run changes nothing and says so; logins keep their new hashes', async () => {
      const service = await importAndServe();
      // Since the first run: alice logged in (her hash became argon2id) and the CRM retagged bob.
      expect(
        await logInThroughPage(service.baseUrl, 'alice', PHPASS_WORDPRESS_COST.password),
      ).toEqual({ status: 303, session: true });
      expect((await retagBob(service)).status).toBe(200);
      const again = await importCli();
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('Nothing changed: everything was already imported.');
      expect(again.stdout).toMatch(/created: +0/);
      expect(again.stdout).toMatch(/updated: +0/);
      expect(again.stdout).toMatch(/unchanged: +6/);
      const db = service.service.database.db;
      expect((await findUserByEmail(db, 'alice@example.com'))?.password_hash).toMatch(
        /^\$argon2id\$/,
      );
      expect(await db.selectFrom('users').select('id').execute()).toHaveLength(6);
      // Tags the CRM changed since are not brought back.
      const bob = await findUserByContact(db, 'crm', '102');
      expect((await listUserTags(db, bob!.id)).map((tag) => tag.label)).toContain('Newsletter');
    });

    it('picks up where it stopped: users added to WordPress since come over, the others stay as they are', async () => {
      const own = await createWordPressSite();
      try {
        await fillSite(own);
        const service = await importAndServe(own);
        await own.addUser({
          login: 'heidi',
          email: 'heidi@example.com',
          pass: wp68Hash('heidi registered late'),
          meta: {
            wp_capabilities: phpSerialize({ member: true }),
            testcrm_contact_id: '108',
            testcrm_tags: phpSerialize({ 1: '2' }),
          },
        });
        // WP Fusion can leave two users with one contact id: both come over, the first keeps the link.
        await own.addUser({
          login: 'ivan',
          email: 'ivan@example.com',
          pass: legacyMd5('ivan'),
          meta: {
            wp_capabilities: phpSerialize({ subscriber: true }),
            testcrm_contact_id: '103',
            testcrm_tags: phpSerialize({ 1: '1' }),
          },
        });
        const more = summaryOf(await importFrom(own, '--json'));
        expect(more).toMatchObject({
          total: 9,
          created: 2,
          updated: 0,
          unchanged: 6,
          passwordsCarried: 2,
          contactsLinked: 1,
          tagsAdded: 1,
        });
        expect(more.notices).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/ivan: contact 103 is already linked to user #\d+; not linked/),
          ]),
        );
        const db = service.service.database.db;
        const heidi = await findUserByContact(db, 'crm', '108');
        expect(heidi).toMatchObject({ login: 'heidi', role: 'member' });
        expect((await listUserTags(db, heidi!.id)).map((tag) => tag.label)).toEqual(['VIP']);
        expect((await findUserByContact(db, 'crm', '103'))?.login).toBe('carol');
        const ivan = await findUserByEmail(db, 'ivan@example.com');
        expect(ivan?.login).toBe('ivan');
        // The contact's tags belong to the user linked to it.
        expect(await listUserTags(db, ivan!.id)).toEqual([]);
      } finally {
        await own.drop();
      }
    });

    it('a wrong database password or prefix fails clearly, before writing, without showing the password', async () => {
      const wrongPassword = site.url.replace(encodeURIComponent(site.password), 'not-the-password');
      const denied = await runCli(database, 'import', 'wordpress', '--from', wrongPassword);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toContain('The WordPress database could not be read');
      expect(denied.stderr).not.toContain('not-the-password');
      expect(denied.stderr).toContain(':***@');

      const prefix = await importCli('--prefix', 'wpx_');
      expect(prefix.code).toBe(2);
      expect(prefix.stderr).toContain('wpx_users');
      expect(prefix.stderr).not.toContain(site.password);

      const log = await runCli(database, 'log', '--json');
      expect(log.stdout).toContain(
        'WordPress import failed: The WordPress database could not be read',
      );
      expect(log.stdout).not.toContain(site.password);

      const unknown = await importCli('--connection', 'nope');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(
        'No such CRM connection: "nope"; connections: crm (testcrm)',
      );
    });
  });
}
