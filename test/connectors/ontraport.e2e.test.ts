/**
 * Ontraport end to end: webhooks sent the way Ontraport's "Send a Webhook" /
 * Ping URL sends them, into the real service, which loads contacts from the
 * fake Ontraport API over HTTP and creates or updates users.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../../src/activity/activity.repository.js';
import { verifyPassword } from '../../src/directory/passwords.js';
import { saveRole } from '../../src/directory/role.repository.js';
import { describeUser } from '../../src/directory/user-view.js';
import { findUserByEmail, listUsers } from '../../src/directory/user.repository.js';
import { findEvent, listEvents } from '../../src/inbox/inbox.repository.js';
import { testDialects } from '../helpers/databases.js';
import { startTestService, useGuideKey, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';
import {
  sendOntraportWebhook,
  startFakeOntraport,
  type FakeOntraport,
  type FakeOntraportOptions,
} from '../fakes/ontraport.fake.js';

/** The example URLs users copy from the setup guide (shared/seeds), character for character. */
const SEED_URLS = {
  update_tags:
    'https://mydomain.com/?wpf_action=update_tags&access_key=YOURACCESSKEY&contact_id=[Contact ID]',
  update:
    'https://mydomain.com/?wpf_action=update&access_key=YOURACCESSKEY&contact_id=[Contact ID]',
  add: 'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY&contact_id=[Contact ID]',
  addNotify:
    'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY&contact_id=[Contact ID]&send_notification=true',
  addRole:
    'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY&contact_id=[Contact ID]&role=customer',
} as const;

for (const dialect of testDialects()) {
  describe(`ontraport end to end (${dialect})`, () => {
    let crm: FakeOntraport | undefined;
    let t: TestService | undefined;

    const start = async (
      settings: Record<string, unknown> = {},
      fakeOptions: FakeOntraportOptions = {},
    ) => {
      crm = await startFakeOntraport(fakeOptions);
      t = await startTestService(dialect);
      // No API URL on the row would mean api.ontraport.com; tests point it at the fake.
      await t.addConnection({
        id: 'op',
        type: 'ontraport',
        apiUrl: crm.apiUrl,
        settings: { app_id: crm.appId, api_key: crm.apiKey, ...settings },
        isDefault: true,
      });
      return { crm, t };
    };
    /** What Ontraport requests once it has filled `[Contact ID]` into a URL from the guide (the key as written there). */
    const seedUrl = (service: TestService, url: string, contactId: string) =>
      url.replace('https://mydomain.com', service.baseUrl).replace('[Contact ID]', contactId);
    /** Ontraport's Ping URL: the filled-in URL, POSTed with an empty form body. */
    const send = async (
      service: TestService,
      action: string,
      contactId: string,
      query: Record<string, string> = {},
    ) => {
      const response = await sendOntraportWebhook(service.baseUrl, {
        action,
        accessKey: service.key,
        contactId,
        query,
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const userOf = async (service: TestService, email: string) => {
      const row = await findUserByEmail(service.service.database.db, email);
      if (!row) throw new Error(`no user ${email}`);
      return row;
    };

    afterEach(async () => {
      await t?.close();
      await crm?.close();
      t = undefined;
      crm = undefined;
    });

    it('accepts every example URL of the setup guide verbatim, sent as a POST ping or a GET', async () => {
      const { crm, t } = await start();
      // The guide's key, carried over as a WP Fusion site's key is.
      await useGuideKey(t);
      const ids = ['a', 'b', 'c'].map((name) =>
        crm.addContact({ email: `${name}@example.com`, firstname: name.toUpperCase() }),
      );
      const [plain = '', notify = '', role = ''] = ids;
      crm.setTags(plain, ['3']);
      const ping = (url: string) =>
        t.webhook(url.slice(t.baseUrl.length), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: '',
        });
      const get = (url: string) => t.webhook(url.slice(t.baseUrl.length));

      const added = await ping(seedUrl(t, SEED_URLS.add, plain));
      expect(added).toMatchObject({
        status: 200,
        body: { status: 'done', created: true, contactId: plain, tags: { current: ['Customer'] } },
      });
      expect((await get(seedUrl(t, SEED_URLS.add, plain))).body).toMatchObject({
        status: 'done',
        created: false,
      });

      const notified = await ping(seedUrl(t, SEED_URLS.addNotify, notify));
      expect(notified.body).toMatchObject({
        status: 'done',
        created: true,
        welcomeEmail: 'queued',
      });

      const withRole = await get(seedUrl(t, SEED_URLS.addRole, role));
      expect(withRole.body).toMatchObject({ status: 'done', created: true });
      expect(withRole.body.notices).toEqual([expect.stringMatching(/"customer" does not exist/)]);

      crm.setTags(plain, ['3', '7']);
      const tagged = await ping(seedUrl(t, SEED_URLS.update_tags, plain));
      expect(tagged.body).toMatchObject({
        status: 'done',
        tags: { added: ['WP User'], removed: [], current: ['Customer', 'WP User'] },
      });
      crm.setField(plain, 'firstname', 'Ada');
      const updated = await get(seedUrl(t, SEED_URLS.update, plain));
      expect(updated.body).toMatchObject({ status: 'done', changes: ['first_name'] });
      expect(await listUsers(t.service.database.db)).toHaveLength(3);

      // A rule whose merge field Ontraport did not fill is refused, not sent to the API.
      const unfilled = await ping(seedUrl(t, SEED_URLS.add, '[Contact ID]'));
      expect(unfilled).toMatchObject({
        status: 400,
        body: { error: { code: 'UNSUBSTITUTED_MERGE_FIELD' } },
      });
      expect(crm.requests.some((request) => request.query.get('id') === '[Contact ID]')).toBe(
        false,
      );
    });

    it('creates a user from the contact: e-mail, names, mapped username and password, tags by label, dropdown by label', async () => {
      const { crm, t } = await start({
        field_map: { f1585: 'user_login', f1586: 'user_pass', f1601: 'plan' },
      });
      const id = crm.addContact({
        email: 'Grace@Example.com',
        firstname: 'Grace',
        lastname: 'Hopper',
        f1585: 'ghopper',
        f1586: 'Cobol-Rules-59',
        f1601: '2',
      });
      crm.setTags(id, ['3', '12']);
      const answer = await send(t, 'add', id);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        login: 'ghopper',
        passwordGenerated: false,
      });
      expect(JSON.stringify(answer.body)).not.toContain('Cobol-Rules-59');

      const user = await userOf(t, 'grace@example.com');
      expect(await verifyPassword('Cobol-Rules-59', user.password_hash)).toBe(true);
      const view = await describeUser(t.service.database.db, user);
      expect(view).toMatchObject({
        login: 'ghopper',
        email: 'Grace@Example.com',
        firstName: 'Grace',
        lastName: 'Hopper',
        role: 'subscriber',
        meta: { plan: 'Pro' },
      });
      expect(view.tags.map((tag) => tag.label).sort()).toEqual(['Customer', 'VIP']);
      expect(view.contacts).toEqual([expect.objectContaining({ connection: 'op', contactId: id })]);

      // add again updates the same user and never makes a second one.
      crm.setField(id, 'lastname', 'Murray Hopper');
      const again = await send(t, 'add', id);
      expect(again.body).toMatchObject({
        status: 'done',
        created: false,
        userId: answer.body.userId,
        changes: ['last_name'],
      });
      expect(await listUsers(t.service.database.db)).toHaveLength(1);
    });

    it('applies the role parameter once the role exists, and falls back to subscriber with a notice before', async () => {
      const { crm, t } = await start();
      const first = crm.addContact({ email: 'early@example.com' });
      const second = crm.addContact({ email: 'late@example.com' });
      const early = await send(t, 'add', first, { role: 'customer' });
      expect(early.body.notices).toEqual([expect.stringMatching(/"customer" does not exist/)]);
      expect((await userOf(t, 'early@example.com')).role).toBe('subscriber');

      await saveRole(t.service.database.db, { slug: 'customer', name: 'Customer', isAdmin: false });
      await send(t, 'add', second, { role: 'customer' });
      expect((await userOf(t, 'late@example.com')).role).toBe('customer');
      const promoted = await send(t, 'update', first, { role: 'customer' });
      expect(promoted.body).toMatchObject({ status: 'done', changes: ['role'] });
      expect((await userOf(t, 'early@example.com')).role).toBe('customer');
    });

    it('update_tags changes only tags; update changes fields and tags; both report labels added and removed', async () => {
      const { crm, t } = await start({ field_map: { f1601: 'plan', city: 'city' } });
      const id = crm.addContact({
        email: 'mover@example.com',
        firstname: 'Max',
        city: 'Oslo',
        f1601: '1',
      });
      crm.setTags(id, ['3']);
      await send(t, 'add', id);

      crm.setTags(id, ['7', '12']);
      crm.setField(id, 'city', 'Bergen');
      const tagsOnly = await send(t, 'update_tags', id);
      expect(tagsOnly.body).toMatchObject({
        status: 'done',
        changes: [],
        tags: { added: ['WP User', 'VIP'], removed: ['Customer'], current: ['WP User', 'VIP'] },
      });
      expect(
        (await describeUser(t.service.database.db, await userOf(t, 'mover@example.com'))).meta,
      ).toEqual({ plan: 'Basic', city: 'Oslo' });

      crm.setTags(id, ['12']);
      crm.setField(id, 'firstname', 'Maxine');
      crm.setField(id, 'f1601', '2');
      const full = await send(t, 'update', id);
      expect(full.body).toMatchObject({
        status: 'done',
        tags: { added: [], removed: ['WP User'], current: ['VIP'] },
      });
      expect((full.body.changes as string[]).sort()).toEqual([
        'first_name',
        'meta.city',
        'meta.plan',
      ]);
      const view = await describeUser(t.service.database.db, await userOf(t, 'mover@example.com'));
      expect(view).toMatchObject({ firstName: 'Maxine', meta: { plan: 'Pro', city: 'Bergen' } });
      expect(view.tags.map((tag) => tag.label)).toEqual(['VIP']);
    });

    it('returns a generated password to the chosen Ontraport field through PUT /objects', async () => {
      const { crm, t } = await start({ return_password: true, return_password_field: 'f1586' });
      const id = crm.addContact({ email: 'newbie@example.com', firstname: 'New' });
      const answer = await send(t, 'add', id);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        login: 'newbie@example.com',
        passwordGenerated: true,
        returnPassword: 'written',
      });
      const written = crm.getContact(id)?.f1586 ?? '';
      expect(written.length).toBeGreaterThanOrEqual(12);
      expect(
        await verifyPassword(written, (await userOf(t, 'newbie@example.com')).password_hash),
      ).toBe(true);
      const put = crm.requests.find(
        (request) => request.method === 'PUT' && request.path === '/1/objects',
      );
      expect(JSON.parse(put?.body ?? '{}')).toMatchObject({
        objectID: 0,
        id,
        background_request: true,
      });
      const activity = JSON.stringify(await queryActivity(t.service.database.db, { limit: 1_000 }));
      for (const place of [activity, t.logLines.join(''), JSON.stringify(answer.body)])
        expect(place).not.toContain(written);
    });

    it('shows neither the unmapped "WP Password" field nor other unmapped fields in answers and stored results', async () => {
      const { crm, t } = await start();
      const id = crm.addContact({
        email: 'shown@example.com',
        firstname: 'Shown',
        f1586: 'Old-Wp-Password-77',
        f1587: 'unmapped note',
      });
      const answer = await send(t, 'update', id);
      await send(t, 'add', id);
      const again = await send(t, 'update', id);
      expect(again.status).toBe(200);
      const loaded = (again.body.loaded as { fields: Record<string, string> }).fields;
      expect(loaded).toMatchObject({ firstname: 'Shown' });
      expect(Object.keys(loaded)).not.toContain('f1586');
      expect(Object.keys(loaded)).not.toContain('f1587');
      const stored = await t.service.database.db
        .selectFrom('webhook_events')
        .select('result')
        .execute();
      for (const place of [
        JSON.stringify(stored),
        JSON.stringify(answer.body),
        JSON.stringify(again.body),
      ]) {
        expect(place).not.toContain('Old-Wp-Password-77');
        expect(place).not.toContain('unmapped note');
      }
    });

    it('fails at once on bad credentials with Ontraport\u2019s message in the activity log, and on an unknown contact', async () => {
      const { crm, t } = await start({ api_key: 'revoked-key-123' });
      const bad = await send(t, 'add', '4711');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      const errors = await queryActivity(t.service.database.db, {
        eventId: bad.body.eventId as number,
        level: 'error',
      });
      expect(errors[0]?.message).toMatch(
        /credentials.*401.*Unauthorized: invalid or missing Api-Appid \/ Api-Key/,
      );
      expect(
        JSON.stringify(await queryActivity(t.service.database.db, { limit: 1_000 })),
      ).not.toContain('revoked-key-123');
      expect((await findEvent(t.service.database.db, bad.body.eventId as number))?.attempts).toBe(
        1,
      );

      await t.addConnection({
        id: 'good',
        type: 'ontraport',
        apiUrl: crm.apiUrl,
        settings: { app_id: crm.appId, api_key: crm.apiKey },
      });
      const missing = await sendOntraportWebhook(t.baseUrl, {
        action: 'add',
        accessKey: t.key,
        contactId: '999999',
        path: '/webhooks/good',
      });
      const body = (await missing.json()) as Record<string, unknown>;
      expect(missing.status).toBe(400);
      expect(body).toMatchObject({
        status: 'failed',
        error: { code: 'CONTACT_NOT_FOUND', message: expect.stringMatching(/Object not found/) },
      });
      expect((await findEvent(t.service.database.db, body.eventId as number))?.attempts).toBe(1);
    });

    it('waits out Ontraport\u2019s 429 by X-Rate-Limit-Reset, and retries server errors, then succeeds', async () => {
      const { crm, t } = await start();
      const limited = crm.addContact({ email: 'limited@example.com' });
      crm.failNext({
        kind: 'status',
        status: 429,
        body: 'You have exceeded the maximum rate limit of 180 requests per minute. Please wait and try again.',
        headers: {
          'content-type': 'text/plain',
          'x-rate-limit-limit': '180',
          'x-rate-limit-remaining': '0',
          'x-rate-limit-reset': '1',
        },
      });
      const answer = await send(t, 'add', limited);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const loads = crm.requests.filter(
        (request) => request.path === '/1/object' && request.query.get('id') === limited,
      );
      expect(loads).toHaveLength(2);
      expect((loads[1]?.at ?? 0) - (loads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
      const warnings = await queryActivity(t.service.database.db, {
        eventId: answer.body.eventId as number,
        level: 'warning',
      });
      expect(warnings[0]?.message).toMatch(/rate limit.*exceeded the maximum rate limit/);

      const flaky = crm.addContact({ email: 'flaky@example.com' });
      crm.failNext({ kind: 'status', status: 500, body: 'Internal Server Error' }, 2);
      const recovered = await send(t, 'add', flaky);
      expect(recovered.body).toMatchObject({ status: 'done', created: true });
      expect(
        (await findEvent(t.service.database.db, recovered.body.eventId as number))?.attempts,
      ).toBe(3);
    });

    it('retries a call that timed out', async () => {
      const { crm, t } = await start({ timeout_ms: 500 });
      const id = crm.addContact({ email: 'slow@example.com' });
      crm.failNext({ kind: 'timeout' });
      const answer = await send(t, 'add', id);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const warnings = await queryActivity(t.service.database.db, {
        eventId: answer.body.eventId as number,
        level: 'warning',
      });
      expect(warnings[0]?.message).toMatch(/did not answer in time/);
    });

    it('stays under Ontraport\u2019s rolling limit through a burst of webhooks for many contacts', async () => {
      // Ontraport allows 180 calls per rolling 60 s. The window is scaled down to 20 calls per 2 s
      // so the test crosses it several times in seconds; 20 rather than 40 because a busy 2-core
      // machine creates only ~15 users a second (each hashes a password) and would never reach 40.
      // Fake and connection use the same limit: the service must keep under it with no margin.
      // Regression: a limiter counting only request starts let early, slow-to-arrive calls share
      // the CRM's window with later ones, and the fake answered 429 to about one run in ten.
      const { crm, t } = await start(
        { rate_limit_requests: 20, rate_limit_window_ms: 2_000 },
        { rateLimit: { limit: 20, windowMs: 2_000 } },
      );
      const ids = Array.from({ length: 150 }, (_, n) =>
        crm.addContact({ email: `burst${n}@example.com`, firstname: `B${n}` }),
      );
      ids.forEach((id, n) => crm.setTags(id, [n % 2 === 0 ? '3' : '7']));
      const answers = await Promise.all(ids.map((id) => send(t, 'add', id, { async: 'true' })));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);

      const db = t.service.database.db;
      const events = await waitFor(
        'every webhook to finish',
        async () => {
          const rows = await listEvents(db, { limit: 1_000 });
          return rows.every((row) => ['done', 'skipped', 'failed'].includes(row.status))
            ? rows
            : undefined;
        },
        60_000,
      );
      expect(events).toHaveLength(150);
      expect(events.every((event) => event.status === 'done' && event.attempts === 1)).toBe(true);
      // The fake never answered 429: no run was rate limited, nor was the tag list.
      const problems = await queryActivity(db, { minLevel: 'notice', limit: 1_000 });
      expect(problems.filter((row) => /rate limit|tag names/i.test(row.message))).toEqual([]);
      expect(crm.maxRequestsInWindow(2_000)).toBeLessThanOrEqual(20);
      expect(await listUsers(db, { limit: 1_000 })).toHaveLength(150);
    }, 90_000);
  });
}
