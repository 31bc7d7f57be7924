/**
 * Group commit for the webhook hot path: webhooks arriving together are
 * written together (on SQLite one transaction and one fsync, on PostgreSQL one
 * statement, see inbox-insert.postgres.ts), and each caller learns its event
 * id once that commit is done.
 * Nothing is acknowledged before it is durable.
 */
import type { Kysely } from 'kysely';
import { activityRow } from '../activity/activity.repository.js';
import { isRefusedData } from '../errors.js';
import { isPostgres } from '../storage/db-clock.js';
import type { DB } from '../storage/schema.js';
import { markContactsDue } from './due-contacts.js';
import { insertInboxBatchPostgres, type StoredItem } from './inbox-insert.postgres.js';

export interface InboxWriter {
  write(item: StoredItem): Promise<number>;
  /** Waits for queued writes to finish. */
  flush(): Promise<void>;
}

interface Pending {
  item: StoredItem;
  resolve: (id: number) => void;
  reject: (error: unknown) => void;
}

/** SQLite: one transaction of a few statements. */
const MAX_BATCH = 512;
/** PostgreSQL: one statement, whose arrays hold this many webhooks. */
const MAX_BATCH_POSTGRES = 256;
/** 18 parameters an event row, 9 an activity row: well below SQLite's 32766 and PostgreSQL's 65535 per statement. */
const MAX_EVENT_ROWS_PER_INSERT = 256;
/** 9 parameters a row: well below SQLite's 32766 and PostgreSQL's 65535 per statement. */
const MAX_ACTIVITY_ROWS_PER_INSERT = 1000;

export function createInboxWriter(db: Kysely<DB>): InboxWriter {
  let queue: Pending[] = [];
  let flushing: Promise<void> | undefined;
  const postgres = isPostgres(db);
  const maxBatch = postgres ? MAX_BATCH_POSTGRES : MAX_BATCH;

  /**
   * A batch that fails is written again one webhook at a time: a webhook the
   * database refuses fails alone, never the neighbours it shared a commit with.
   */
  async function writeBatch(batch: Pending[]): Promise<void> {
    try {
      const ids = await insertBatch(batch);
      batch.forEach((pending, index) => pending.resolve(ids[index] ?? 0));
    } catch (error) {
      // Storage that is down fails every item alike: answer them all now rather than one by one.
      if (batch.length === 1 || !isRefusedData(error)) {
        for (const pending of batch) pending.reject(error);
        return;
      }
      for (const pending of batch) await writeBatch([pending]);
    }
  }

  async function insertBatch(batch: Pending[]): Promise<number[]> {
    if (postgres)
      return insertInboxBatchPostgres(
        db,
        batch.map(({ item }) => item),
      );
    return db.transaction().execute(async (trx) => {
      const written: number[] = [];
      const activity: ReturnType<typeof activityRow>[] = [];
      for (let start = 0; start < batch.length; start += MAX_EVENT_ROWS_PER_INSERT) {
        const chunk = batch.slice(start, start + MAX_EVENT_ROWS_PER_INSERT);
        const rows = await trx
          .insertInto('webhook_events')
          .values(chunk.map(({ item }) => item.event))
          .returning('id')
          .execute();
        if (rows.length !== chunk.length)
          throw new Error(`inserted ${rows.length} of ${chunk.length} webhooks`);
        await markContactsDue(
          trx,
          chunk.map(({ item }) => item.event),
        );
        // One statement numbers its rows in the order of its VALUES list on both databases
        // (SQLite under the write lock, PostgreSQL calling nextval row by row), so the
        // ascending ids belong to the items in order, whatever order RETURNING uses.
        const ids = rows.map((row) => row.id).sort((a, b) => a - b);
        chunk.forEach(({ item }, index) => {
          const id = ids[index] ?? 0;
          written.push(id);
          for (const entry of item.activity)
            activity.push(activityRow({ ...entry, eventId: id }, item.event.received_at));
        });
      }
      // The batch's activity entries go in together, in the same order as before,
      // in statements small enough for either database's parameter limit.
      for (let start = 0; start < activity.length; start += MAX_ACTIVITY_ROWS_PER_INSERT) {
        await trx
          .insertInto('activity_log')
          .values(activity.slice(start, start + MAX_ACTIVITY_ROWS_PER_INSERT))
          .execute();
      }
      return written;
    });
  }

  function drain(): Promise<void> {
    flushing ??= (async () => {
      // Let the requests that arrived in this tick join the batch.
      await new Promise((resolve) => setImmediate(resolve));
      while (queue.length > 0) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        await writeBatch(batch);
      }
      flushing = undefined;
    })();
    return flushing;
  }

  return {
    write(item) {
      return new Promise<number>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        void drain();
      });
    },
    async flush() {
      while (flushing) await flushing;
    },
  };
}
