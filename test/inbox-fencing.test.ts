/**
 * The lease is the one authority over a contact: a run that lost it (a pause
 * longer than the lease) writes nothing, lease times follow the database's
 * clock, and a run that could not record its outcome keeps the lease, so no
 * newer webhook runs before its older ones. On PostgreSQL, two `serve`
 * processes share one schema and one is paused (SIGSTOP) mid-run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Kysely, KyselyPlugin } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { systemClock, type Clock } from '../src/clock.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import {
  acquireContactLease,
  claimContactEvents,
  findEvent,
  finishEvents,
  lockToken,
} from '../src/inbox/inbox.repository.js';
import { sendCrmWrites } from '../src/runs/crm-writes.js';
import type { DB } from '../src/storage/schema.js';
import type { Worker } from '../src/worker/worker.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { BIN } from './helpers/cli.js';
import { testDialects } from './helpers/databases.js';
import { trackOpen } from './helpers/open-resources.js';
import { eventRow } from './helpers/event-row.js';
import { createTestWorker, startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

/** Makes the statements that record a run's outcome (or its retry) fail while `failing.on` is set. */
function failingFinish(failing: { on: boolean }): KyselyPlugin {
  return {
    transformQuery(args) {
      if (
        failing.on &&
        args.node.kind === 'UpdateQueryNode' &&
        /"(finished_at|available_at)"/.test(JSON.stringify(args.node))
      ) {
        throw new Error('storage went away');
      }
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
}

/** A `serve` process in its own process group, so cleanup can end all of it. */
async function startNode(t: TestService): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      t.database.dataDir,
      '--database-url',
      t.database.url,
    ],
    {
      env: {
        ...process.env,
        CRM_BRIDGE_LOG_LEVEL: 'silent',
        CRM_BRIDGE_POLL_MS: '50',
        CRM_BRIDGE_LEASE_MS: '1500',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    },
  );
  child.once('exit', trackOpen('a `crm-bridge serve` process'));
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('Try it:')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
  return child;
}

async function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGCONT');
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await exited;
}

for (const dialect of testDialects()) {
  describe(`lease fencing (${dialect})`, () => {
    let t: TestService;
    let crm: FakeTestCrm;
    const workers: Worker[] = [];

    const worker = (
      owner: string,
      leaseMs: number,
      options: { db?: Kysely<DB>; clock?: Clock } = {},
    ) => {
      const created = createTestWorker(
        t,
        { concurrency: 2, leaseMs, owner },
        {
          db: options.db ?? t.service.database.db,
          clock: options.clock ?? systemClock,
          sendWrites: sendCrmWrites,
        },
      );
      workers.push(created);
      return created;
    };

    /** Holds the first contact load until `release` is called; later loads answer at once. */
    const holdFirstLoad = () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let seen = 0;
      crm.onLoad = async () => {
        seen += 1;
        if (seen === 1) await gate;
      };
      return { release: () => release() };
    };

    const leaseOf = async (contactId: string) =>
      t.service.database.db
        .selectFrom('contact_leases')
        .selectAll()
        .where('contact_id', '=', contactId)
        .executeTakeFirstOrThrow();

    beforeEach(async () => {
      crm = await startFakeTestCrm();
      t = await startTestService(dialect, { runWorker: false });
      await t.connectTestCrm(crm);
    });
    afterEach(async () => {
      crm.onLoad = undefined;
      await Promise.all(workers.splice(0).map((w) => w.stop()));
      await t.close();
      await crm.close();
    });

    it('a run whose lease was taken during its CRM call writes nothing (regression: it applied stale data over the new holder’s)', async () => {
      const db = t.service.database.db;
      const contact = crm.addContact({
        id: 'f1',
        email: 'fence@example.com',
        fields: { first_name: 'Old' },
      });
      // A long lease: the heartbeat does not notice the loss, the write transaction's check must.
      const a = worker('A', 60_000);
      const b = worker('B', 60_000);
      const held = holdFirstLoad();
      const hook = await t.webhook(`/?access_key=${t.key}&async=true&wpf_action=add&contact_id=f1`);
      const eventId = hook.body.eventId as number;
      const runA = a.drain();
      await waitFor('A to load the contact', () => crm.loads('f1') === 1);

      // A stands still for longer than its lease: the lease runs out and B takes it.
      await db.updateTable('contact_leases').set({ expires_at: '' }).execute();
      contact.fields.first_name = 'New';
      expect(await b.drain()).toBe(1);
      expect((await findUserByEmail(db, 'fence@example.com'))?.first_name).toBe('New');
      expect(await findEvent(db, eventId)).toMatchObject({ status: 'done' });

      // A wakes up with the old answer.
      held.release();
      await runA;
      expect((await findUserByEmail(db, 'fence@example.com'))?.first_name).toBe('New');
      const lines = await queryActivity(db, { contactId: 'f1' });
      const messages = lines.map((line) => line.message);
      expect(messages.filter((m) => /^(Created|Updated) user/.test(m))).toHaveLength(1);
      expect(messages).toContainEqual(
        expect.stringMatching(/^Lease of contact f1 lost.*nothing written/),
      );
      expect(await findEvent(db, eventId)).toMatchObject({ status: 'done', attempts: 2 });
    });

    it('the heartbeat aborts a run, CRM call included, once another worker took its lease', async () => {
      const db = t.service.database.db;
      crm.addContact({ id: 'f2', email: 'beat@example.com', fields: { first_name: 'Old' } });
      const a = worker('A', 600);
      const held = holdFirstLoad();
      await t.webhook(`/?access_key=${t.key}&async=true&wpf_action=add&contact_id=f2`);
      const runA = a.drain();
      await waitFor('A to load the contact', () => crm.loads('f2') === 1);
      // Another worker takes the lease (as after a pause of A longer than the lease).
      await db.updateTable('contact_leases').set({ expires_at: '' }).execute();
      const taken = await acquireContactLease(
        db,
        { connectionId: 'crm', contactId: 'f2' },
        'B',
        60_000,
      );
      expect(taken?.generation).toBe(2);
      // A's run ends while the CRM still holds its answer: the heartbeat aborted it.
      await runA;
      expect(crm.loads('f2')).toBe(1);
      const warnings = await queryActivity(db, { contactId: 'f2', level: 'warning' });
      expect(warnings.map((line) => line.message)).toEqual([
        expect.stringMatching(/^Lease of contact f2 lost/),
      ]);
      held.release();
      expect(await findUserByEmail(db, 'beat@example.com')).toBeUndefined();
    });

    it('compares lease times against the database clock, not a worker’s own (regression: a fast clock took a live lease)', async () => {
      crm.addContact({ id: 'f3', email: 'clock@example.com' });
      const a = worker('A', 5_000);
      const ahead: Clock = { now: () => new Date(Date.now() + 3_600_000) };
      const b = worker('B', 5_000, { clock: ahead });
      const held = holdFirstLoad();
      await t.webhook(`/?access_key=${t.key}&async=true&wpf_action=add&contact_id=f3`);
      const runA = a.drain();
      await waitFor('A to load the contact', () => crm.loads('f3') === 1);
      // B's clock runs an hour ahead: by its own time A's lease ran out long ago.
      expect(await b.drain()).toBe(0);
      expect(crm.maxConcurrentLoads('f3')).toBe(1);
      held.release();
      expect(await runA).toBe(1);
      expect(crm.loads('f3')).toBe(1);
      const lease = await leaseOf('f3');
      expect(lease.owner).toBe('A');
    });

    it('finishEvents reports the events it could not record because the lease moved on', async () => {
      const db = t.service.database.db;
      const { id } = await db
        .insertInto('webhook_events')
        .values(eventRow({ connection_id: 'crm', contact_id: 'f4' }))
        .returning('id')
        .executeTakeFirstOrThrow();
      const contact = { connectionId: 'crm', contactId: 'f4' };
      const first = await acquireContactLease(db, contact, 'A', 60_000);
      expect(await claimContactEvents(db, first!, 60_000)).toHaveLength(1);
      await db.updateTable('contact_leases').set({ expires_at: '' }).execute();
      const second = await acquireContactLease(db, contact, 'A', 60_000);
      expect(second?.generation).toBe(first!.generation + 1);
      expect(await claimContactEvents(db, second!, 60_000)).toHaveLength(1);
      // The same process, an older generation: nothing recorded, and it says so.
      const outcome = { status: 'done' as const, result: {} };
      expect(await finishEvents(db, [id], lockToken(first!), outcome, '')).toBe(0);
      expect(await finishEvents(db, [id], lockToken(second!), outcome, '')).toBe(1);
    });

    it('keeps the lease when a run could not record its outcome, so a newer webhook never runs before an older one (regression: the older one ran last)', async () => {
      const db = t.service.database.db;
      await t.addConnection({ id: 'pl', type: 'payload' });
      const failing = { on: true };
      const a = worker('A', 1_000, { db: db.withPlugin(failingFinish(failing)) });
      const b = worker('B', 1_000);
      const hook = (query: string) =>
        t.webhook(`/webhooks/pl?access_key=${t.key}&async=true&${query}`);
      const first = await hook(
        'wpf_action=add&contact_id=o1&email=order@example.com&first_name=One',
      );
      // The run writes the user, then storage fails as it records the outcome.
      expect(await a.drain()).toBe(1);
      expect((await findUserByEmail(db, 'order@example.com'))?.first_name).toBe('One');
      expect(await findEvent(db, first.body.eventId as number)).toMatchObject({
        status: 'running',
      });
      expect((await leaseOf('o1')).owner).toBe('A');

      const second = await hook('wpf_action=update&contact_id=o1&first_name=Two');
      // The newer webhook waits for the lease: it may not run ahead of the older one.
      expect(await b.drain()).toBe(0);
      expect(await findEvent(db, second.body.eventId as number)).toMatchObject({
        status: 'pending',
      });

      // When the lease runs out, one run takes both, in order.
      await waitFor('both webhooks to finish', async () => {
        await b.drain();
        const rows = await Promise.all(
          [first, second].map((reply) => findEvent(db, reply.body.eventId as number)),
        );
        return rows.every((row) => row?.status === 'done') ? rows : undefined;
      });
      expect((await findUserByEmail(db, 'order@example.com'))?.first_name).toBe('Two');
      expect(await findEvent(db, first.body.eventId as number)).toMatchObject({ attempts: 2 });
    });
  });
  if (dialect === 'postgres')
    describe('two nodes on one PostgreSQL, one paused mid-run', () => {
      let t: TestService | undefined;
      let crm: FakeTestCrm | undefined;
      const nodes: ChildProcess[] = [];

      afterEach(async () => {
        await Promise.all(nodes.splice(0).map(stopNode));
        await t?.close();
        await crm?.close();
      });

      it('the paused node writes nothing after the other took its lease (regression: it applied its stale data and logged "Updated user")', async () => {
        crm = await startFakeTestCrm();
        // Intake only: the two serve processes are the workers.
        t = await startTestService('postgres', { runWorker: false });
        const db = t.service.database.db;
        await t.connectTestCrm(crm);
        const contact = crm.addContact({
          id: 'n1',
          email: 'nodes@example.com',
          fields: { first_name: 'Old' },
        });
        // The CRM is slow with node A's load: it answers when the test says so.
        let answerA: () => void = () => undefined;
        const heldA = new Promise<void>((resolve) => (answerA = resolve));
        let aLoading: () => void = () => undefined;
        const loadingA = new Promise<void>((resolve) => (aLoading = resolve));
        let loads = 0;
        crm.onLoad = async () => {
          loads += 1;
          if (loads > 1) return;
          aLoading();
          await heldA;
        };

        const a = await startNode(t);
        nodes.push(a);
        const reply = await t.webhook(
          `/?access_key=${t.key}&async=true&wpf_action=add&contact_id=n1`,
        );
        expect(reply.status).toBe(200);
        const eventId = reply.body.eventId as number;
        await loadingA;
        process.kill(a.pid!, 'SIGSTOP');

        // While A stands still, the contact changes and node B takes over once A's lease runs out.
        contact.fields.first_name = 'New';
        nodes.push(await startNode(t));
        const done = await waitFor('node B to run the webhook', async () => {
          const row = await findEvent(db, eventId);
          return row?.status === 'done' ? row : undefined;
        });
        expect(done.attempts).toBe(2);
        expect((await findUserByEmail(db, 'nodes@example.com'))?.first_name).toBe('New');

        // A's CRM answer arrives (with the old data) and A resumes.
        answerA();
        process.kill(a.pid!, 'SIGCONT');
        const lost = await waitFor('node A to report its lost lease', async () => {
          const lines = await queryActivity(db, { contactId: 'n1', level: 'warning' });
          return lines.find((line) => line.message.startsWith('Lease of contact n1 lost'));
        });
        expect(lost.message).toMatch(/nothing written/);

        expect((await findUserByEmail(db, 'nodes@example.com'))?.first_name).toBe('New');
        const messages = (await queryActivity(db, { contactId: 'n1' })).map((line) => line.message);
        expect(messages.filter((m) => /^(Created|Updated) user/.test(m))).toEqual([
          expect.stringMatching(/^Created user #\d+ \(.*\) for contact n1/),
        ]);
        expect(await findEvent(db, eventId)).toMatchObject({ status: 'done', attempts: 2 });
      });
    });
}
