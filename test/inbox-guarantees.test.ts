/**
 * Delivery guarantees of the inbox and worker under a hostile world: a webhook
 * whose run crashes the process, and coalesced webhooks that disagree.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { saveRole } from '../src/directory/role.repository.js';
import { describeUser } from '../src/directory/user-view.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { sealParams, sealRequest } from '../src/inbox/stored-secrets.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { testDialects } from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';
import { createTestWorker, startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

for (const dialect of testDialects()) {
  describe(`inbox guarantees (${dialect})`, () => {
    let t: TestService;
    let crm: FakeTestCrm;

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect, { env: { CRM_BRIDGE_SETTING_RETRY_MAX_ATTEMPTS: '3' } });
      await t.connectTestCrm(crm);
    });
    afterEach(async () => {
      await t.close();
      await crm.close();
    });

    it('dead-letters at claim a webhook whose runs never finished (regression: a poison webhook was reclaimed forever)', async () => {
      crm.addContact({ id: '41', email: 'poison@example.com', tags: ['1'] });
      const db = t.service.database.db;
      const past = new Date(Date.now() - 60_000).toISOString();
      // As a worker that crashed during its third run of the webhook leaves it: running, lock expired.
      const params = {
        action: 'update_tags' as const,
        contactId: '41',
        sendNotification: false,
        async: true,
        raw: { wpf_action: 'update_tags', contact_id: '41' },
      };
      const poison = await db
        .insertInto('webhook_events')
        .values(
          eventRow({
            received_at: past,
            connection_id: 'crm',
            contact_id: '41',
            status: 'running',
            attempts: 3,
            available_at: past,
            locked_by: 'crashed-worker',
            locked_until: past,
            params: sealParams(params, t.service.sealer),
            request: sealRequest(
              {
                method: 'GET',
                url: '/?wpf_action=update_tags&contact_id=41',
                contentType: null,
                body: null,
              },
              t.service.sealer,
            ),
          }),
        )
        .returning('id')
        .executeTakeFirstOrThrow();

      // A fresh webhook for the same contact still runs, once.
      const fresh = await t.webhook(`/?access_key=${t.key}&wpf_action=add&contact_id=41`);
      expect(fresh.body).toMatchObject({ status: 'done', created: true });

      const failed = await waitFor('the poison webhook to fail', async () => {
        const row = await findEvent(db, poison.id);
        return row?.status === 'failed' ? row : undefined;
      });
      expect(failed.error_code).toBe('RETRIES_EXHAUSTED');
      expect(failed.attempts).toBe(4);
      expect(crm.loads('41')).toBe(1);
      const errors = await queryActivity(db, { contactId: '41', level: 'error' });
      expect(errors.map((row) => row.message)).toEqual([
        expect.stringMatching(
          /^Gave up: claimed 4 times \(the limit is 3\) without an outcome.*events replay/,
        ),
      ]);
    });
  });

  describe(`backoff during an outage (${dialect})`, () => {
    it('holds the whole contact until its retry is due; new webhooks join the delayed run (regression: they cut the backoff short and dead-lettered it in seconds)', async () => {
      const crm = await startFakeTestCrm();
      const t = await startTestService(dialect, {
        runWorker: false,
        env: {
          CRM_BRIDGE_SETTING_RETRY_BASE_DELAY_MS: '2000',
          CRM_BRIDGE_SETTING_RETRY_MAX_ATTEMPTS: '3',
        },
      });
      try {
        const db = t.service.database.db;
        crm.addContact({ id: 'out', email: 'outage@example.com', tags: ['1'] });
        await t.connectTestCrm(crm);
        const worker = createTestWorker(t, { concurrency: 2, leaseMs: 5_000 }, { db });
        const loads = () =>
          crm.requests.filter((request) => request.path.includes('/contacts/out')).length;
        // One failed load: the CRM is back by the time the retry is due.
        crm.failNext({ kind: 'status', status: 503, body: { error: 'down' } }, 1, '/contacts/out');

        const first = await t.webhook(
          `/?access_key=${t.key}&async=true&wpf_action=add&contact_id=out`,
        );
        expect(await worker.drain()).toBe(1);
        expect(loads()).toBe(1);
        expect(await findEvent(db, first.body.eventId as number)).toMatchObject({
          status: 'pending',
          attempts: 1,
          error_code: 'CRM_UNAVAILABLE',
        });

        // The CRM keeps sending webhooks for the contact during the outage.
        const later: number[] = [];
        for (let i = 0; i < 5; i += 1)
          later.push(
            (
              await t.webhook(
                `/?access_key=${t.key}&async=true&wpf_action=update_tags&contact_id=out`,
              )
            ).body.eventId as number,
          );
        expect(await worker.drain()).toBe(0);
        expect(loads()).toBe(1);

        // When the retry is due, one run serves all six.
        await waitFor(
          'the delayed run',
          async () => {
            await worker.drain();
            const rows = await Promise.all(
              [first.body.eventId as number, ...later].map((id) => findEvent(db, id)),
            );
            return rows.every((row) => row?.status === 'done') ? rows : undefined;
          },
          10_000,
        );
        expect(await findEvent(db, first.body.eventId as number)).toMatchObject({ attempts: 2 });
        expect(await findEvent(db, later[0]!)).toMatchObject({ attempts: 1 });
      } finally {
        await t.close();
        await crm.close();
      }
    });
  });

  describe(`tag lists (${dialect})`, () => {
    it('refuses a webhook with more tags than a contact can have, once, with a clear code (regression: 10,000 tags retried ten times)', async () => {
      const t = await startTestService(dialect);
      try {
        const tags = Array.from({ length: 10_000 }, (_, i) => `t${i}`).join(',');
        const reply = await t.webhook(`/?access_key=${t.key}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            wpf_action: 'add',
            contact_id: 'many',
            email: 'many@example.com',
            tags,
          }).toString(),
        });
        expect(reply.status).toBe(400);
        expect(reply.body).toMatchObject({ status: 'rejected', error: { code: 'TOO_MANY_TAGS' } });
        const event = await findEvent(t.service.database.db, reply.body.eventId as number);
        expect(event).toMatchObject({ status: 'rejected', attempts: 0 });
      } finally {
        await t.close();
      }
    });

    it('stores a CRM tag list and a contact\u2019s tags far longer than one statement can bind', async () => {
      const crm = await startFakeTestCrm();
      const t = await startTestService(dialect);
      try {
        for (let i = 0; i < 10_000; i += 1) crm.tags.set(`x${i}`, `Tag ${i}`);
        const ids = Array.from({ length: 1_000 }, (_, i) => `x${i * 7}`);
        crm.addContact({ id: 'big', email: 'big@example.com', tags: ids });
        await t.connectTestCrm(crm);
        const reply = await t.webhook(`/?access_key=${t.key}&wpf_action=add&contact_id=big`);
        expect(reply.status).toBe(200);
        expect((reply.body.tags as { current: string[] }).current).toHaveLength(1_000);
        expect((reply.body.tags as { current: string[] }).current).toContain('Tag 6993');
        crm.contacts.get('big')!.tags = ids.slice(0, 10);
        const fewer = await t.webhook(
          `/?access_key=${t.key}&wpf_action=update_tags&contact_id=big`,
        );
        expect((fewer.body.tags as { removed: string[] }).removed).toHaveLength(990);
      } finally {
        await t.close();
        await crm.close();
      }
    });
  });

  describe(`coalescing (${dialect})`, () => {
    it('takes the role from add and update only, and tags from the newest webhook that carries them', async () => {
      // No worker yet: the webhooks wait in the inbox and are served by one run.
      const t = await startTestService(dialect, { runWorker: false });
      try {
        const db = t.service.database.db;
        await saveRole(db, { slug: 'editor', name: 'Editor', isAdmin: false });
        const hook = (query: string) => t.webhook(`/?access_key=${t.key}&async=true&${query}`);
        expect(
          (await hook('wpf_action=add&contact_id=c-1&email=co@example.com&role=editor&tags=A,B'))
            .status,
        ).toBe(200);
        expect((await hook('wpf_action=update_tags&contact_id=c-1&role=subscriber')).status).toBe(
          200,
        );
        expect((await hook('wpf_action=update_tags&contact_id=c-1&tags=B,C')).status).toBe(200);
        expect((await hook('wpf_action=update_tags&contact_id=c-1')).status).toBe(200);

        const worker = createTestWorker(
          t,
          { concurrency: 1, leaseMs: 5_000 },
          { db, settingOverrides: {} },
        );
        expect(await worker.drain()).toBe(1);
        const user = await findUserByEmail(db, 'co@example.com');
        expect(user?.role).toBe('editor');
        const view = await describeUser(db, user!);
        expect(view.tags.map((tag) => tag.label).sort()).toEqual(['B', 'C']);
      } finally {
        await t.close();
      }
    });
  });
}
