/**
 * Retention: finished webhooks, activity lines and sent e-mails past their
 * `retention_*_days` are pruned in small batches that let the intake write in
 * between; pending and running webhooks, and anything set to 0 days, stay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeActivity } from '../src/activity/activity.repository.js';
import type { Clock } from '../src/clock.js';
import { createInboxWriter } from '../src/inbox/inbox-writer.js';
import type { Database } from '../src/storage/database.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import type { EventStatus } from '../src/storage/schema.js';
import { pruneExpired } from '../src/worker/retention.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';

const DAY = 86_400_000;
const start = new Date('2026-01-01T00:00:00.000Z');
const dayIso = (day: number) => new Date(start.getTime() + day * DAY).toISOString();

/** A clock the test moves by hand. */
function manualClock(): Clock & { setDay(day: number): void } {
  let now = start;
  return {
    now: () => now,
    setDay(day) {
      now = new Date(start.getTime() + day * DAY);
    },
  };
}

for (const dialect of testDialects()) {
  describe(`retention (${dialect})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    afterEach(async () => {
      await database.destroy();
      await testDb.drop();
    });

    async function open(): Promise<Database> {
      testDb = await createTestDatabase(dialect);
      database = openTestPool(testDb.url);
      await migrateToLatest(database.db, database.dialect);
      return database;
    }

    /** A webhook that arrived on `day` and (unless pending or running) finished the same day. */
    async function addEvent(contact: string, status: EventStatus, day: number): Promise<number> {
      const finished = status !== 'pending' && status !== 'running';
      const row = await database.db
        .insertInto('webhook_events')
        .values(
          eventRow({
            contact_id: contact,
            status,
            received_at: dayIso(day),
            available_at: dayIso(day),
            finished_at: finished ? dayIso(day) : null,
          }),
        )
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    }

    async function addMail(status: 'sent' | 'pending' | 'failed', day: number): Promise<void> {
      await database.db
        .insertInto('mail_queue')
        .values({
          kind: 'welcome',
          user_id: null,
          to_address: 'someone@example.com',
          status,
          attempts: 1,
          available_at: dayIso(day),
          locked_by: null,
          locked_until: null,
          event_id: null,
          subject: null,
          delivered_to: null,
          error_message: null,
          created_at: dayIso(day),
          sent_at: status === 'sent' ? dayIso(day) : null,
        })
        .execute();
    }

    const statuses = async () =>
      (
        await database.db
          .selectFrom('webhook_events')
          .select(['contact_id', 'status'])
          .orderBy('id')
          .execute()
      ).map((row) => `${row.contact_id}:${row.status}`);

    it('deletes what is past its retention and keeps the rest, as the clock moves on', async () => {
      const { db } = await open();
      const clock = manualClock();
      await addEvent('old-done', 'done', 0);
      await addEvent('old-skipped', 'skipped', 1);
      await addEvent('old-failed', 'failed', 2);
      await addEvent('old-rejected', 'rejected', 3);
      await addEvent('old-pending', 'pending', 4);
      await addEvent('old-running', 'running', 5);
      await addEvent('new-done', 'done', 50);
      await writeActivity(db, [{ level: 'info', message: 'old line' }], dayIso(0));
      await writeActivity(db, [{ level: 'info', message: 'new line' }], dayIso(50));
      await addMail('sent', 0);
      await addMail('failed', 0);
      await addMail('sent', 50);
      const deps = { db, clock, settingOverrides: {} };

      // Day 20: nothing is 30 days old yet.
      clock.setDay(20);
      expect(await pruneExpired(deps)).toEqual({ events: 0, activity: 0, mail: 0 });

      // Day 60: done and skipped webhooks (30 days), the old activity line and the old sent mail go;
      // failed and rejected ones (90 days) stay, and so do pending and running ones of any age.
      clock.setDay(60);
      expect(await pruneExpired(deps)).toEqual({ events: 2, activity: 1, mail: 1 });
      expect(await statuses()).toEqual([
        'old-failed:failed',
        'old-rejected:rejected',
        'old-pending:pending',
        'old-running:running',
        'new-done:done',
      ]);
      const lines = await db.selectFrom('activity_log').select('message').execute();
      expect(lines.map((line) => line.message)).toEqual(['new line']);
      const mail = await db.selectFrom('mail_queue').select(['status', 'created_at']).execute();
      expect(mail).toEqual([
        { status: 'failed', created_at: dayIso(0) },
        { status: 'sent', created_at: dayIso(50) },
      ]);

      // Day 100: the failed and rejected ones are 90 days old too.
      clock.setDay(100);
      expect(await pruneExpired(deps)).toEqual({ events: 3, activity: 1, mail: 1 });
      expect(await statuses()).toEqual(['old-pending:pending', 'old-running:running']);
    });

    it('keeps everything a setting of 0 days says to keep', async () => {
      const { db } = await open();
      const clock = manualClock();
      await addEvent('done', 'done', 0);
      await addEvent('failed', 'failed', 0);
      await writeActivity(db, [{ level: 'info', message: 'line' }], dayIso(0));
      await addMail('sent', 0);
      clock.setDay(1_000);
      const settingOverrides = {
        retention_done_days: '0',
        retention_failed_days: '0',
        retention_activity_days: '0',
        retention_mail_days: '0',
      };
      expect(await pruneExpired({ db, clock, settingOverrides })).toEqual({
        events: 0,
        activity: 0,
        mail: 0,
      });
      expect(await statuses()).toEqual(['done:done', 'failed:failed']);
    });

    it('deletes in small batches, and webhooks are stored between them', async () => {
      const { db } = await open();
      const clock = manualClock();
      for (let i = 0; i < 25; i += 1) await addEvent(`old-${i}`, 'done', 0);
      clock.setDay(40);
      const writer = createInboxWriter(db);
      const storedBetween: number[] = [];
      const result = await pruneExpired(
        { db, clock, settingOverrides: {} },
        {
          batchSize: 4,
          // Between two batches the intake's group commit goes through at once.
          pause: async () => {
            storedBetween.push(
              await writer.write({
                event: eventRow({ contact_id: `new-${storedBetween.length}` }),
                activity: [],
              }),
            );
          },
        },
      );
      expect(result.events).toBe(25);
      // 25 old rows in batches of 4: seven batches, and the walk stops at the first new row.
      expect(storedBetween.length).toBe(7);
      const left = await statuses();
      expect(left).toEqual(storedBetween.map((_, i) => `new-${i}:pending`));
    });
  });
}
