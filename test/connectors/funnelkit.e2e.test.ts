/**
 * FunnelKit end to end: webhooks sent the way FunnelKit's HTTP Request action
 * sends them (query for GET, form or JSON body for POST/PUT), the real
 * service and database, and the fake FunnelKit site as the CRM.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../../src/activity/activity.repository.js';
import { verifyPassword } from '../../src/directory/passwords.js';
import { saveRole } from '../../src/directory/role.repository.js';
import { describeUser } from '../../src/directory/user-view.js';
import { findUserByEmail, listUsers } from '../../src/directory/user.repository.js';
import { findEvent } from '../../src/inbox/inbox.repository.js';
import {
  sendFunnelKitWebhook,
  startFakeFunnelKit,
  type FakeFunnelKit,
  type FakeFunnelKitOptions,
  type FunnelKitWebhookOptions,
} from '../fakes/funnelkit.fake.js';
import { testDialects } from '../helpers/databases.js';
import { startTestService, type TestService } from '../helpers/service.js';

const APP_PASSWORD = 'abcd efgh ijkl mnop qrst uvwx';
const FIELD = { username: 5, password: 6, returned: 8, interests: 9 } as const;

/** The data rows of each example on the seed page, beyond contact_id, wpf_action and access_key. */
const SEED_BLOCKS: ReadonlyArray<{ action: string; extra?: Record<string, string> }> = [
  { action: 'update_tags' },
  { action: 'update' },
  { action: 'add' },
  { action: 'update_tags', extra: { send_notification: 'true' } },
  { action: 'update_tags', extra: { role: 'customer' } },
];

const ENCODINGS: ReadonlyArray<Pick<FunnelKitWebhookOptions, 'method' | 'encoding'>> = [
  { method: 'GET' },
  { method: 'POST', encoding: 'form' },
  { method: 'POST', encoding: 'json' },
  { method: 'PUT', encoding: 'form' },
];

const WP_ERROR_503 = {
  code: 503,
  message: 'Briefly unavailable for scheduled maintenance.',
  data: { status: 503, error_data: [] },
};

for (const dialect of testDialects()) {
  describe(`funnelkit end to end (${dialect})`, () => {
    let crm: FakeFunnelKit;
    let t: TestService;
    const extraSites: FakeFunnelKit[] = [];
    let tag: { customer: number; vip: number; newsletter: number };

    const db = () => t.service.database.db;
    const credentials = { username: 'admin', app_password: APP_PASSWORD };
    const defaultMap = {
      [FIELD.username]: 'user_login',
      [FIELD.password]: 'user_pass',
      [FIELD.interests]: 'interests',
    };

    type Answer = { status: number; body: Record<string, unknown> };
    const send = async (
      action: string,
      contactId: string,
      options: Partial<
        Pick<FunnelKitWebhookOptions, 'method' | 'encoding' | 'extra' | 'path'>
      > = {},
    ): Promise<Answer> => {
      const response = await sendFunnelKitWebhook(t.baseUrl, {
        method: 'GET',
        ...options,
        action,
        contactId,
        accessKey: t.key,
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    };
    const userOf = async (email: string) => {
      const row = await findUserByEmail(db(), email);
      if (!row) throw new Error(`no user ${email}`);
      return row;
    };
    const site = async (options: FakeFunnelKitOptions) => {
      const started = await startFakeFunnelKit(options);
      extraSites.push(started);
      return started;
    };
    const errorsOf = async (answer: Answer) =>
      (await queryActivity(db(), { eventId: answer.body.eventId as number, level: 'error' })).map(
        (entry) => entry.message,
      );
    const warningsOf = async (answer: Answer) =>
      (await queryActivity(db(), { eventId: answer.body.eventId as number, level: 'warning' })).map(
        (entry) => entry.message,
      );
    const contactLoads = (id: string) =>
      crm.requests.filter((request) => request.path.endsWith(`/contacts/${id}`));

    beforeEach(async () => {
      crm = await startFakeFunnelKit();
      crm.addField(FIELD.username, 'Username');
      crm.addField(FIELD.password, 'Password', 'Account');
      crm.addField(FIELD.returned, 'Generated Password', 'Account');
      crm.addField(FIELD.interests, 'Interests');
      tag = {
        customer: crm.addTag('Customer'),
        vip: crm.addTag('VIP'),
        newsletter: crm.addTag('Newsletter'),
      };
      t = await startTestService(dialect);
      await t.addConnection({
        id: 'funnelkit',
        type: 'funnelkit',
        apiUrl: crm.url,
        settings: { ...credentials, field_map: defaultMap },
        isDefault: true,
      });
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
      for (const started of extraSites.splice(0)) await started.close();
    });

    it('accepts every data block of the setup page verbatim, by GET, POST form, POST JSON and PUT', async () => {
      await saveRole(db(), { slug: 'customer', name: 'Customer', isAdmin: false });
      for (const [n, encoding] of ENCODINGS.entries()) {
        const email = `seed${n}@example.com`;
        const id = crm.addContact({ email, f_name: 'Seed', tagIds: [tag.customer] });
        const answers: Answer[] = [];
        for (const block of SEED_BLOCKS)
          answers.push(
            await send(block.action, id, {
              ...encoding,
              ...(block.extra === undefined ? {} : { extra: block.extra }),
            }),
          );
        const label = `${encoding.method} ${encoding.encoding ?? 'query'}`;
        expect(
          answers.map((answer) => answer.status),
          label,
        ).toEqual([200, 200, 200, 200, 200]);
        // Before `add` there is no user to update; `add` creates it; the last two only sync tags.
        expect(
          answers.map((answer) => answer.body.status),
          label,
        ).toEqual(['skipped', 'skipped', 'done', 'done', 'done']);
        expect(
          answers.map((answer) => answer.body.contactId),
          label,
        ).toEqual([id, id, id, id, id]);
        expect(answers[2]?.body, label).toMatchObject({
          action: 'add',
          created: true,
          tags: { current: ['Customer'] },
        });
        expect(answers[3]?.body, label).toMatchObject({
          action: 'update_tags',
          created: false,
          welcomeEmail: 'not requested',
        });
        // update_tags never changes the role (the setup page's role example needs wpf_action=add).
        expect((await userOf(email)).role, label).toBe('subscriber');

        crm.setTags(id, [tag.vip]);
        const again = [await send('update_tags', id, encoding), await send('update', id, encoding)];
        expect(
          again.map((answer) => answer.body.status),
          label,
        ).toEqual(['done', 'done']);
        expect(again[0]?.body.tags, label).toEqual({
          added: ['VIP'],
          removed: ['Customer'],
          current: ['VIP'],
        });
      }
      expect(await listUsers(db())).toHaveLength(ENCODINGS.length);

      // The FunnelKit data rows work on a named connection's path too, and the test action answers.
      const named = crm.addContact({ email: 'named@example.com' });
      expect(
        (await send('add', named, { method: 'POST', path: '/webhooks/funnelkit' })).body,
      ).toMatchObject({ status: 'done', created: true });
      const test = await send('test', named, { method: 'POST', encoding: 'json' });
      expect(test).toEqual({ status: 200, body: { success: true } });
    });

    it('add creates the user from the contact: e-mail, names, mapped username and password, tag labels; add again updates', async () => {
      const id = crm.addContact({
        email: 'Jane.Doe@Example.com',
        f_name: 'Jane',
        l_name: 'Doe',
        fields: {
          [FIELD.username]: 'janed',
          [FIELD.password]: 'Correct-Horse-42',
          [FIELD.interests]: '["Golf","Chess"]',
        },
        tagIds: [tag.customer, tag.vip],
      });
      const answer = await send('add', id);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        login: 'janed',
        passwordGenerated: false,
      });
      expect((answer.body.tags as { current: string[] }).current.sort()).toEqual([
        'Customer',
        'VIP',
      ]);
      expect(JSON.stringify(answer.body)).not.toContain('Correct-Horse-42');

      const user = await userOf('jane.doe@example.com');
      expect(await verifyPassword('Correct-Horse-42', user.password_hash)).toBe(true);
      const view = await describeUser(db(), user);
      expect(view).toMatchObject({
        login: 'janed',
        email: 'Jane.Doe@Example.com',
        firstName: 'Jane',
        lastName: 'Doe',
        role: 'subscriber',
      });
      expect(view.meta).toEqual({ interests: 'Golf, Chess' });
      expect(view.tags.map((entry) => entry.label).sort()).toEqual(['Customer', 'VIP']);
      expect(view.tags.map((entry) => entry.id).sort()).toEqual(
        [String(tag.customer), String(tag.vip)].sort(),
      );
      expect(view.contacts).toEqual([
        expect.objectContaining({ connection: 'funnelkit', contactId: id }),
      ]);

      crm.setField(id, 'f_name', 'Janet');
      const again = await send('add', id, { method: 'POST', encoding: 'form' });
      expect(again.body).toMatchObject({
        status: 'done',
        created: false,
        userId: answer.body.userId,
        changes: ['first_name'],
      });
      expect(await listUsers(db())).toHaveLength(1);
      expect((await userOf('jane.doe@example.com')).first_name).toBe('Janet');
    });

    it('applies the role rules: an unregistered role falls back to subscriber with a notice; once registered it is applied', async () => {
      const id = crm.addContact({ email: 'role@example.com' });
      const added = await send('add', id, { extra: { role: 'customer' } });
      expect(added.body).toMatchObject({ status: 'done', created: true });
      expect(added.body.notices).toEqual([
        expect.stringMatching(/"customer" does not exist.*subscriber/),
      ]);
      expect((await userOf('role@example.com')).role).toBe('subscriber');

      await saveRole(db(), { slug: 'customer', name: 'Customer', isAdmin: false });
      const updated = await send('update', id, {
        method: 'POST',
        encoding: 'json',
        extra: { role: 'customer' },
      });
      expect(updated.body.changes).toEqual(['role']);
      expect((await userOf('role@example.com')).role).toBe('customer');
    });

    it('update_tags syncs only tags, update also fields, each reporting added and removed labels', async () => {
      const id = crm.addContact({
        email: 'sync@example.com',
        f_name: 'Sam',
        fields: { [FIELD.interests]: 'Golf' },
        tagIds: [tag.customer],
      });
      await send('add', id);
      crm.setTags(id, [tag.vip, tag.newsletter]);
      crm.setField(id, 'f_name', 'Samuel');
      crm.setField(id, FIELD.interests, '["Golf","Tennis"]');

      const tagsOnly = await send('update_tags', id, { method: 'POST', encoding: 'form' });
      expect(tagsOnly.body).toMatchObject({
        status: 'done',
        changes: [],
        tags: { added: ['VIP', 'Newsletter'], removed: ['Customer'] },
      });
      let view = await describeUser(db(), await userOf('sync@example.com'));
      expect(view).toMatchObject({ firstName: 'Sam', meta: { interests: 'Golf' } });
      expect(view.tags.map((entry) => entry.label).sort()).toEqual(['Newsletter', 'VIP']);

      crm.setTags(id, [tag.newsletter, tag.customer]);
      const full = await send('update', id, { method: 'POST', encoding: 'json' });
      expect(full.body).toMatchObject({
        status: 'done',
        changes: ['first_name', 'meta.interests'],
        tags: { added: ['Customer'], removed: ['VIP'] },
      });
      view = await describeUser(db(), await userOf('sync@example.com'));
      expect(view).toMatchObject({ firstName: 'Samuel', meta: { interests: 'Golf, Tennis' } });
      expect(view.tags.map((entry) => entry.label).sort()).toEqual(['Customer', 'Newsletter']);
    });

    it('returns generated passwords to the chosen field exactly as generated, through FunnelKit\u2019s sanitizing', async () => {
      await t.addConnection({
        id: 'fk-rp',
        type: 'funnelkit',
        apiUrl: crm.url,
        settings: {
          ...credentials,
          return_password: true,
          return_password_field: String(FIELD.returned),
        },
      });
      for (let n = 0; n < 4; n += 1) {
        const email = `rp${n}@example.com`;
        const id = crm.addContact({ email });
        const answer = await send('add', id, { path: '/webhooks/fk-rp' });
        expect(answer.body).toMatchObject({
          status: 'done',
          created: true,
          passwordGenerated: true,
          returnPassword: 'written',
        });
        const written = crm.getContact(id)?.fields[FIELD.returned] ?? '';
        expect(written.length).toBeGreaterThanOrEqual(12);
        expect(
          await verifyPassword(written, (await userOf(email)).password_hash, t.service.sealer),
        ).toBe(true);
        for (const place of [
          JSON.stringify(answer.body),
          JSON.stringify(await queryActivity(db(), { limit: 1_000 })),
          t.logLines.join(''),
        ]) {
          expect(place).not.toContain(written);
        }
      }
      const write = crm.requests.find((request) => request.method === 'POST');
      expect(write?.path).toMatch(/\/wp-json\/autonami-app\/v3\/contacts\/\d+\/fields$/);
      expect(JSON.parse(write?.body ?? '{}')).toMatchObject({
        fields: { [FIELD.returned]: expect.any(String) },
        status: true,
      });
    });

    it('fails at once on bad credentials with WordPress\u2019s message in the activity log', async () => {
      await t.addConnection({
        id: 'fk-bad',
        type: 'funnelkit',
        apiUrl: crm.url,
        settings: { username: 'admin', app_password: 'nope nope nope nope nope nope' },
      });
      const id = crm.addContact({ email: 'auth@example.com' });
      const answer = await send('add', id, { path: '/webhooks/fk-bad' });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      expect(crm.requests).toHaveLength(1);
      expect(await errorsOf(answer)).toEqual([
        expect.stringContaining('The provided password is an invalid application password.'),
      ]);
      expect(JSON.stringify(await queryActivity(db(), { limit: 1_000 }))).not.toContain(
        'nope nope',
      );
    });

    it('fails at once on an unknown contact with CONTACT_NOT_FOUND', async () => {
      const answer = await send('add', '999999', { method: 'POST', encoding: 'form' });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CONTACT_NOT_FOUND' } });
      expect(await errorsOf(answer)).toEqual([
        expect.stringContaining('No contact found with given id #999999'),
      ]);
      expect((await findEvent(db(), answer.body.eventId as number))?.attempts).toBe(1);
    });

    it('waits out a 429 from the host (Retry-After), then succeeds', async () => {
      const id = crm.addContact({ email: 'limited@example.com' });
      crm.failNext(
        {
          kind: 'status',
          status: 429,
          body: '<html><head><title>429 Too Many Requests</title></head><body>nginx</body></html>',
          headers: { 'content-type': 'text/html', 'retry-after': '1' },
        },
        1,
        `/contacts/${id}`,
      );
      const answer = await send('add', id);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const loads = contactLoads(id);
      expect(loads).toHaveLength(2);
      expect((loads[1]?.at ?? 0) - (loads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
      expect(await warningsOf(answer)).toEqual([
        expect.stringMatching(/rate limit.*429 Too Many Requests/),
      ]);
    });

    it('retries server errors and a Cloudflare challenge page, then succeeds', async () => {
      const id = crm.addContact({ email: 'flaky@example.com' });
      crm.failNext({ kind: 'status', status: 503, body: WP_ERROR_503 }, 2, `/contacts/${id}`);
      const answer = await send('add', id);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      expect((await findEvent(db(), answer.body.eventId as number))?.attempts).toBe(3);
      expect(await warningsOf(answer)).toEqual([
        expect.stringContaining('Briefly unavailable for scheduled maintenance.'),
        expect.stringContaining('Briefly unavailable for scheduled maintenance.'),
      ]);

      crm.failNext(
        {
          kind: 'status',
          status: 403,
          body: '<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Enable JavaScript and cookies to continue</body></html>',
          headers: { 'content-type': 'text/html' },
        },
        1,
        `/contacts/${id}`,
      );
      const challenged = await send('update', id);
      expect(challenged.body).toMatchObject({ status: 'done' });
      expect(await warningsOf(challenged)).toEqual([
        expect.stringMatching(/Just a moment\.\.\..*challenge/),
      ]);
    });

    it('retries a timeout', async () => {
      await t.addConnection({
        id: 'fk-slow',
        type: 'funnelkit',
        apiUrl: crm.url,
        settings: { ...credentials, timeout_ms: 500 },
      });
      const id = crm.addContact({ email: 'slow@example.com' });
      crm.failNext({ kind: 'timeout' }, 1, `/contacts/${id}`);
      const answer = await send('add', id, { path: '/webhooks/fk-slow' });
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      expect(await warningsOf(answer)).toEqual([expect.stringMatching(/did not answer in time/)]);
      expect(contactLoads(id)).toHaveLength(2);
    });

    it('works with the v3 routes only (Pro inactive) and with plain permalinks', async () => {
      const lite = await site({ proRoutes: false });
      const plain = await site({ prettyPermalinks: false });
      await t.addConnection({
        id: 'fk-lite',
        type: 'funnelkit',
        apiUrl: lite.url,
        settings: credentials,
      });
      await t.addConnection({
        id: 'fk-legacy',
        type: 'funnelkit',
        apiUrl: lite.url,
        settings: { ...credentials, routes: 'legacy' },
      });
      await t.addConnection({
        id: 'fk-plain',
        type: 'funnelkit',
        apiUrl: plain.url,
        settings: { ...credentials, pretty_permalinks: false },
      });
      await t.addConnection({
        id: 'fk-pretty',
        type: 'funnelkit',
        apiUrl: plain.url,
        settings: credentials,
      });

      const liteTag = lite.addTag('Lite Member');
      const liteId = lite.addContact({ email: 'lite@example.com', tagIds: [liteTag] });
      expect((await send('add', liteId, { path: '/webhooks/fk-lite' })).body).toMatchObject({
        status: 'done',
        tags: { current: ['Lite Member'] },
      });
      expect(
        lite.requests.every((request) => request.path.startsWith('/wp-json/autonami-app/v3/')),
      ).toBe(true);
      const legacy = await send('update', liteId, { path: '/webhooks/fk-legacy' });
      expect(legacy.body).toMatchObject({ status: 'failed', error: { code: 'CRM_REJECTED' } });
      expect(await errorsOf(legacy)).toEqual([
        expect.stringMatching(/rest_no_route.*FunnelKit Automations Pro.*routes=auto/),
      ]);

      const plainTag = plain.addTag('Plain Member');
      const plainId = plain.addContact({
        email: 'plain@example.com',
        f_name: 'Pia',
        tagIds: [plainTag],
      });
      const viaQuery = await send('add', plainId, { path: '/webhooks/fk-plain' });
      expect(viaQuery.body).toMatchObject({
        status: 'done',
        created: true,
        tags: { current: ['Plain Member'] },
      });
      expect((await userOf('plain@example.com')).first_name).toBe('Pia');
      expect(
        plain.requests.every((request) => request.path === '/' && request.query.has('rest_route')),
      ).toBe(true);
      const pretty = await send('update', plainId, { path: '/webhooks/fk-pretty' });
      expect(pretty.body).toMatchObject({ status: 'failed', error: { code: 'CRM_REJECTED' } });
      expect(await errorsOf(pretty)).toEqual([expect.stringContaining('pretty_permalinks=false')]);
    });
  });
}
