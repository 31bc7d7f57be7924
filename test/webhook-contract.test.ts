/**
 * End-to-end checks of the webhook contract (DESIGN.md §1 and the seed pages
 * in shared/seeds): real HTTP against a running service, a fake CRM behind a
 * `testcrm` connection, and the stored state read back through the
 * repositories. Every URL form the seed pages show is sent as written there,
 * with the service's own key in place of YOURACCESSKEY.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { verifyPassword } from '../src/directory/passwords.js';
import { saveRole } from '../src/directory/role.repository.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { describeUser, type UserView } from '../src/directory/user-view.js';
import { findEvent, listEvents } from '../src/inbox/inbox.repository.js';
import { systemClock } from '../src/clock.js';
import { currentAccessKey, rotateAccessKey } from '../src/settings/access-keys.js';
import type { WebhookEventRow } from '../src/storage/schema.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { testDialects, type TestDialect } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

/** The JSON answer of a webhook, as far as these tests read it. */
interface Answer {
  success?: boolean;
  status?: string;
  action?: string;
  eventId?: number;
  contactId?: string | null;
  userId?: number | null;
  login?: string;
  created?: boolean;
  tags?: { added: string[]; removed: string[]; current: string[] };
  loaded?: { source: string; email?: string; fields: Record<string, string>; tags?: string[] };
  changes?: string[];
  notices?: string[];
  welcomeEmail?: string;
  passwordGenerated?: boolean;
  message?: string;
  error?: { code: string; message: string };
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: Answer;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const PASSWORD = 'S3cret-pass!';

/** A server error other than 503 (storage unavailable, which the CRM should retry). */
const isServerError = (status: number) => status >= 500 && status !== 503;

async function send(t: TestService, pathAndQuery: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(t.baseUrl + pathAndQuery, init);
  const text = await response.text();
  expect(isServerError(response.status), `${pathAndQuery} answered ${response.status}`).toBe(false);
  let body: Answer = {};
  try {
    body = JSON.parse(text) as Answer;
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, text, body };
}

const postForm = (t: TestService, pathAndQuery: string, form: string) =>
  send(t, pathAndQuery, { method: 'POST', headers: FORM, body: form });

const postJson = (t: TestService, pathAndQuery: string, payload: unknown) =>
  send(t, pathAndQuery, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify(payload) });

async function userByEmail(t: TestService, email: string): Promise<UserView> {
  const { db } = t.service.database;
  const row = await findUserByEmail(db, email);
  if (!row) throw new Error(`no user with e-mail ${email}`);
  return describeUser(db, row);
}

async function usersWithEmail(t: TestService, email: string): Promise<number> {
  const rows = await t.service.database.db
    .selectFrom('users')
    .select('id')
    .where('email_lower', '=', email.toLowerCase())
    .execute();
  return rows.length;
}

async function storedEvent(t: TestService, id: number | undefined): Promise<WebhookEventRow> {
  expect(id, 'the answer names its event').toEqual(expect.any(Number));
  const event = await findEvent(t.service.database.db, id ?? -1);
  if (!event) throw new Error(`event ${String(id)} not stored`);
  return event;
}

const labels = (view: UserView, connection: string) =>
  view.tags
    .filter((tag) => tag.connection === connection)
    .map((tag) => tag.label)
    .sort();

async function activityText(t: TestService): Promise<string> {
  return JSON.stringify(await queryActivity(t.service.database.db, { limit: 10_000 }));
}

/** A service with a fake CRM behind its default connection `crm`. */
async function startWithCrm(dialect: TestDialect): Promise<{ crm: FakeTestCrm; t: TestService }> {
  const crm = await startFakeTestCrm();
  try {
    const t = await startTestService(dialect);
    await t.connectTestCrm(crm, { field_map: { password: 'user_pass' } });
    return { crm, t };
  } catch (error) {
    await crm.close();
    throw error;
  }
}

for (const dialect of testDialects()) {
  describe(`webhook contract (${dialect})`, () => {
    let crm: FakeTestCrm;
    let t: TestService;
    let key: string;

    beforeAll(async () => {
      ({ crm, t } = await startWithCrm(dialect));
      key = t.key;
    });

    afterAll(async () => {
      await t?.close();
      await crm?.close();
    });

    describe('test action', () => {
      it('answers {"success":true} at / and /webhooks/crm, for GET and POST', async () => {
        const { db } = t.service.database;
        const earlier = new Set(
          (await listEvents(db, { action: 'test', limit: 10_000 })).map((event) => event.id),
        );
        for (const path of ['/', '/webhooks/crm']) {
          const viaGet = await send(t, `${path}?wpf_action=test&access_key=${key}`);
          expect(viaGet.status).toBe(200);
          expect(viaGet.body).toEqual({ success: true });

          const viaPost = await postForm(t, path, `wpf_action=test&access_key=${key}`);
          expect(viaPost.status).toBe(200);
          expect(viaPost.body).toEqual({ success: true });
        }
        const viaJson = await postJson(t, '/', { wpf_action: 'test', access_key: key });
        expect(viaJson.status).toBe(200);
        expect(viaJson.body).toEqual({ success: true });

        const stored = (await listEvents(db, { action: 'test', limit: 10_000 })).filter(
          (event) => !earlier.has(event.id),
        );
        expect(stored).toHaveLength(5);
        for (const event of stored) {
          expect(event.status).toBe('done');
          expect(JSON.parse(event.result ?? 'null')).toEqual({ success: true });
        }
        expect(stored.map((event) => event.connection_id).sort()).toEqual([
          '',
          '',
          '',
          'crm',
          'crm',
        ]);
      });

      it('accepts the key in the X-Access-Key header instead of the query', async () => {
        const viaGet = await send(t, '/?wpf_action=test', { headers: { 'X-Access-Key': key } });
        expect(viaGet.status).toBe(200);
        expect(viaGet.body).toEqual({ success: true });

        const viaPost = await postForm(t, '/webhooks/crm', 'wpf_action=test');
        expect(viaPost.status).toBe(403);
        const withHeader = await send(t, '/webhooks/crm', {
          method: 'POST',
          headers: { ...FORM, 'X-Access-Key': key },
          body: 'wpf_action=test',
        });
        expect(withHeader.status).toBe(200);
        expect(withHeader.body).toEqual({ success: true });
      });

      it('answers a plain GET of / with a landing message, not an error', async () => {
        const landing = await send(t, '/');
        expect(landing.status).toBe(200);
        expect(landing.body.status).toBe('ok');
        // A person who opens the address in a browser finds the way to log in.
        const html = await fetch(`${t.baseUrl}/`, { headers: { accept: 'text/html' } });
        expect(await html.text()).toContain('<a href="/login">Log in</a>');
      });
    });

    describe('Ontraport-style URLs (parameters in the query)', () => {
      it('add creates the user from the CRM contact; update_tags and update follow it; add again never duplicates', async () => {
        crm.addContact({
          id: '4711',
          email: 'jane@example.com',
          fields: { first_name: 'Jane', last_name: 'Doe' },
          tags: ['1', '2'],
        });

        const added = await send(t, `/?wpf_action=add&access_key=${key}&contact_id=4711`);
        expect(added.status).toBe(200);
        expect(added.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '4711',
          created: true,
          login: 'jane@example.com',
          passwordGenerated: true,
          welcomeEmail: 'not requested',
          loaded: { source: 'api', email: 'jane@example.com' },
        });
        expect(added.body.tags?.current.sort()).toEqual(['Customer', 'VIP']);
        expect(added.body.tags?.added.sort()).toEqual(['Customer', 'VIP']);

        let jane = await userByEmail(t, 'jane@example.com');
        expect(jane.id).toBe(added.body.userId);
        expect(jane).toMatchObject({
          login: 'jane@example.com',
          role: 'subscriber',
          firstName: 'Jane',
          lastName: 'Doe',
          passwordGenerated: true,
        });
        expect(labels(jane, 'crm')).toEqual(['Customer', 'VIP']);
        expect(jane.contacts).toEqual([
          expect.objectContaining({ connection: 'crm', contactId: '4711' }),
        ]);
        const addEvent = await storedEvent(t, added.body.eventId);
        expect(addEvent).toMatchObject({
          status: 'done',
          action: 'add',
          connection_id: 'crm',
          contact_id: '4711',
        });

        // Tags change in the CRM: update_tags brings them over and leaves the fields alone.
        crm.addContact({
          id: '4711',
          email: 'jane@example.com',
          fields: { first_name: 'Janet', last_name: 'Doe' },
          tags: ['1', '3'],
        });
        const tagged = await send(t, `/?wpf_action=update_tags&access_key=${key}&contact_id=4711`);
        expect(tagged.status).toBe(200);
        expect(tagged.body).toMatchObject({
          status: 'done',
          action: 'update_tags',
          userId: jane.id,
          created: false,
          changes: [],
        });
        expect(tagged.body.tags).toEqual({
          added: ['Newsletter'],
          removed: ['VIP'],
          current: ['Customer', 'Newsletter'],
        });
        jane = await userByEmail(t, 'jane@example.com');
        expect(labels(jane, 'crm')).toEqual(['Customer', 'Newsletter']);
        expect(jane.firstName).toBe('Jane');

        // A "Ping a URL" sent as POST with an empty form body.
        const updated = await postForm(
          t,
          `/?wpf_action=update&access_key=${key}&contact_id=4711`,
          '',
        );
        expect(updated.status).toBe(200);
        expect(updated.body).toMatchObject({
          status: 'done',
          action: 'update',
          userId: jane.id,
          created: false,
        });
        expect(updated.body.changes).toContain('first_name');
        jane = await userByEmail(t, 'jane@example.com');
        expect(jane.firstName).toBe('Janet');

        const again = await postForm(t, `/?wpf_action=add&access_key=${key}&contact_id=4711`, '');
        expect(again.status).toBe(200);
        expect(again.body).toMatchObject({
          status: 'done',
          action: 'add',
          created: false,
          userId: jane.id,
        });
        expect(await usersWithEmail(t, 'jane@example.com')).toBe(1);
      });

      it('send_notification=true requests the welcome e-mail; the string "false" does not', async () => {
        crm.addContact({ id: '4720', email: 'welcome@example.com', tags: ['1'] });
        crm.addContact({ id: '4721', email: 'quiet@example.com', tags: ['1'] });

        const yes = await send(
          t,
          `/?wpf_action=add&access_key=${key}&contact_id=4720&send_notification=true`,
        );
        expect(yes.status).toBe(200);
        expect(yes.body).toMatchObject({ status: 'done', created: true, welcomeEmail: 'queued' });
        const yesEvent = await storedEvent(t, yes.body.eventId);
        expect(JSON.parse(yesEvent.params)).toMatchObject({
          action: 'add',
          contactId: '4720',
          sendNotification: true,
        });

        const no = await send(
          t,
          `/?wpf_action=add&access_key=${key}&contact_id=4721&send_notification=false`,
        );
        expect(no.status).toBe(200);
        expect(no.body).toMatchObject({
          status: 'done',
          created: true,
          welcomeEmail: 'not requested',
        });
        const noEvent = await storedEvent(t, no.body.eventId);
        expect(JSON.parse(noEvent.params)).toMatchObject({ sendNotification: false });
        await userByEmail(t, 'quiet@example.com');
      });

      // Other tests register the customer role: this one needs a service where it does not exist yet.
      describe('on a service of its own', () => {
        let crm: FakeTestCrm;
        let t: TestService;
        let key: string;
        beforeAll(async () => {
          ({ crm, t } = await startWithCrm(dialect));
          key = t.key;
        });
        afterAll(async () => {
          await t?.close();
          await crm?.close();
        });

        it('role=customer: subscriber plus a notice until the role is registered, then customer', async () => {
          const { db } = t.service.database;
          crm.addContact({ id: '4730', email: 'early@example.com', tags: [] });
          crm.addContact({ id: '4731', email: 'later@example.com', tags: [] });

          const unregistered = await send(
            t,
            `/?wpf_action=add&access_key=${key}&contact_id=4730&role=customer`,
          );
          expect(unregistered.status).toBe(200);
          expect(unregistered.body).toMatchObject({ status: 'done', created: true });
          expect(unregistered.body.notices).toEqual(
            expect.arrayContaining([expect.stringMatching(/Role "customer" does not exist/)]),
          );
          expect((await userByEmail(t, 'early@example.com')).role).toBe('subscriber');
          const notices = await queryActivity(db, { contactId: '4730', level: 'notice' });
          expect(notices.map((row) => row.message)).toEqual(
            expect.arrayContaining([expect.stringMatching(/customer/)]),
          );

          await saveRole(db, { slug: 'customer', name: 'Customer', isAdmin: false });

          const registered = await send(
            t,
            `/?wpf_action=add&access_key=${key}&contact_id=4731&role=customer`,
          );
          expect(registered.status).toBe(200);
          expect(registered.body).toMatchObject({ status: 'done', created: true, notices: [] });
          expect((await userByEmail(t, 'later@example.com')).role).toBe('customer');

          // Once it exists, update with role= moves the earlier user over too.
          const promoted = await send(
            t,
            `/?wpf_action=update&access_key=${key}&contact_id=4730&role=customer`,
          );
          expect(promoted.status).toBe(200);
          expect(promoted.body.changes).toContain('role');
          expect((await userByEmail(t, 'early@example.com')).role).toBe('customer');
        });
      });
    });

    describe('FunnelKit-style data rows', () => {
      it('works with the rows in the query (GET), in a form body (POST) and in a JSON body (POST)', async () => {
        crm.addContact({
          id: '4800',
          email: 'funnel@example.com',
          fields: { first_name: 'Fran' },
          tags: ['1'],
        });

        // JSON, with the contact id as a number, as a JSON-sending automation may do.
        const added = await postJson(t, '/', {
          contact_id: 4800,
          wpf_action: 'add',
          access_key: key,
        });
        expect(added.status).toBe(200);
        expect(added.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '4800',
          created: true,
        });
        let fran = await userByEmail(t, 'funnel@example.com');
        expect(labels(fran, 'crm')).toEqual(['Customer']);
        expect(fran.firstName).toBe('Fran');

        crm.addContact({
          id: '4800',
          email: 'funnel@example.com',
          fields: { first_name: 'Frances' },
          tags: ['1', '2'],
        });
        const viaGet = await send(t, `/?contact_id=4800&wpf_action=update_tags&access_key=${key}`);
        expect(viaGet.status).toBe(200);
        expect(viaGet.body).toMatchObject({
          status: 'done',
          action: 'update_tags',
          userId: fran.id,
        });
        expect(viaGet.body.tags?.added).toEqual(['VIP']);

        const viaForm = await postForm(
          t,
          '/',
          `contact_id=4800&wpf_action=update&access_key=${key}`,
        );
        expect(viaForm.status).toBe(200);
        expect(viaForm.body).toMatchObject({ status: 'done', action: 'update', userId: fran.id });
        expect(viaForm.body.changes).toContain('first_name');
        fran = await userByEmail(t, 'funnel@example.com');
        expect(fran.firstName).toBe('Frances');
        expect(labels(fran, 'crm')).toEqual(['Customer', 'VIP']);
        expect(await usersWithEmail(t, 'funnel@example.com')).toBe(1);
      });

      it('accepts the documented update_tags rows with send_notification / role: tags only, never a new user', async () => {
        crm.addContact({ id: '4810', email: 'rows@example.com', tags: ['3'] });
        // No user yet: update_tags does not create one, whatever else the row says.
        const early = await postForm(
          t,
          '/',
          `contact_id=4810&wpf_action=update_tags&access_key=${key}&send_notification=true`,
        );
        expect(early.status).toBe(200);
        expect(early.body).toMatchObject({ status: 'skipped', userId: null });
        expect(await usersWithEmail(t, 'rows@example.com')).toBe(0);

        await postForm(t, '/', `contact_id=4810&wpf_action=add&access_key=${key}`);
        crm.addContact({ id: '4810', email: 'rows@example.com', tags: ['2', '3'] });
        const withRole = await postForm(
          t,
          '/',
          `contact_id=4810&wpf_action=update_tags&access_key=${key}&role=editor`,
        );
        expect(withRole.status).toBe(200);
        expect(withRole.body).toMatchObject({ status: 'done', action: 'update_tags', changes: [] });
        const rows = await userByEmail(t, 'rows@example.com');
        expect(labels(rows, 'crm')).toEqual(['Newsletter', 'VIP']);
        expect(rows.role).toBe('subscriber');
      });
    });

    describe('Ortto / Customerly style (contact only in the JSON payload)', () => {
      it('reads contact_id and email from the JSON body of a key-only URL', async () => {
        crm.addContact({ id: '5150', email: 'ortto@example.com', tags: ['2'] });
        const added = await postJson(t, `/?wpf_action=add&access_key=${key}`, {
          contact_id: '5150',
          email: 'ortto@example.com',
        });
        expect(added.status).toBe(200);
        expect(added.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '5150',
          created: true,
        });
        const event = await storedEvent(t, added.body.eventId);
        expect(event).toMatchObject({
          contact_id: '5150',
          email: 'ortto@example.com',
          connection_id: 'crm',
        });
        const user = await userByEmail(t, 'ortto@example.com');
        expect(labels(user, 'crm')).toEqual(['VIP']);

        crm.addContact({ id: '5150', email: 'ortto@example.com', tags: [] });
        const tagged = await postJson(t, `/?wpf_action=update_tags&access_key=${key}`, {
          contact_id: '5150',
          email: 'ortto@example.com',
        });
        expect(tagged.status).toBe(200);
        expect(tagged.body.tags).toEqual({ added: [], removed: ['VIP'], current: [] });
        expect(labels(await userByEmail(t, 'ortto@example.com'), 'crm')).toEqual([]);
      });

      it('takes send_notification and role from the URL while the contact comes in the body', async () => {
        await saveRole(t.service.database.db, {
          slug: 'customer',
          name: 'Customer',
          isAdmin: false,
        });
        crm.addContact({ id: '5151', email: 'notify@example.com', tags: [] });
        crm.addContact({ id: '5152', email: 'shopper@example.com', tags: [] });

        const notify = await postJson(
          t,
          `/?wpf_action=add&access_key=${key}&send_notification=true`,
          { contact_id: '5151' },
        );
        expect(notify.status).toBe(200);
        expect(notify.body).toMatchObject({
          status: 'done',
          contactId: '5151',
          created: true,
          welcomeEmail: 'queued',
        });

        const shopper = await postJson(t, `/?wpf_action=add&access_key=${key}&role=customer`, {
          contact_id: '5152',
        });
        expect(shopper.status).toBe(200);
        expect(shopper.body).toMatchObject({ status: 'done', contactId: '5152', created: true });
        expect((await userByEmail(t, 'shopper@example.com')).role).toBe('customer');
      });
    });

    describe('parameter sources', () => {
      it('lets the body win over the query on a clash', async () => {
        crm.addContact({ id: '4900', email: 'clash@example.com', tags: ['1'] });
        // Were the query's contact to win, the CRM would not know it and the run would fail.
        const reply = await postForm(
          t,
          `/?wpf_action=update&access_key=${key}&contact_id=999999`,
          'contact_id=4900&wpf_action=add',
        );
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '4900',
          created: true,
        });
        const event = await storedEvent(t, reply.body.eventId);
        expect(JSON.parse(event.params)).toMatchObject({
          action: 'add',
          contactId: '4900',
          raw: { contact_id: '4900', wpf_action: 'add' },
        });
        expect(crm.loads('999999')).toBe(0);

        // The same for a JSON body, and for the key itself.
        const json = await postJson(
          t,
          `/?wpf_action=add&access_key=not-the-key&contact_id=999999`,
          {
            wpf_action: 'update_tags',
            access_key: key,
            contact_id: '4900',
          },
        );
        expect(json.status).toBe(200);
        expect(json.body).toMatchObject({
          status: 'done',
          action: 'update_tags',
          contactId: '4900',
        });
      });

      it('reads a multipart/form-data body', async () => {
        crm.addContact({ id: '4901', email: 'multi@example.com', tags: ['3'] });
        const form = new FormData();
        form.set('wpf_action', 'add');
        form.set('access_key', key);
        form.set('contact_id', '4901');
        const reply = await send(t, '/', { method: 'POST', body: form });
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '4901',
          created: true,
        });
        expect(labels(await userByEmail(t, 'multi@example.com'), 'crm')).toEqual(['Newsletter']);

        // Multipart fields with the key in the query.
        const update = new FormData();
        update.set('wpf_action', 'update_tags');
        update.set('contact_id', '4901');
        const tagged = await send(t, `/webhooks/crm?access_key=${key}`, {
          method: 'POST',
          body: update,
        });
        expect(tagged.status).toBe(200);
        expect(tagged.body).toMatchObject({
          status: 'done',
          action: 'update_tags',
          contactId: '4901',
        });
      });

      it('takes the key from the X-Access-Key header for a real action', async () => {
        crm.addContact({ id: '4902', email: 'header@example.com', tags: ['2'] });
        const reply = await send(t, '/?wpf_action=add&contact_id=4902', {
          headers: { 'X-Access-Key': key },
        });
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '4902',
          created: true,
        });
        expect(labels(await userByEmail(t, 'header@example.com'), 'crm')).toEqual(['VIP']);
      });
    });

    describe('bad input', () => {
      it('refuses a wrong or missing key with 403 and logs a warning', async () => {
        const { db } = t.service.database;
        const wrong = await send(t, '/?wpf_action=add&access_key=wrong-key-123&contact_id=4711');
        expect(wrong.status).toBe(403);
        expect(wrong.body.error?.code).toBe('BAD_ACCESS_KEY');
        const missing = await send(t, '/?wpf_action=add&contact_id=4711');
        expect(missing.status).toBe(403);
        expect(missing.body.error?.code).toBe('BAD_ACCESS_KEY');
        const wrongHeader = await send(t, '/webhooks/crm?wpf_action=test', {
          headers: { 'X-Access-Key': 'nope' },
        });
        expect(wrongHeader.status).toBe(403);

        const warnings = (await queryActivity(db, { level: 'warning', limit: 1000 })).map(
          (row) => row.message,
        );
        expect(warnings).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/wrong access key/),
            expect.stringMatching(/missing access key/),
          ]),
        );
        expect(warnings.join('\n')).not.toContain('wrong-key-123');
        // A refused request is not stored.
        const stored = await listEvents(db, { limit: 1000 });
        expect(stored.some((event) => event.request.includes('wrong-key-123'))).toBe(false);
      });

      it('answers 400 without wpf_action or with an unknown one, and stores the request as rejected', async () => {
        const none = await send(t, `/?access_key=${key}&contact_id=4711`);
        expect(none.status).toBe(400);
        expect(none.body).toMatchObject({ status: 'rejected', error: { code: 'NO_ACTION' } });
        expect(await storedEvent(t, none.body.eventId)).toMatchObject({
          status: 'rejected',
          error_code: 'NO_ACTION',
        });

        const unknown = await send(
          t,
          `/?wpf_action=delete_everything&access_key=${key}&contact_id=4711`,
        );
        expect(unknown.status).toBe(400);
        expect(unknown.body).toMatchObject({
          status: 'rejected',
          error: { code: 'UNKNOWN_ACTION' },
        });
        expect(unknown.body.error?.message).toContain('delete_everything');
        expect(await storedEvent(t, unknown.body.eventId)).toMatchObject({
          status: 'rejected',
          action: 'delete_everything',
        });
      });

      it('answers 400 to malformed JSON and keeps its raw body in a rejected event', async () => {
        // No secret-looking name in it, so the broken body is shown as it came.
        const raw = '{"contact_id": 4711, "wpf_action": "add",';
        const reply = await send(t, `/?access_key=${key}`, {
          method: 'POST',
          headers: JSON_TYPE,
          body: raw,
        });
        expect(reply.status).toBe(400);
        expect(reply.body).toMatchObject({ status: 'rejected', error: { code: 'MALFORMED_BODY' } });
        const event = await storedEvent(t, reply.body.eventId);
        expect(event).toMatchObject({ status: 'rejected', error_code: 'MALFORMED_BODY' });
        const request = JSON.parse(event.request) as {
          method: string;
          url: string;
          body: string | null;
          contentType: string | null;
        };
        expect(request).toMatchObject({ method: 'POST', body: raw, url: '/' });
        expect(request.contentType).toContain('application/json');
      });

      it('answers 400 (which no CRM retries) when no contact id is found, or the merge field was never filled in', async () => {
        const none = await send(t, `/?wpf_action=add&access_key=${key}`);
        expect(none.status).toBe(400);
        expect(none.body.error?.message).toContain('No contact id');
        expect(none.body).toMatchObject({ status: 'rejected', error: { code: 'NO_CONTACT_ID' } });
        expect(await storedEvent(t, none.body.eventId)).toMatchObject({
          status: 'rejected',
          error_code: 'NO_CONTACT_ID',
        });

        const unfilled = [
          `/?wpf_action=update_tags&access_key=${key}&contact_id=${encodeURIComponent('[Contact ID]')}`,
          `/?wpf_action=update_tags&access_key=${key}&contact_id=[Contact ID]`,
          `/?wpf_action=add&access_key=${key}&contact_id=${encodeURIComponent('{{contact_id}}')}`,
          `/?wpf_action=add&access_key=${key}&contact_id=${encodeURIComponent('{{ contact_id }}')}`,
          `/?wpf_action=update&access_key=${key}&contact_id=%25CONTACT_ID%25`,
        ];
        for (const path of unfilled) {
          const reply = await send(t, path);
          expect(reply.status, path).toBe(400);
          expect(reply.body.error?.code, path).toBe('UNSUBSTITUTED_MERGE_FIELD');
          const event = await storedEvent(t, reply.body.eventId);
          expect(event.status).toBe('rejected');
        }
        const funnelRow = await postForm(
          t,
          '/',
          `contact_id=${encodeURIComponent('{{contact_id}}')}&wpf_action=add&access_key=${key}`,
        );
        expect(funnelRow.status).toBe(400);
        expect(funnelRow.body.error?.code).toBe('UNSUBSTITUTED_MERGE_FIELD');
        expect(crm.loads('[Contact ID]')).toBe(0);
        expect(crm.loads('{{contact_id}}')).toBe(0);
      });

      it('answers 400 for an unknown connection in the path', async () => {
        const reply = await send(
          t,
          `/webhooks/nope?wpf_action=add&access_key=${key}&contact_id=4711`,
        );
        expect(reply.status).toBe(400);
        expect(reply.body).toMatchObject({
          status: 'rejected',
          error: { code: 'UNKNOWN_CONNECTION' },
        });
        expect(await storedEvent(t, reply.body.eventId)).toMatchObject({
          status: 'rejected',
          connection_id: 'nope',
        });
        // The test button must fail where the real webhooks would.
        const test = await send(t, `/webhooks/nope?wpf_action=test&access_key=${key}`);
        expect(test.status).toBe(400);
        expect(test.body).toMatchObject({
          status: 'rejected',
          error: { code: 'UNKNOWN_CONNECTION' },
        });
      });
    });

    describe('async and fallback lookups', () => {
      it('async=true answers 200 "accepted" at once (FunnelKit counts only 200 as delivered) and the event completes afterwards', async () => {
        crm.addContact({ id: '9001', email: 'later-async@example.com', tags: ['1'] });
        const reply = await send(
          t,
          `/?wpf_action=add&access_key=${key}&contact_id=9001&async=true`,
        );
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'accepted',
          action: 'add',
          contactId: '9001',
          eventId: expect.any(Number),
        });

        const event = await waitFor(
          'the accepted event to complete',
          async () => {
            const stored = await storedEvent(t, reply.body.eventId);
            return stored.status === 'done' && stored;
          },
          10_000,
        );
        expect(event.status).toBe('done');
        expect(JSON.parse(event.result ?? '{}')).toMatchObject({ status: 'done', created: true });
        expect(labels(await userByEmail(t, 'later-async@example.com'), 'crm')).toEqual([
          'Customer',
        ]);
      });

      it('update / update_tags without a matching user answer 200 skipped', async () => {
        crm.addContact({ id: '6001', email: 'nobody@example.com', tags: ['1'] });
        for (const action of ['update', 'update_tags']) {
          const reply = await send(t, `/?wpf_action=${action}&access_key=${key}&contact_id=6001`);
          expect(reply.status).toBe(200);
          expect(reply.body).toMatchObject({
            status: 'skipped',
            action,
            contactId: '6001',
            userId: null,
            created: false,
          });
          expect(reply.body.notices).toEqual([
            expect.stringMatching(/No user is linked to contact 6001/),
          ]);
          expect(await storedEvent(t, reply.body.eventId)).toMatchObject({ status: 'skipped' });
        }
        expect(await usersWithEmail(t, 'nobody@example.com')).toBe(0);
        const info = await queryActivity(t.service.database.db, {
          contactId: '6001',
          level: 'info',
        });
        expect(info.map((row) => row.message)).toEqual(
          expect.arrayContaining([expect.stringMatching(/^Skipped update for contact 6001/)]),
        );
      });

      it('with email= of an existing user not yet linked on the connection, update_tags updates that user and links the contact', async () => {
        // A user of the site with no contact of this connection (here: made through a payload connection).
        await t.addConnection({ id: 'payload', type: 'payload' });
        const created = await send(
          t,
          `/webhooks/payload?wpf_action=add&access_key=${key}&contact_id=p-6002&email=linked@example.com`,
        );
        expect(created.status).toBe(200);
        const userId = created.body.userId;

        // A contact (with another e-mail in the CRM) is tied to the user by the email parameter.
        crm.addContact({ id: '6003', email: 'linked-crm@example.com', tags: ['3'] });
        const reply = await send(
          t,
          `/?wpf_action=update_tags&access_key=${key}&contact_id=6003&email=linked@example.com`,
        );
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          action: 'update_tags',
          userId,
          created: false,
        });
        // The contact's tags become the user's tag set for the connection.
        expect(reply.body.tags).toEqual({
          added: ['Newsletter'],
          removed: [],
          current: ['Newsletter'],
        });

        const user = await userByEmail(t, 'linked@example.com');
        expect(user.contacts.map((link) => `${link.connection}/${link.contactId}`).sort()).toEqual([
          'crm/6003',
          'payload/p-6002',
        ]);
        expect(labels(user, 'crm')).toEqual(['Newsletter']);
        expect(await usersWithEmail(t, 'linked-crm@example.com')).toBe(0);

        // Linked now: no email parameter needed any more.
        const again = await send(t, `/?wpf_action=update_tags&access_key=${key}&contact_id=6003`);
        expect(again.body).toMatchObject({ status: 'done', userId });

        // Another contact naming the same user is not linked: the user has its contact on this connection.
        crm.addContact({ id: '6004', email: 'other-crm@example.com', tags: ['1'] });
        const other = await send(
          t,
          `/?wpf_action=update_tags&access_key=${key}&contact_id=6004&email=linked@example.com`,
        );
        expect(other.body).toMatchObject({ status: 'skipped', userId: null });
        expect(other.body.notices).toEqual([
          expect.stringMatching(/already linked to another contact of connection crm/),
        ]);
        expect(labels(await userByEmail(t, 'linked@example.com'), 'crm')).toEqual(['Newsletter']);
      });
    });

    describe('as WP Fusion reads a webhook', () => {
      it('takes action names in any case, and update_user / add_user as WP Fusion does', async () => {
        crm.addContact({ id: '8400', email: 'casing@example.com', tags: ['1'] });
        const added = await send(t, `/?wpf_action=ADD&access_key=${key}&contact_id=8400`);
        expect(added.status).toBe(200);
        expect(added.body).toMatchObject({ status: 'done', action: 'add', created: true });
        expect((await storedEvent(t, added.body.eventId)).action).toBe('add');

        crm.addContact({ id: '8400', email: 'casing@example.com', tags: ['1', '2'] });
        const tags = await send(t, `/?wpf_action=Update_Tags&access_key=${key}&contact_id=8400`);
        expect(tags.body).toMatchObject({ status: 'done', action: 'update_tags' });
        expect(labels(await userByEmail(t, 'casing@example.com'), 'crm')).toEqual([
          'Customer',
          'VIP',
        ]);
        const update = await send(t, `/?wpf_action=update_user&access_key=${key}&contact_id=8400`);
        expect(update.body).toMatchObject({ status: 'done', action: 'update' });
        const again = await send(t, `/?wpf_action=add_user&access_key=${key}&contact_id=8400`);
        expect(again.body).toMatchObject({ status: 'done', action: 'add', created: false });
        expect(await usersWithEmail(t, 'casing@example.com')).toBe(1);
        expect((await send(t, `/?wpf_action=TEST&access_key=${key}`)).body).toEqual({
          success: true,
        });
      });

      it('treats any path with wpf_action as a webhook, and leaves other requests to their routes', async () => {
        crm.addContact({ id: '8500', email: 'anypath@example.com', tags: ['1'] });
        const page = await send(t, `/any/page/?wpf_action=test&access_key=${key}`);
        expect(page.status).toBe(200);
        expect(page.body).toEqual({ success: true });

        // The old plugin address, as a proxy keeping the old domain forwards it.
        const plugin = await send(
          t,
          `/wp-content/plugins/wp-fusion/api.php?wpf_action=add&access_key=${key}&contact_id=8500`,
        );
        expect(plugin.status).toBe(200);
        expect(plugin.body).toMatchObject({ status: 'done', created: true });
        const stored = await storedEvent(t, plugin.body.eventId);
        expect(JSON.parse(stored.request)).toMatchObject({
          url: '/wp-content/plugins/wp-fusion/api.php?wpf_action=add&contact_id=8500',
        });

        // FunnelKit's POST with the rows in a form body, to a page of the old site.
        const form = await postForm(
          t,
          '/shop/thank-you/',
          `contact_id=8500&wpf_action=update_tags&access_key=${key}`,
        );
        expect(form.status).toBe(200);
        expect(form.body).toMatchObject({ status: 'done', action: 'update_tags' });
        // A wrong key on any path is refused like at /.
        expect((await send(t, '/any/page/?wpf_action=test&access_key=nope-1')).status).toBe(403);

        // Without wpf_action our own routes answer as before, and unknown paths are not webhooks.
        const login = await fetch(`${t.baseUrl}/login`, { headers: { accept: 'text/html' } });
        expect(login.status).toBe(200);
        expect(await login.text()).toContain('<form');
        expect((await send(t, '/any/page/')).status).toBe(404);
        expect((await send(t, `/any/page/?access_key=${key}&contact_id=8500`)).status).toBe(404);
        expect((await send(t, '/healthz')).body).toMatchObject({ status: 'ok' });
      });

      it('sets the user\u2019s tags from a tags parameter on update and update_tags, by label or id, without asking the CRM for them', async () => {
        crm.addContact({ id: '8600', email: 'tagparam@example.com', tags: ['1'] });
        await send(t, `/?wpf_action=add&access_key=${key}&contact_id=8600`);
        const loadsBefore = crm.loads('8600');

        const byLabelAndId = await send(
          t,
          `/?wpf_action=update_tags&access_key=${key}&contact_id=8600&tags=${encodeURIComponent('VIP,3')}`,
        );
        expect(byLabelAndId.body).toMatchObject({ status: 'done', action: 'update_tags' });
        expect(labels(await userByEmail(t, 'tagparam@example.com'), 'crm')).toEqual([
          'Newsletter',
          'VIP',
        ]);
        expect(crm.loads('8600')).toBe(loadsBefore);

        // `update` still loads the contact's fields, but the tags come from the webhook.
        const update = await postForm(
          t,
          '/',
          `wpf_action=update&access_key=${key}&contact_id=8600&tags[]=Customer`,
        );
        expect(update.body).toMatchObject({ status: 'done', action: 'update' });
        expect(labels(await userByEmail(t, 'tagparam@example.com'), 'crm')).toEqual(['Customer']);
        expect(crm.loads('8600')).toBe(loadsBefore + 1);

        // A tags merge field the CRM left unfilled is no tag: the CRM's tags are loaded instead.
        const unfilled = await send(
          t,
          `/?wpf_action=update_tags&access_key=${key}&contact_id=8600&tags=${encodeURIComponent('{{tags}}')}`,
        );
        expect(unfilled.body).toMatchObject({ status: 'done' });
        expect(labels(await userByEmail(t, 'tagparam@example.com'), 'crm')).toEqual(['Customer']);
        expect(crm.loads('8600')).toBe(loadsBefore + 2);
      });
    });

    describe('browser view and secrets', () => {
      it('shows an HTML page with what was loaded; the mapped password never leaks', async () => {
        const { db } = t.service.database;
        crm.addContact({
          id: '8080',
          email: 'pat@example.com',
          fields: { first_name: 'Pat', password: PASSWORD },
          tags: ['1', '2'],
        });

        const html = await send(t, `/?wpf_action=add&access_key=${key}&contact_id=8080`, {
          headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
        });
        expect(html.status).toBe(200);
        expect(html.headers.get('content-type')).toMatch(/^text\/html/);
        expect(html.text).toMatch(/^<!doctype html>/i);
        expect(html.text).toContain('pat@example.com');
        expect(html.text).toContain('Customer');
        expect(html.text).toContain('VIP');
        expect(html.text).toContain('***');
        expect(html.text).not.toContain(PASSWORD);
        expect(html.text).not.toContain(key);

        const pat = await findUserByEmail(db, 'pat@example.com');
        expect(pat?.password_generated).toBe(0);
        expect(await verifyPassword(PASSWORD, pat?.password_hash ?? '')).toBe(true);

        const json = await send(t, `/?wpf_action=update&access_key=${key}&contact_id=8080`);
        expect(json.status).toBe(200);
        expect(json.body.loaded?.fields.password).toBe('***');
        expect(json.body.changes).not.toContain('password');
        expect(json.text).not.toContain(PASSWORD);

        expect(await activityText(t)).not.toContain(PASSWORD);
        expect(t.logLines.join('')).not.toContain(PASSWORD);
        expect(t.logLines.join('')).not.toContain(key);
        for (const event of await listEvents(db, { contactId: '8080' })) {
          expect(event.request).not.toContain(key);
          expect(event.request).not.toContain(PASSWORD);
          expect(event.result ?? '').not.toContain(PASSWORD);
        }
      });

      it('shows errors on the HTML page too', async () => {
        const reply = await send(t, `/?wpf_action=add&access_key=${key}`, {
          headers: { accept: 'text/html' },
        });
        expect(reply.status).toBe(400);
        expect(reply.headers.get('content-type')).toMatch(/^text\/html/);
        expect(reply.text).toContain('NO_CONTACT_ID');
      });
    });

    it('never wrote the access key to the process log or the activity log, nor kept it in a stored request', async () => {
      // The key in each place a request can carry it, on a run that succeeds and on requests that are rejected.
      crm.addContact({ id: '8100', email: 'keyed@example.com', tags: ['1'] });
      await send(t, `/?wpf_action=add&access_key=${key}&contact_id=8100`);
      await postForm(t, '/webhooks/crm', `wpf_action=update&access_key=${key}&contact_id=8100`);
      await postJson(t, '/', { wpf_action: 'update_tags', access_key: key, contact_id: '8100' });
      await send(t, '/?wpf_action=nonsense&contact_id=8100', { headers: { 'X-Access-Key': key } });
      await send(t, `/?access_key=${key}`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: '{"broken":',
      });

      expect(t.logLines.length).toBeGreaterThan(0);
      expect(t.logLines.join('')).not.toContain(key);
      expect(await activityText(t)).not.toContain(key);
      for (const event of await listEvents(t.service.database.db, { limit: 10_000 })) {
        expect(event.request).not.toContain(key);
        expect(event.params).not.toContain(key);
      }
    });

    describe('out-of-the-box payload connector (no connection configured)', () => {
      let p: TestService;
      beforeAll(async () => {
        p = await startTestService(dialect);
      });
      afterAll(async () => {
        await p?.close();
      });

      it('creates the user from the query, tags from a comma list, other fields as meta', async () => {
        const reply = await send(
          p,
          `/?wpf_action=add&access_key=${p.key}&contact_id=7&email=a@b.c&tags=Customer,VIP&plan=gold&first_name=Ann`,
        );
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          action: 'add',
          contactId: '7',
          created: true,
          loaded: { source: 'webhook', email: 'a@b.c' },
        });
        expect(reply.body.tags?.current).toEqual(['Customer', 'VIP']);
        const user = await userByEmail(p, 'a@b.c');
        expect(user).toMatchObject({
          email: 'a@b.c',
          firstName: 'Ann',
          role: 'subscriber',
          meta: { plan: 'gold' },
        });
        expect(Object.keys(user.meta)).toEqual(['plan']);
        expect(labels(user, 'payload')).toEqual(['Customer', 'VIP']);
        expect(user.contacts).toEqual([
          expect.objectContaining({ connection: 'payload', contactId: '7' }),
        ]);
        expect(await storedEvent(p, reply.body.eventId)).toMatchObject({
          connection_id: 'payload',
          status: 'done',
        });
      });

      it('takes tags as a JSON array in a JSON body (no comma splitting)', async () => {
        const created = await send(
          p,
          `/?wpf_action=add&access_key=${p.key}&contact_id=17&email=json@b.c&tags=Customer,VIP&plan=gold`,
        );
        expect(created.body).toMatchObject({ status: 'done', created: true });

        const reply = await postJson(p, `/?wpf_action=update&access_key=${p.key}`, {
          contact_id: 17,
          email: 'json@b.c',
          tags: ['VIP', 'Gold, Platinum'],
          plan: 'platinum',
        });
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({ status: 'done', action: 'update', created: false });
        expect(reply.body.tags).toEqual({
          added: ['Gold, Platinum'],
          removed: ['Customer'],
          current: ['VIP', 'Gold, Platinum'],
        });
        const user = await userByEmail(p, 'json@b.c');
        expect(labels(user, 'payload')).toEqual(['Gold, Platinum', 'VIP']);
        expect(user.meta).toEqual({ plan: 'platinum' });
      });

      it('keys a contact by e-mail when no id is sent, and rejects a request with neither', async () => {
        const byEmail = await postJson(p, `/?wpf_action=add&access_key=${p.key}`, {
          email: 'solo@b.c',
          tags: [],
        });
        expect(byEmail.status).toBe(200);
        expect(byEmail.body).toMatchObject({
          status: 'done',
          contactId: 'solo@b.c',
          created: true,
        });

        const neither = await postJson(p, `/?wpf_action=add&access_key=${p.key}`, {
          first_name: 'Nobody',
        });
        expect(neither.status).toBe(400);
        expect(neither.body.error?.code).toBe('NO_CONTACT_ID');
      });

      it('sets a password sent as user_pass without writing it to any log', async () => {
        const secret = 'Hunter2-pass!';
        const reply = await send(
          p,
          `/?wpf_action=add&access_key=${p.key}&contact_id=8&email=pw@b.c&user_pass=${encodeURIComponent(secret)}`,
        );
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({
          status: 'done',
          created: true,
          passwordGenerated: false,
        });
        expect(reply.text).not.toContain(secret);
        const row = await findUserByEmail(p.service.database.db, 'pw@b.c');
        expect(await verifyPassword(secret, row?.password_hash ?? '')).toBe(true);
        expect(p.logLines.join('')).not.toContain(secret);
        expect(await activityText(p)).not.toContain(secret);

        // The same contact added again with another password: the existing user takes it.
        const next = 'Other-pass-42!';
        const again = await send(
          p,
          `/?wpf_action=add&access_key=${p.key}&contact_id=8&email=pw@b.c&user_pass=${encodeURIComponent(next)}`,
        );
        expect(again.body).toMatchObject({ status: 'done', created: false });
        const updated = await findUserByEmail(p.service.database.db, 'pw@b.c');
        expect(updated?.id).toBe(row?.id);
        expect(await verifyPassword(next, updated?.password_hash ?? '')).toBe(true);
        expect(await verifyPassword(secret, updated?.password_hash ?? '')).toBe(false);
      });
    });

    describe('accepted for later', () => {
      let s: TestService | undefined;
      afterAll(async () => {
        await s?.close();
      });

      it('answers 200 "accepted" when the wait runs out, and 202 when configured so', async () => {
        // No worker: nothing finishes, so the wait always runs out.
        s = await startTestService(dialect, {
          runWorker: false,
          env: { CRM_BRIDGE_SYNC_WAIT_MS: '50' },
        });
        const waited = await send(
          s,
          `/?wpf_action=add&access_key=${s.key}&contact_id=w@b.cc&email=w@b.cc`,
        );
        expect(waited.status).toBe(200);
        expect(waited.body).toMatchObject({ status: 'accepted', action: 'add' });
        await s.close();

        s = await startTestService(dialect, {
          runWorker: false,
          env: { CRM_BRIDGE_ACCEPTED_STATUS: '202' },
        });
        const queued = await send(
          s,
          `/?wpf_action=add&access_key=${s.key}&contact_id=q@b.cc&email=q@b.cc&async=true`,
        );
        expect(queued.status).toBe(202);
        expect(queued.body).toMatchObject({ status: 'accepted' });
      });
    });

    describe('several connections and no default', () => {
      let s: TestService;
      beforeAll(async () => {
        s = await startTestService(dialect, { runWorker: false });
        await s.addConnection({
          id: 'shop',
          type: 'testcrm',
          apiUrl: 'http://127.0.0.1:9',
          settings: { api_key: 'k' },
        });
        await s.addConnection({
          id: 'journeys',
          type: 'ortto',
          apiUrl: 'http://127.0.0.1:9',
          settings: { api_key: 'k' },
        });
      });
      afterAll(async () => {
        await s?.close();
      });

      it('at / picks the connection whose payload shape the webhook has, or answers 400 naming them', async () => {
        const plain = await send(s, `/?wpf_action=add&access_key=${s.key}&contact_id=1`);
        expect(plain.status).toBe(400);
        expect(plain.body).toMatchObject({
          status: 'rejected',
          error: { code: 'AMBIGUOUS_CONNECTION' },
        });
        expect(plain.body.error?.message).toContain('shop');
        expect(plain.body.error?.message).toContain('journeys');
        expect((await storedEvent(s, plain.body.eventId)).status).toBe('rejected');

        const ortto = await postJson(s, `/?wpf_action=add&access_key=${s.key}&async=true`, {
          contact_id: '0065f0e1d2c3b4a5968778a0',
          email: 'journey@example.com',
          id: '0065f0e1d2c3b4a5968778a1',
          run_id: '0065f0e1d2c3b4a5968778a2',
          webhook_id: '0065f0e1d2c3b4a5968778a3',
        });
        expect(ortto.status).toBe(200);
        expect(ortto.body).toMatchObject({ status: 'accepted' });
        expect((await storedEvent(s, ortto.body.eventId)).connection_id).toBe('journeys');
      });
    });

    describe('body size limit', () => {
      let s: TestService;
      beforeAll(async () => {
        s = await startTestService(dialect, { env: { CRM_BRIDGE_BODY_LIMIT: '2048' } });
      });
      afterAll(async () => {
        await s?.close();
      });

      it('answers 413 to a larger body and stores a rejected event', async () => {
        const big = JSON.stringify({
          contact_id: '1',
          email: 'big@b.c',
          notes: 'x'.repeat(10_000),
        });
        const reply = await send(s, `/?wpf_action=add&access_key=${s.key}&contact_id=1`, {
          method: 'POST',
          headers: JSON_TYPE,
          body: big,
        });
        expect(reply.status).toBe(413);
        expect(reply.body).toMatchObject({ status: 'rejected', error: { code: 'BODY_TOO_LARGE' } });
        const event = await storedEvent(s, reply.body.eventId);
        expect(event).toMatchObject({
          status: 'rejected',
          error_code: 'BODY_TOO_LARGE',
          action: 'add',
          contact_id: '1',
        });
        expect(await usersWithEmail(s, 'big@b.c')).toBe(0);

        // A body under the limit still works.
        const small = await postJson(s, `/?wpf_action=add&access_key=${s.key}`, {
          contact_id: '2',
          email: 'small@b.c',
        });
        expect(small.status).toBe(200);
        expect(small.body).toMatchObject({ status: 'done', created: true });
      });
    });

    describe('failed key attempts', () => {
      // A service for each test: the failed keys are counted per address, and each test counts from none.
      let s: TestService;
      beforeEach(async () => {
        s = await startTestService(dialect, { env: { CRM_BRIDGE_KEY_FAILURE_LIMIT: '3' } });
      });
      afterEach(async () => {
        await s?.close();
      });

      it('a stale automation repeating a retired or wrong key never locks out the right key; each is logged once', async () => {
        const { db } = s.service.database;
        const retired = s.key;
        const current = (await rotateAccessKey(db, systemClock, s.service.sealer, 0)).secret;
        await waitFor(
          'the service to see the rotated key',
          async () => (await send(s, `/?wpf_action=test&access_key=${current}`)).status === 200,
          5_000,
        );
        // Many times the limit, as a CRM with several automations on the old key would send.
        for (let attempt = 0; attempt < 12; attempt += 1) {
          expect((await send(s, `/?wpf_action=test&access_key=${retired}`)).status).toBe(403);
          expect((await send(s, '/?wpf_action=test&access_key=typo-key')).status).toBe(403);
          expect((await send(s, `/?wpf_action=test&access_key=${current}`)).status).toBe(200);
        }
        const warnings = (await queryActivity(db, { level: 'warning' })).map((row) => row.message);
        expect(
          warnings.filter((line) => line.includes('an automation still uses a retired key')),
        ).toHaveLength(1);
        expect(warnings.filter((line) => /wrong access key/.test(line))).toHaveLength(1);
        expect(warnings.join('\n')).not.toContain(retired);
        expect(warnings.join('\n')).not.toContain('typo-key');
      });

      it('answers 429 once an address tries many different keys, even with the right key', async () => {
        // Three distinct wrong keys reach the limit of 3.
        for (let attempt = 1; attempt <= 3; attempt += 1) {
          const reply = await send(s, `/?wpf_action=test&access_key=guess-${attempt}`);
          expect(reply.status).toBe(403);
        }
        const { db } = s.service.database;
        const current = (await currentAccessKey(db, systemClock, s.service.sealer)).secret;
        const blocked = await send(s, `/?wpf_action=test&access_key=${current}`);
        expect(blocked.status).toBe(429);
        expect(blocked.body.error?.code).toBe('TOO_MANY_KEY_FAILURES');
        expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
        const viaHeader = await send(s, '/?wpf_action=add&contact_id=1&email=x@y.z', {
          headers: { 'X-Access-Key': current },
        });
        expect(viaHeader.status).toBe(429);

        const warnings = await queryActivity(db, { level: 'warning' });
        expect(warnings[0]?.message).toMatch(/429/);
        expect(warnings[0]?.message).toMatch(/different wrong keys/);
        expect((await listEvents(db)).filter((event) => event.action !== 'test')).toHaveLength(0);
      });
    });

    describe('storage unavailable', () => {
      let s: TestService;
      beforeAll(async () => {
        s = await startTestService(dialect);
      });
      afterAll(async () => {
        // The database is already closed: closing it again may throw, and the files must still go.
        await s?.close().catch(() => s.database.drop());
      });

      it('answers 503 with Retry-After so the CRM retries', async () => {
        const ok = await send(s, `/?wpf_action=test&access_key=${s.key}`);
        expect(ok.status).toBe(200);

        await s.service.database.destroy();

        const test = await send(s, `/?wpf_action=test&access_key=${s.key}`);
        expect(test.status).toBe(503);
        expect(test.body.error?.code).toBe('STORAGE_UNAVAILABLE');
        expect(Number(test.headers.get('retry-after'))).toBeGreaterThan(0);

        const add = await send(s, `/?wpf_action=add&access_key=${s.key}&contact_id=1&email=x@y.z`);
        expect(add.status).toBe(503);
        expect(add.body.error?.code).toBe('STORAGE_UNAVAILABLE');
        expect(add.headers.get('retry-after')).not.toBeNull();

        // The process is alive (liveness) but not ready: load balancers stop sending it traffic.
        const health = await fetch(`${s.baseUrl}/healthz`);
        expect(health.status).toBe(200);
        await health.text();
        const ready = await fetch(`${s.baseUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('NOT_READY');
      });
    });

    it('never answered with a 500', async () => {
      // Every action over every way of sending it, well-formed or not; `send` checks each answer as it comes too.
      const statusesSeen: number[] = [];
      crm.addContact({ id: '8200', email: 'many@example.com', tags: ['1'] });
      for (const path of ['/', '/webhooks/crm', '/webhooks/nope']) {
        for (const action of ['test', 'add', 'update', 'update_tags', 'unknown', '']) {
          for (const contact of ['8200', '', '[Contact ID]']) {
            const query = `wpf_action=${action}&access_key=${key}&contact_id=${encodeURIComponent(contact)}`;
            statusesSeen.push((await send(t, `${path}?${query}`)).status);
            statusesSeen.push((await postForm(t, path, query)).status);
          }
        }
      }
      expect(statusesSeen.length).toBeGreaterThan(40);
      expect(statusesSeen.filter(isServerError)).toEqual([]);
    });
  });
}
