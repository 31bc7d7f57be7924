/**
 * Group commit for the webhook hot path: webhooks arriving together are
 * written together (on SQLite one transaction and one fsync, on PostgreSQL one
 * statement, see inbox-insert.postgres.ts), and each caller learns its event
 * id once that commit is done.
 * Nothing is acknowledged before it is durable.
 */
import type { Kysely } from 'kysely';
import { isRefusedData } from '../errors.js';
import { isPostgres } from '../storage/db-clock.js';
import type { DB } from '../storage/schema.js';
import { insertInboxBatchPostgres, type StoredItem } from './inbox-insert.postgres.js';
import { insertInboxBatchSqlite } from './inbox-insert.sqlite.js';

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

/** SQLite: one transaction of three statements (inbox-insert.sqlite.ts). */
const MAX_BATCH = 512;
/** PostgreSQL: one statement, whose arrays hold this many webhooks. */
const MAX_BATCH_POSTGRES = 256;

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
    const items = batch.map(({ item }) => item);
    if (postgres) return insertInboxBatchPostgres(db, items);
    return db.transaction().execute((trx) => insertInboxBatchSqlite(trx, items));
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
