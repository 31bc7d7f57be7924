/**
 * Customerly end to end: webhooks sent the way Customerly sends them (JSON
 * body, contact e-mail at data.user.data.email) into the real service, which
 * loads the contact from the Customerly fake over HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../../src/activity/activity.repository.js';
import { verifyPassword } from '../../src/directory/passwords.js';
import { saveRole } from '../../src/directory/role.repository.js';
import { describeUser } from '../../src/directory/user-view.js';
import { findUserByEmail, listUsers } from '../../src/directory/user.repository.js';
import { findEvent } from '../../src/inbox/inbox.repository.js';
import {
  CUSTOMERLY_MESSAGES,
  sendCustomerlyWebhook,
  startFakeCustomerly,
  type CustomerlyWebhookOptions,
  type FakeCustomerly,
} from '../fakes/customerly.fake.js';
import { testDialects } from '../helpers/databases.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { jsonAt } from '../helpers/json.js';

const TOKEN = 'customerly-e2e-token';

interface Answer {
  status: number;
  body: unknown;
}

for (const dialect of testDialects()) {
  describe(`customerly end to end (${dialect})`, () => {
    let crm: FakeCustomerly;
    let t: TestService;

    const db = () => t.service.database.db;
    /** Adds a connection; the first one, `customerly`, answers webhooks sent to `/`. */
    const connect = (id: string, settings: Record<string, unknown> = {}) =>
      t.addConnection({
        id,
        type: 'customerly',
        apiUrl: crm.apiUrl,
        settings: { access_token: TOKEN, ...settings },
        isDefault: id === 'customerly',
      });
    const send = async (options: Omit<CustomerlyWebhookOptions, 'accessKey'>): Promise<Answer> => {
      const response = await sendCustomerlyWebhook(t.baseUrl, { accessKey: t.key, ...options });
      return { status: response.status, body: await response.json() };
    };
    const userOf = async (email: string) => {
      const row = await findUserByEmail(db(), email);
      if (!row) throw new Error(`no user ${email}`);
      return row;
    };
    /** Changes a user's name the way Customerly's own API does (the fake has no shortcut for it). */
    const renameInCrm = async (email: string, name: string) => {
      const response = await fetch(`${crm.apiUrl}/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ users: [{ email, name }] }),
      });
      expect(response.status).toBe(200);
    };
    const apiCalls = () => crm.requests.filter((request) => request.path.startsWith('/v1/')).length;

    beforeEach(async () => {
      crm = await startFakeCustomerly({ accessToken: TOKEN });
      t = await startTestService(dialect);
      await connect('customerly');
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    it('creates a user from an add webhook: e-mail as username, names split from Name, tags with their labels', async () => {
      crm.addUser({ email: 'Jane@Example.com', name: 'Jane Doe', tags: ['customer', 'vip'] });
      const answer = await send({
        action: 'add',
        email: 'Jane@Example.com',
        name: 'Jane Doe',
        tags: ['customer', 'vip'],
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        contactId: 'Jane@Example.com',
        passwordGenerated: true,
      });
      const view = await describeUser(db(), await userOf('jane@example.com'));
      expect(view).toMatchObject({
        login: 'jane@example.com',
        email: 'Jane@Example.com',
        firstName: 'Jane',
        lastName: 'Doe',
        role: 'subscriber',
      });
      expect(view.tags.map((tag) => tag.label)).toEqual(['customer', 'vip']);
      expect(view.contacts).toEqual([
        expect.objectContaining({ connection: 'customerly', contactId: 'Jane@Example.com' }),
      ]);
      const lookup = crm.requests.find(
        (request) => request.path === '/v1/users' && request.method === 'GET',
      );
      expect(lookup?.query.get('email')).toBe('Jane@Example.com');
      expect(lookup?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    });

    it('answers every webhook URL of the setup page verbatim, with and without contact_id in the query', async () => {
      const urls = [
        { path: '/', action: 'add' },
        { path: '/?send_notification=true', action: 'add' },
        { path: '/?role=customer', action: 'add' },
        { path: '/', action: 'update' },
        { path: '/', action: 'update_tags' },
      ];
      for (const contactIdInQuery of [false, true]) {
        for (const [n, url] of urls.entries()) {
          const email = `seed${n}.${contactIdInQuery ? 'q' : 'b'}@example.com`;
          crm.addUser({ email, name: 'Sam Seed', tags: ['customer'] });
          // update and update_tags need a user to work on.
          if (url.action !== 'add')
            await send({ action: 'add', email, tags: ['customer'], contactIdInQuery });
          const answer = await send({
            action: url.action,
            path: url.path,
            email,
            tags: ['customer'],
            contactIdInQuery,
          });
          expect(
            answer.status,
            `${url.action} ${url.path} contactIdInQuery=${contactIdInQuery}`,
          ).toBe(200);
          expect(answer.body).toMatchObject({
            status: 'done',
            action: url.action,
            contactId: email,
            tags: { current: ['customer'] },
          });
          if (url.path.includes('send_notification'))
            expect(jsonAt(answer.body, 'welcomeEmail')).toBe('queued');
          if (url.path.includes('role')) expect((await userOf(email)).role).toBe('subscriber');
        }
      }
      expect(await listUsers(db())).toHaveLength(urls.length * 2);
    });

    it('takes username and password from Customerly attributes mapped to user_login and user_pass', async () => {
      await connect('mapped', {
        field_map: { wp_login: 'user_login', wp_pass: 'user_pass', plan: 'membership' },
      });
      crm.addUser({
        email: 'mapped@example.com',
        name: 'Max Mapped',
        attributes: { wp_login: 'maxm', wp_pass: 'Correct-Horse-9', plan: 'gold' },
      });
      const answer = await send({
        action: 'add',
        path: '/webhooks/mapped',
        email: 'mapped@example.com',
      });
      expect(answer.body).toMatchObject({
        status: 'done',
        login: 'maxm',
        passwordGenerated: false,
      });
      expect(JSON.stringify(answer.body)).not.toContain('Correct-Horse-9');
      const user = await userOf('mapped@example.com');
      expect(await verifyPassword('Correct-Horse-9', user.password_hash)).toBe(true);
      expect((await describeUser(db(), user)).meta).toEqual({ membership: 'gold' });
    });

    it('falls back to subscriber with a notice for an unregistered role, and assigns it once the role exists', async () => {
      crm.addUser({ email: 'role@example.com', name: 'Rita Role' });
      const first = await send({
        action: 'add',
        path: '/?role=customer',
        email: 'role@example.com',
      });
      expect((await userOf('role@example.com')).role).toBe('subscriber');
      expect(jsonAt(first.body, 'notices')).toEqual([
        expect.stringMatching(/"customer" does not exist/),
      ]);

      await saveRole(db(), { slug: 'customer', name: 'Customer', isAdmin: false });
      const second = await send({
        action: 'add',
        path: '/?role=customer',
        email: 'role@example.com',
      });
      expect(second.body).toMatchObject({ status: 'done', created: false, changes: ['role'] });
      expect((await userOf('role@example.com')).role).toBe('customer');
    });

    it('never duplicates: add again updates; update reads fields and tags from the API; update_tags takes the payload tags', async () => {
      await connect('meta', { field_map: { plan: 'membership' } });
      const path = '/webhooks/meta';
      crm.addUser({
        email: 'uma@example.com',
        name: 'Uma Old',
        tags: ['customer'],
        attributes: { plan: 'basic' },
      });
      const created = await send({
        action: 'add',
        path,
        email: 'uma@example.com',
        tags: ['customer'],
      });
      expect(created.body).toMatchObject({ created: true });

      // The contact changes in Customerly; add comes again, this time with contact_id in the URL.
      crm.setAttribute('uma@example.com', 'plan', 'pro');
      crm.setTags('uma@example.com', ['vip', 'newsletter']);
      const again = await send({
        action: 'add',
        path,
        email: 'uma@example.com',
        tags: ['vip', 'newsletter'],
        contactIdInQuery: true,
      });
      expect(again.body).toMatchObject({
        status: 'done',
        created: false,
        userId: jsonAt(created.body, 'userId'),
        changes: ['meta.membership'],
      });
      expect(jsonAt(again.body, 'tags')).toEqual({
        added: ['vip', 'newsletter'],
        removed: ['customer'],
        current: ['vip', 'newsletter'],
      });
      expect(await listUsers(db())).toHaveLength(1);

      // update_tags: the payload's tags are used as they are, with no call to Customerly.
      const callsBefore = apiCalls();
      const tagsOnly = await send({
        action: 'update_tags',
        path,
        email: 'uma@example.com',
        tags: ['vip'],
      });
      expect(tagsOnly.body).toMatchObject({
        status: 'done',
        changes: [],
        tags: { added: [], removed: ['newsletter'], current: ['vip'] },
      });
      expect(apiCalls()).toBe(callsBefore);

      // update: the name and tags come from the API, whatever the payload carries.
      await renameInCrm('uma@example.com', 'Uma van Dijk');
      crm.setTags('uma@example.com', ['vip', 'customer']);
      const full = await send({ action: 'update', path, email: 'uma@example.com', tags: ['vip'] });
      expect(full.body).toMatchObject({
        status: 'done',
        changes: ['last_name'],
        tags: { added: ['customer'], removed: [], current: ['vip', 'customer'] },
      });
      const view = await describeUser(db(), await userOf('uma@example.com'));
      expect(view).toMatchObject({
        firstName: 'Uma',
        lastName: 'van Dijk',
        meta: { membership: 'pro' },
      });
      expect(view.tags.map((tag) => tag.label).sort()).toEqual(['customer', 'vip']);
    });

    it('loads the tags from the API when an update_tags payload carries none', async () => {
      crm.addUser({ email: 'notags@example.com', name: 'Nat Tags', tags: ['customer'] });
      await send({ action: 'add', email: 'notags@example.com' });
      crm.setTags('notags@example.com', ['vip']);
      const response = await fetch(`${t.baseUrl}/?wpf_action=update_tags&access_key=${t.key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 'user_updated',
          data: { user: { data: { email: 'notags@example.com' } } },
        }),
      });
      expect(await response.json()).toMatchObject({
        status: 'done',
        tags: { added: ['vip'], removed: ['customer'] },
      });
    });

    it('returns a generated password to a Customerly attribute, verifiable against the user', async () => {
      await connect('rp', { return_password: true, return_password_field: 'wp_password' });
      crm.addUser({ email: 'rp@example.com', name: 'Rae Pass', attributes: { wp_password: '' } });
      const answer = await send({ action: 'add', path: '/webhooks/rp', email: 'rp@example.com' });
      expect(answer.body).toMatchObject({
        status: 'done',
        passwordGenerated: true,
        returnPassword: 'written',
      });
      const stored = crm.getUser('rp@example.com')?.attributes.wp_password;
      const written = typeof stored === 'string' ? stored : '';
      expect(written.length).toBeGreaterThanOrEqual(12);
      expect(
        await verifyPassword(
          written,
          (await userOf('rp@example.com')).password_hash,
          t.service.sealer,
        ),
      ).toBe(true);
      const upsert = crm.requests.find(
        (request) => request.method === 'POST' && request.path === '/v1/users',
      );
      expect(JSON.parse(upsert?.body ?? '{}')).toEqual({
        users: [{ email: 'rp@example.com', attributes: { wp_password: written } }],
      });
      const activity = JSON.stringify(await queryActivity(db(), { limit: 1_000 }));
      expect(activity).not.toContain(written);
      expect(t.logLines.join('')).not.toContain(written);
    });

    it('fails a bad token (answered with 500) after exactly one attempt with CRM_AUTH_FAILED, while a plain 500 is retried', async () => {
      await connect('bad', { access_token: 'not-the-token' });
      crm.addUser({ email: 'auth@example.com', name: 'Al Auth' });
      const bad = await send({ action: 'add', path: '/webhooks/bad', email: 'auth@example.com' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      expect((await findEvent(db(), jsonAt(bad.body, 'eventId') as number))?.attempts).toBe(1);
      expect(apiCalls()).toBe(1);
      const errors = await queryActivity(db(), {
        eventId: jsonAt(bad.body, 'eventId') as number,
        level: 'error',
      });
      expect(errors[0]?.message).toContain(CUSTOMERLY_MESSAGES.badToken);
      expect(JSON.stringify(errors)).not.toContain('not-the-token');

      crm.failNext(
        {
          kind: 'status',
          status: 500,
          body: { error: { message: 'Internal Server Error', code: 0 } },
        },
        2,
        '/v1/users',
      );
      const outage = await send({ action: 'add', email: 'auth@example.com' });
      expect(outage.body).toMatchObject({ status: 'done', created: true });
      expect((await findEvent(db(), jsonAt(outage.body, 'eventId') as number))?.attempts).toBe(3);
      const warnings = await queryActivity(db(), {
        eventId: jsonAt(outage.body, 'eventId') as number,
        level: 'warning',
      });
      expect(warnings.map((warning) => warning.message)).toEqual([
        expect.stringMatching(/Internal Server Error.*retrying in/),
        expect.stringMatching(/Internal Server Error.*retrying in/),
      ]);
    });

    it('fails with CONTACT_NOT_FOUND for an e-mail Customerly does not know, after one attempt', async () => {
      const answer = await send({ action: 'add', email: 'ghost@example.com' });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CONTACT_NOT_FOUND' } });
      expect(jsonAt(answer.body, 'error', 'message')).toContain("User doesn't exist");
      expect((await findEvent(db(), jsonAt(answer.body, 'eventId') as number))?.attempts).toBe(1);
    });

    it('retries a 429 in Customerly\u2019s form, honours a Retry-After when one is sent, and retries a timeout', async () => {
      crm.addUser({ email: 'busy@example.com', name: 'Bea Busy' });
      crm.failNext(
        {
          kind: 'status',
          status: 429,
          body: { error: { message: CUSTOMERLY_MESSAGES.rateLimited, code: 0 } },
        },
        1,
        '/v1/users',
      );
      const limited = await send({ action: 'add', email: 'busy@example.com' });
      expect(limited.body).toMatchObject({ status: 'done', created: true });
      const warnings = await queryActivity(db(), {
        eventId: jsonAt(limited.body, 'eventId') as number,
        level: 'warning',
      });
      expect(warnings[0]?.message).toMatch(/rate limit.*Too Many Requests/);

      crm.failNext(
        {
          kind: 'status',
          status: 429,
          body: { error: { message: CUSTOMERLY_MESSAGES.rateLimited, code: 0 } },
          headers: { 'retry-after': '1' },
        },
        1,
        '/v1/users',
      );
      const before = crm.requests.length;
      const waited = await send({ action: 'update', email: 'busy@example.com' });
      expect(waited.body).toMatchObject({ status: 'done' });
      const loads = crm.requests.slice(before).filter((request) => request.path === '/v1/users');
      expect(loads).toHaveLength(2);
      expect((loads[1]?.at ?? 0) - (loads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);

      await connect('slow', { timeout_ms: 500 });
      crm.failNext({ kind: 'timeout' }, 1, '/v1/users');
      const slow = await send({
        action: 'update',
        path: '/webhooks/slow',
        email: 'busy@example.com',
      });
      expect(slow.body).toMatchObject({ status: 'done' });
      const slowWarnings = await queryActivity(db(), {
        eventId: jsonAt(slow.body, 'eventId') as number,
        level: 'warning',
      });
      expect(slowWarnings[0]?.message).toMatch(/did not answer in time/);
    });
  });
}
