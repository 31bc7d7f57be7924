/**
 * The rules of add, update and update_tags, end to end: webhook in, contact
 * from the testcrm fake, user out.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { verifyPassword } from '../src/directory/passwords.js';
import { saveRole } from '../src/directory/role.repository.js';
import { describeUser } from '../src/directory/user-view.js';
import { findUserByEmail, listUsers, updateUser } from '../src/directory/user.repository.js';
import { saveSetting } from '../src/settings/settings.js';
import { testDialects } from './helpers/databases.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, type TestService } from './helpers/service.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';

for (const dialect of testDialects()) {
  describe(`user directory rules (${dialect})`, () => {
    let crm: FakeTestCrm;
    let t: TestService;

    const connect = (settings: Record<string, unknown> = {}) => t.connectTestCrm(crm, settings);
    const hook = (query: string) => t.webhook(`/?access_key=${t.key}&${query}`);
    const db = () => t.service.database.db;
    const userOf = async (email: string) => {
      const row = await findUserByEmail(db(), email);
      if (!row) throw new Error(`no user ${email}`);
      return row;
    };

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect);
      await connect();
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    it('creates a user with the e-mail as username, a generated password and the default role', async () => {
      crm.addContact({
        id: '10',
        email: 'Jane@Example.com',
        fields: { first_name: 'Jane', last_name: 'Doe' },
        tags: ['1', '2'],
      });
      const answer = await hook('wpf_action=add&contact_id=10');
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        passwordGenerated: true,
        tags: { current: ['Customer', 'VIP'] },
      });
      const view = await describeUser(db(), await userOf('jane@example.com'));
      expect(view).toMatchObject({
        login: 'jane@example.com',
        email: 'Jane@Example.com',
        role: 'subscriber',
        firstName: 'Jane',
        lastName: 'Doe',
        passwordGenerated: true,
      });
      expect(view.tags.map((tag) => tag.label)).toEqual(['Customer', 'VIP']);
      expect(view.contacts).toEqual([
        expect.objectContaining({ connection: 'crm', contactId: '10' }),
      ]);
    });

    it('never creates a duplicate: add again updates, and another contact with the same e-mail neither takes the user nor makes one', async () => {
      crm.addContact({ id: '11', email: 'dup@example.com', fields: { first_name: 'Old' } });
      await hook('wpf_action=add&contact_id=11');
      crm.contacts.get('11')!.fields.first_name = 'New';
      const again = await hook('wpf_action=add&contact_id=11');
      expect(again.body).toMatchObject({ status: 'done', created: false, changes: ['first_name'] });
      crm.addContact({ id: '12', email: 'DUP@example.com' });
      const other = await hook('wpf_action=add&contact_id=12');
      expect(other.status).toBe(400);
      expect(other.body).toMatchObject({
        status: 'failed',
        error: { code: 'USER_LINKED_TO_OTHER_CONTACT' },
      });
      expect(await listUsers(db())).toHaveLength(1);
      const view = await describeUser(db(), await userOf('dup@example.com'));
      expect(view.firstName).toBe('New');
      expect(view.contacts.map((contact) => contact.contactId).sort()).toEqual(['11']);
    });

    it('uses the username format setting under WP Fusion\u2019s names and makes usernames unique as it does', async () => {
      await saveSetting(db(), 'username_format', 'flname', new Date().toISOString());
      for (const id of ['20', '21']) {
        crm.addContact({
          id,
          email: `a${id}@example.com`,
          fields: { first_name: 'Ann', last_name: 'Lee' },
        });
        await hook(`wpf_action=add&contact_id=${id}`);
      }
      expect((await userOf('a20@example.com')).login).toBe('AnnLee');
      // The name in use gets digits from 1 to 999 appended.
      expect((await userOf('a21@example.com')).login).toMatch(/^AnnLee[1-9]\d{0,2}$/);

      await saveSetting(db(), 'username_format', 'fnamenum', new Date().toISOString());
      crm.addContact({ id: '22', email: 'a22@example.com', fields: { first_name: 'Ann' } });
      await hook('wpf_action=add&contact_id=22');
      expect((await userOf('a22@example.com')).login).toMatch(/^Ann[1-9]\d{0,4}$/);

      // The earlier name of the format still works, as the same format.
      await saveSetting(db(), 'username_format', 'first_last', new Date().toISOString());
      crm.addContact({
        id: '23',
        email: 'a23@example.com',
        fields: { first_name: 'Bo', last_name: 'Berg' },
      });
      await hook('wpf_action=add&contact_id=23');
      expect((await userOf('a23@example.com')).login).toBe('BoBerg');
    });

    it('gives the username and password stored in the contact when they are mapped', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({
        field_map: { username: 'user_login', password: 'user_pass', plan: 'membership' },
      });
      crm.addContact({
        id: '30',
        email: 'mapped@example.com',
        fields: { username: 'jdoe', password: 'Correct-Horse-9', plan: 'gold' },
      });
      const answer = await hook('wpf_action=add&contact_id=30');
      expect(answer.body).toMatchObject({ login: 'jdoe', passwordGenerated: false });
      const user = await userOf('mapped@example.com');
      expect(await verifyPassword('Correct-Horse-9', user.password_hash)).toBe(true);
      expect(user.password_generated).toBe(0);
      expect((await describeUser(db(), user)).meta).toEqual({ membership: 'gold' });
      expect(JSON.stringify(answer.body)).not.toContain('Correct-Horse-9');

      // A changed password in the CRM is applied on update; an unchanged one is not a change.
      crm.contacts.get('30')!.fields.password = 'Battery-Staple-7';
      const update = await hook('wpf_action=update&contact_id=30');
      expect(update.body.changes).toContain('password');
      expect(
        await verifyPassword(
          'Battery-Staple-7',
          (await userOf('mapped@example.com')).password_hash,
        ),
      ).toBe(true);
      expect((await hook('wpf_action=update&contact_id=30')).body.changes).toEqual([]);
    });

    it('converts a role title to its slug, falls back on unknown roles, and never assigns or removes admin roles', async () => {
      await saveRole(db(), { slug: 'gold_member', name: 'Gold Member', isAdmin: false });
      crm.addContact({ id: '40', email: 'r1@example.com' });
      crm.addContact({ id: '41', email: 'r2@example.com' });
      crm.addContact({ id: '42', email: 'r3@example.com' });
      expect((await hook('wpf_action=add&contact_id=40&role=Gold%20Member')).body).toMatchObject({
        status: 'done',
      });
      expect((await userOf('r1@example.com')).role).toBe('gold_member');

      const unknown = await hook('wpf_action=add&contact_id=41&role=customer');
      expect((await userOf('r2@example.com')).role).toBe('subscriber');
      expect(unknown.body.notices).toEqual([expect.stringMatching(/"customer" does not exist/)]);

      const admin = await hook('wpf_action=add&contact_id=42&role=administrator');
      expect((await userOf('r3@example.com')).role).toBe('subscriber');
      expect(admin.body.notices).toEqual([expect.stringMatching(/never assigned by a webhook/)]);

      const existing = await userOf('r1@example.com');
      await updateUser(db(), existing.id, { role: 'administrator' });
      const demote = await hook('wpf_action=update&contact_id=40&role=subscriber');
      expect((await userOf('r1@example.com')).role).toBe('administrator');
      expect(demote.body.notices).toEqual([expect.stringMatching(/admin role.*never change/)]);
    });

    it('takes the role from a mapped contact field before the role parameter', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({ field_map: { level: 'role' } });
      await saveRole(db(), { slug: 'gold_member', name: 'Gold Member', isAdmin: false });
      crm.addContact({ id: '43', email: 'r4@example.com', fields: { level: 'Gold Member' } });
      await hook('wpf_action=add&contact_id=43&role=editor');
      expect((await userOf('r4@example.com')).role).toBe('gold_member');
    });

    it('reads send_notification as a string: "false" sends nothing, "true" asks for the welcome e-mail', async () => {
      crm.addContact({ id: '50', email: 'n1@example.com' });
      crm.addContact({ id: '51', email: 'n2@example.com' });
      expect(
        (await hook('wpf_action=add&contact_id=50&send_notification=false')).body.welcomeEmail,
      ).toBe('not requested');
      expect(
        (await hook('wpf_action=add&contact_id=51&send_notification=true')).body.welcomeEmail,
      ).toBe('queued');
    });

    it('update applies fields and tags; update_tags only tags, reporting what was added and removed', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({ field_map: { plan: 'membership' } });
      crm.addContact({
        id: '60',
        email: 'u@example.com',
        fields: { first_name: 'U', plan: 'basic' },
        tags: ['1'],
      });
      await hook('wpf_action=add&contact_id=60');
      const contact = crm.contacts.get('60')!;
      contact.fields.plan = 'pro';
      contact.fields.first_name = 'Uma';
      contact.tags = ['2', '3'];
      const tagsOnly = await hook('wpf_action=update_tags&contact_id=60');
      expect(tagsOnly.body).toMatchObject({
        changes: [],
        tags: {
          added: ['VIP', 'Newsletter'],
          removed: ['Customer'],
          current: ['VIP', 'Newsletter'],
        },
      });
      expect((await describeUser(db(), await userOf('u@example.com'))).meta).toEqual({
        membership: 'basic',
      });

      const full = await hook('wpf_action=update&contact_id=60');
      expect(full.body.changes).toEqual(['first_name', 'meta.membership']);
      const view = await describeUser(db(), await userOf('u@example.com'));
      expect(view).toMatchObject({ firstName: 'Uma', meta: { membership: 'pro' } });
    });

    it('skips an update for a contact without a user, and finds one by the email parameter', async () => {
      crm.addContact({ id: '70', email: 'first@example.com', tags: ['1'] });
      crm.addContact({ id: '71', email: 'second@example.com', tags: ['3'] });
      const skipped = await hook('wpf_action=update_tags&contact_id=71');
      expect(skipped.status).toBe(200);
      expect(skipped.body).toMatchObject({ status: 'skipped', userId: null });
      const notices = await queryActivity(db(), {
        eventId: skipped.body.eventId as number,
        level: 'notice',
      });
      expect(notices[0]?.message).toMatch(/No user is linked to contact 71/);

      // A user with no contact of this connection yet (made through a payload connection).
      await t.addConnection({ id: 'payload', type: 'payload' });
      await t.webhook(
        `/webhooks/payload?access_key=${t.key}&wpf_action=add&contact_id=p70&email=first@example.com`,
      );
      const viaEmail = await hook('wpf_action=update_tags&contact_id=71&email=first@example.com');
      expect(viaEmail.body).toMatchObject({ status: 'done', tags: { current: ['Newsletter'] } });
      const view = await describeUser(db(), await userOf('first@example.com'));
      expect(view.contacts.map((c) => `${c.connection}/${c.contactId}`).sort()).toEqual([
        'crm/71',
        'payload/p70',
      ]);

      // Once linked, the e-mail no longer ties another contact of the connection to it.
      const taken = await hook('wpf_action=update_tags&contact_id=70&email=first@example.com');
      expect(taken.body).toMatchObject({ status: 'skipped', userId: null });
    });

    it('refuses to create a user for a contact without an e-mail', async () => {
      crm.addContact({ id: '80', fields: { first_name: 'Nomail' } });
      const answer = await hook('wpf_action=add&contact_id=80');
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        status: 'failed',
        error: { code: 'CONTACT_HAS_NO_EMAIL' },
      });
      expect(await listUsers(db())).toHaveLength(0);
    });

    it('returns a generated password to the chosen CRM field, and never logs it', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({ return_password: true, return_password_field: 'password' });
      crm.addContact({ id: '90', email: 'rp@example.com' });
      const answer = await hook('wpf_action=add&contact_id=90');
      expect(answer.body).toMatchObject({ returnPassword: 'written', passwordGenerated: true });
      const written = crm.contacts.get('90')?.fields.password ?? '';
      expect(written.length).toBeGreaterThanOrEqual(12);
      expect(
        await verifyPassword(
          written,
          (await userOf('rp@example.com')).password_hash,
          t.service.sealer,
        ),
      ).toBe(true);
      const activity = JSON.stringify(await queryActivity(db(), { limit: 1_000 }));
      const events = JSON.stringify(await db().selectFrom('webhook_events').selectAll().execute());
      for (const place of [activity, events, t.logLines.join(''), JSON.stringify(answer.body)])
        expect(place).not.toContain(written);
    });

    it('returns the login, id and registration date with the password to the fields mapped to them, as WP Fusion does', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({
        return_password: true,
        return_password_field: 'password',
        field_map: { username: 'user_login', wp_id: 'user_id', joined: 'user_registered' },
      });
      crm.addContact({ id: '94', email: 'rpfields@example.com' });
      const answer = await hook('wpf_action=add&contact_id=94');
      expect(answer.body).toMatchObject({ returnPassword: 'written', created: true });
      const user = await userOf('rpfields@example.com');
      const fields = crm.contacts.get('94')?.fields ?? {};
      expect(fields.username).toBe(user.login);
      expect(fields.wp_id).toBe(String(user.id));
      // WordPress's user_registered form, in UTC.
      expect(fields.joined).toBe(user.created_at.slice(0, 19).replace('T', ' '));
      expect(fields.joined).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      expect(
        await verifyPassword(fields.password ?? '', user.password_hash, t.service.sealer),
      ).toBe(true);
    });

    it('masks the Return Password field in later runs even when its name does not look secret', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({
        return_password: true,
        return_password_field: 'plan',
        field_map: { plan: 'membership' },
      });
      crm.addContact({ id: '93', email: 'masked@example.com' });
      await hook('wpf_action=add&contact_id=93');
      const written = crm.contacts.get('93')?.fields.plan ?? '';
      expect(written.length).toBeGreaterThanOrEqual(12);
      const later = await hook('wpf_action=update&contact_id=93');
      expect(later.body).toMatchObject({ loaded: { fields: { plan: '***' } } });
      expect(JSON.stringify(await queryActivity(db(), { limit: 1_000 }))).not.toContain(written);
    });

    it('keeps the import when returning the password fails, and sends the password again until it lands', async () => {
      await t.close();
      t = await startTestService(dialect);
      await connect({ return_password: true, return_password_field: 'password' });
      crm.addContact({ id: '92', email: 'rpfail@example.com' });
      // Queued while the contact loads, so it hits the next request: the write-back.
      crm.onLoad = () =>
        crm.failNext(
          { kind: 'status', status: 500, body: { error: 'write failed' } },
          1,
          '/contacts/92',
        );
      const answer = await hook('wpf_action=add&contact_id=92');
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        returnPassword: 'retrying',
      });
      expect(answer.body.notices).toEqual([
        expect.stringMatching(/Could not write the generated password.*write failed.*retrying/),
      ]);
      expect(await findUserByEmail(db(), 'rpfail@example.com')).toBeDefined();
      const written = await waitFor(
        'the retried write-back',
        () => crm.contacts.get('92')?.fields.password,
      );
      expect(
        await verifyPassword(
          written,
          (await userOf('rpfail@example.com')).password_hash,
          t.service.sealer,
        ),
      ).toBe(true);
    });
  });
}
