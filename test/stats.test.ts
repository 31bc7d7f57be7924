/** The dashboard's figures, read from the inbox and the mail queue on both databases. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  dashboardStats,
  failuresWaiting,
  inboxBacklog,
  mailQueueSize,
  webhooksPerMinute,
} from '../src/inbox/stats.js';
import type { Database } from '../src/storage/database.js';
import type { Db, NewWebhookEventRow } from '../src/storage/schema.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';

async function insertEvents(db: Db, rows: readonly NewWebhookEventRow[]): Promise<number[]> {
  const inserted = await db
    .insertInto('webhook_events')
    .values([...rows])
    .returning('id')
    .execute();
  return inserted.map((row) => row.id);
}

const NOW = new Date('2026-03-10T12:30:40.000Z');
/** An ISO time `minutes` before NOW (plus `seconds`). */
const ago = (minutes: number, seconds = 0) =>
  new Date(NOW.getTime() - minutes * 60_000 + seconds * 1000).toISOString();

describe.each(testDialects())('dashboard statistics (%s)', (dialect) => {
  let testDb: TestDatabase | undefined;
  let database: Database | undefined;
  afterEach(async () => {
    await database?.destroy();
    await testDb?.drop();
    database = undefined;
    testDb = undefined;
  });

  const open = async () => {
    testDb = await createTestDatabase(dialect);
    database = openTestPool(testDb.url);
    await migrateToLatest(database.db, database.dialect);
    return database.db;
  };

  it('counts webhooks received and processed in each of the last 1440 minutes', async () => {
    const db = await open();
    await insertEvents(db, [
      // Current minute: two received, one of them processed within it.
      eventRow({
        contact_id: 'a',
        received_at: ago(0, -10),
        status: 'done',
        finished_at: ago(0, -5),
      }),
      eventRow({ contact_id: 'b', received_at: ago(0, -20) }),
      // Five minutes ago: received; processed (failed) two minutes later.
      eventRow({ contact_id: 'c', received_at: ago(5), status: 'failed', finished_at: ago(3) }),
      // A rejected webhook is received but never "processed".
      eventRow({ contact_id: 'd', received_at: ago(5), status: 'rejected', finished_at: ago(5) }),
      // The first minute of the window, and one just before it (left out).
      eventRow({
        contact_id: 'e',
        received_at: ago(1439),
        status: 'skipped',
        finished_at: ago(1439),
      }),
      eventRow({ contact_id: 'f', received_at: ago(1441), status: 'done', finished_at: ago(1441) }),
    ]);
    const minutes = await webhooksPerMinute(db, NOW);
    expect(minutes).toHaveLength(1440);
    expect(minutes[1439]).toEqual({ at: '2026-03-10T12:30:00.000Z', received: 2, processed: 1 });
    expect(minutes[1434]).toEqual({ at: '2026-03-10T12:25:00.000Z', received: 2, processed: 0 });
    expect(minutes[1436]).toEqual({ at: '2026-03-10T12:27:00.000Z', received: 0, processed: 1 });
    expect(minutes[0]).toEqual({ at: '2026-03-09T12:31:00.000Z', received: 1, processed: 1 });
    const total = minutes.reduce(
      (sum, minute) => ({
        received: sum.received + minute.received,
        processed: sum.processed + minute.processed,
      }),
      { received: 0, processed: 0 },
    );
    expect(total).toEqual({ received: 5, processed: 3 });
  });

  it('reports the backlog, failures not yet replayed and the mail queue', async () => {
    const db = await open();
    const [failedA, failedB] = await insertEvents(db, [
      eventRow({ contact_id: 'x', status: 'failed', finished_at: ago(2) }),
      eventRow({ contact_id: 'y', status: 'failed', finished_at: ago(2) }),
    ]);
    await insertEvents(db, [
      eventRow({ contact_id: 'p1' }),
      eventRow({ contact_id: 'p2' }),
      eventRow({ contact_id: 'r', status: 'running' }),
      eventRow({ contact_id: 'd', status: 'done', finished_at: ago(1) }),
      // A replay of failedA: that failure no longer waits.
      eventRow({
        contact_id: 'x',
        status: 'done',
        finished_at: ago(1),
        replay_of: failedA ?? null,
      }),
    ]);
    const at = NOW.toISOString();
    await db
      .insertInto('mail_queue')
      .values([
        {
          kind: 'welcome',
          user_id: null,
          to_address: 'a@example.com',
          status: 'pending',
          attempts: 0,
          available_at: at,
          created_at: at,
        },
        {
          kind: 'welcome',
          user_id: null,
          to_address: 'b@example.com',
          status: 'sent',
          attempts: 1,
          available_at: at,
          created_at: at,
        },
      ])
      .execute();

    expect(await inboxBacklog(db)).toEqual({ pending: 2, running: 1, failed: 2 });
    expect(await failuresWaiting(db)).toBe(1);
    expect(failedB).toBeGreaterThan(0);
    expect(await mailQueueSize(db)).toBe(1);

    const stats = await dashboardStats(db, NOW, [
      { connectionId: 'ortto', used: 3, requests: 600, windowMs: 10_000 },
      { connectionId: 'crm', used: 12, requests: 180, windowMs: 60_000 },
    ]);
    expect(stats.backlog).toEqual({ pending: 2, running: 1, failed: 2 });
    expect(stats.failuresWaiting).toBe(1);
    expect(stats.mailQueue).toBe(1);
    expect(stats.perMinute).toHaveLength(1440);
    expect(stats.rateLimits.map((limit) => limit.connectionId)).toEqual(['crm', 'ortto']);
    expect(stats.generatedAt).toBe(NOW.toISOString());
  });
});
