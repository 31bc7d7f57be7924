/**
 * Writes made together share one commit (on SQLite, one fsync), yet each
 * caller keeps the guarantees of its own write: resolved only once on disk,
 * a failing statement fails alone, a rolled-back transaction undoes only its own writes.
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { withStatementCache, type Database } from '../src/storage/database.js';
import { GroupCommitSqliteDialect } from '../src/storage/sqlite-group-commit.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';
import { waitFor } from './helpers/wait.js';

let testDb: TestDatabase | undefined;
let database: Database | undefined;

afterEach(async () => {
  await database?.destroy();
  await testDb?.drop();
  database = undefined;
  testDb = undefined;
});

async function open(dialect: 'sqlite' | 'postgres'): Promise<Database> {
  testDb = await createTestDatabase(dialect);
  database = openTestPool(testDb.url);
  await database.db.schema
    .createTable('items')
    .addColumn('name', 'varchar(50)', (c) => c.primaryKey())
    .execute();
  return database;
}

const names = async (db: Database) =>
  (
    await db.db
      .selectFrom('items' as never)
      .select('name' as never)
      .execute()
  )
    .map((row) => (row as { name: string }).name)
    .sort();

for (const dialect of testDialects()) {
  describe(`writes made together (${dialect})`, () => {
    it('fail alone: a refused insert rejects its caller only', async () => {
      const db = await open(dialect);
      await db.db
        .insertInto('items' as never)
        .values({ name: 'taken' })
        .execute();
      const outcomes = await Promise.allSettled(
        ['a', 'taken', 'b'].map((name) =>
          db.db
            .insertInto('items' as never)
            .values({ name })
            .execute(),
        ),
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
      ]);
      expect(await names(db)).toEqual(['a', 'b', 'taken']);
    });

    it('keep a rolled-back transaction to its own writes', async () => {
      const db = await open(dialect);
      const insert = (name: string) =>
        db.db
          .insertInto('items' as never)
          .values({ name })
          .execute();
      const outcomes = await Promise.allSettled([
        insert('before'),
        db.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('items' as never)
            .values({ name: 'undone' })
            .execute();
          throw new Error('changed my mind');
        }),
        db.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('items' as never)
            .values({ name: 'kept' })
            .execute();
        }),
        insert('after'),
      ]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect(await names(db)).toEqual(['after', 'before', 'kept']);
    });
  });
}

describe('SQLite group commit', () => {
  it('commits the writes of one turn together, and answers each only once they are on disk', async () => {
    const db = await open('sqlite');
    const other = new BetterSqlite3(testDb?.url ?? '', { readonly: true });
    try {
      const seenByOthers = () =>
        (other.prepare('select count(*) as n from items').get() as { n: number }).n;
      let seenMidTurn = -1;
      let settledMidTurn = false;
      // Runs after the statements of this turn, before their commit.
      const midTurn = new Promise<void>((resolve) =>
        setImmediate(() => {
          seenMidTurn = seenByOthers();
          resolve();
        }),
      );
      const writes = Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          db.db
            .insertInto('items' as never)
            .values({ name: `n${i}` })
            .execute(),
        ),
      ).then(() => {
        settledMidTurn = seenMidTurn === -1;
      });
      await midTurn;
      await writes;
      // Committed one by one, another connection would have seen them before the turn ended.
      expect(seenMidTurn).toBe(0);
      expect(settledMidTurn).toBe(false);
      expect(seenByOthers()).toBe(50);
    } finally {
      other.close();
    }
  });

  it('syncs the WAL once for the durable writes of a turn, never for bookkeeping alone', async () => {
    testDb = await createTestDatabase('sqlite');
    const sqlite = new BetterSqlite3(testDb.url);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    const syncs: string[] = [];
    let finishSync: () => void = () => {};
    let holdSyncs = false;
    const db = new Kysely<Record<string, { name: string }>>({
      dialect: new GroupCommitSqliteDialect(withStatementCache(sqlite), {
        walPath: `${testDb.url}-wal`,
        syncFile: (path) =>
          new Promise<void>((resolve) => {
            syncs.push(path);
            finishSync = resolve;
            if (!holdSyncs) resolve();
          }),
      }),
    });
    try {
      await db.schema.createTable('items').addColumn('name', 'text').execute();
      await db.schema.createTable('activity_log').addColumn('name', 'text').execute();
      syncs.length = 0;
      holdSyncs = true;

      // Bookkeeping alone: answered without a sync.
      await db.insertInto('activity_log').values({ name: 'line' }).execute();
      expect(syncs).toEqual([]);

      // Fifty durable writes and a line in one turn: one sync, and nobody answered before it ends.
      let answered = 0;
      const writes = Promise.all([
        ...Array.from({ length: 50 }, (_, i) =>
          db
            .insertInto('items')
            .values({ name: `n${i}` })
            .execute()
            .then(() => (answered += 1)),
        ),
        db.insertInto('activity_log').values({ name: 'another' }).execute(),
      ]);
      await waitFor('the sync to start', () => syncs.length === 1 || undefined);
      await new Promise((resolve) => setImmediate(resolve));
      expect(answered).toBe(0);
      finishSync();
      await writes;
      expect(answered).toBe(50);
      expect(syncs).toEqual([`${testDb.url}-wal`]);
    } finally {
      holdSyncs = false;
      finishSync();
      await db.destroy();
    }
  });
});
