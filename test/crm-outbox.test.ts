/**
 * Return Password goes through a durable outbox (crm_writes): the generated
 * password is queued in the transaction that creates the user, so a worker
 * killed between that commit and the CRM call loses nothing: after a restart
 * the write is sent, and the user's password is the one the CRM holds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { verifyPassword } from '../src/directory/passwords.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { listCrmWrites } from '../src/inbox/crm-writes.repository.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { sendCrmWrites } from '../src/runs/crm-writes.js';
import type { Worker } from '../src/worker/worker.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { runCli, spawnWorker } from './helpers/cli.js';
import { testDialects } from './helpers/databases.js';
import { createTestWorker, startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

for (const dialect of testDialects()) {
  describe(`CRM write-backs (${dialect})`, () => {
    let t: TestService | undefined;
    let crm: FakeTestCrm | undefined;
    let worker: Worker | undefined;
    const stops: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const stop of stops.splice(0)) await stop();
      await worker?.stop();
      await t?.close();
      await crm?.close();
    });

    it('a worker killed between the user commit and the CRM write loses no generated password (regression: the rerun said "already existed" and wrote nothing)', async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect, { runWorker: false });
      await t.connectTestCrm(crm, { return_password: true, return_password_field: 'password' });
      const db = t.service.database.db;
      crm.addContact({ id: 'k1', email: 'killed@example.com' });
      const reply = await t.webhook(
        `/?access_key=${t.key}&async=true&wpf_action=add&contact_id=k1`,
      );
      const eventId = reply.body.eventId as number;
      // The write-back never gets an answer: the worker is killed while it waits.
      // Only the first worker's write hangs: the worker that takes over must get through.
      crm.onLoad = () => {
        if (crm) crm.onLoad = undefined;
        crm?.failNext({ kind: 'timeout' }, 1, '/contacts/k1');
      };

      const child = spawnWorker(t.database, { CRM_BRIDGE_LEASE_MS: '1000' });
      stops.push(() => child.kill());
      await waitFor('the write-back request', () =>
        crm?.requests.some((r) => r.method === 'PATCH' && r.path === '/contacts/k1'),
      );
      await child.kill();

      // The user was committed, and its write-back with it; the CRM has no password yet.
      const user = await findUserByEmail(db, 'killed@example.com');
      expect(user).toBeDefined();
      expect(crm.contacts.get('k1')?.fields.password).toBeUndefined();
      expect(await listCrmWrites(db)).toMatchObject([
        { kind: 'return_password', field: 'password', status: 'pending' },
      ]);

      // A worker starts again: it takes the contact over and sends the queued password.
      worker = createTestWorker(
        t,
        { concurrency: 2, leaseMs: 1_000 },
        { db, sendWrites: sendCrmWrites },
      );
      worker.start();
      const written = await waitFor(
        'the password in the CRM',
        () => crm?.contacts.get('k1')?.fields.password,
      );
      expect(await verifyPassword(written, user!.password_hash, t.service.sealer)).toBe(true);
      await waitFor('the event to finish', async () => {
        const event = await findEvent(db, eventId);
        return event?.status === 'done' ? event : undefined;
      });
      const writes = await waitFor('the write-back to be recorded', async () => {
        const rows = await listCrmWrites(db);
        return rows[0]?.status === 'done' ? rows : undefined;
      });
      expect(writes).toHaveLength(1);
      // The sealed value is dropped once sent; the password is never logged.
      const stored = await db.selectFrom('crm_writes').select('value').execute();
      expect(stored).toEqual([{ value: '' }]);
      const activity = await waitFor('the write-back in the activity log', async () => {
        const lines = JSON.stringify(await queryActivity(db, { limit: 1_000 }));
        return lines.includes('Generated password written to CRM field password')
          ? lines
          : undefined;
      });
      expect(activity).not.toContain(written);
    });

    it('retries a failed write-back on its own, with the retry rules, until it lands', async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect);
      await t.connectTestCrm(crm, { return_password: true, return_password_field: 'password' });
      const db = t.service.database.db;
      crm.addContact({ id: 'r1', email: 'retry@example.com' });
      // The first two writes fail (the CRM is down); the third lands.
      crm.onLoad = () =>
        crm?.failNext({ kind: 'status', status: 503, body: { error: 'down' } }, 2, '/contacts/r1');
      const reply = await t.webhook(`/?access_key=${t.key}&wpf_action=add&contact_id=r1`);
      expect(reply.body).toMatchObject({ status: 'done', returnPassword: 'retrying' });
      const written = await waitFor(
        'the password in the CRM',
        () => crm?.contacts.get('r1')?.fields.password,
      );
      const user = await findUserByEmail(db, 'retry@example.com');
      expect(await verifyPassword(written, user!.password_hash, t.service.sealer)).toBe(true);
      const [write] = await waitFor('the write-back to be recorded', async () => {
        const rows = await listCrmWrites(db);
        return rows[0]?.status === 'done' ? rows : undefined;
      });
      expect(write).toMatchObject({ status: 'done', attempts: 3, event_id: reply.body.eventId });
      const patches = crm.requests.filter((r) => r.method === 'PATCH').length;
      expect(patches).toBe(3);
      // The write-back is marked done before the run's activity lines are written.
      const lines = await waitFor('the activity line of the write-back', async () => {
        const messages = (await queryActivity(db, { contactId: 'r1', limit: 100 })).map(
          (line) => line.message,
        );
        return messages.some((line) => line.startsWith('Generated password written'))
          ? messages
          : undefined;
      });
      expect(lines).toContainEqual(
        expect.stringMatching(/^Generated password written to CRM field password \(attempt 3\)/),
      );
      // `events writes` shows the write-back and its tries, never the password.
      const listed = await runCli(t.database, 'events', 'writes', '--json');
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toMatchObject([
        { kind: 'return_password', field: 'password', status: 'done', attempts: 3 },
      ]);
      expect(listed.stdout).not.toContain(written);
      const shown = await runCli(t.database, 'events', 'show', String(reply.body.eventId));
      expect(shown.stdout).toMatch(
        /CRM write-back #\d+: return_password to field password, done after 3 tries/,
      );
    });
  });
}
