/**
 * A synchronous webhook waits for its outcome: it listens from before the event is stored, so
 * a worker that finishes it at once (before the request gets back to waiting) still answers it
 * at once, not at the next poll.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { watchOutcome, type OutcomeNotifier } from '../src/inbox/outcome-waiter.js';
import type { Database } from '../src/storage/database.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import { eventRow } from './helpers/event-row.js';
import { createTestDatabase, openTestPool, type TestDatabase } from './helpers/databases.js';

/** The wait's poll period with a notifier: an answer well before it came from a notice. */
const POLL_MS = 1_000;

function localNotifier() {
  const emitter = new EventEmitter();
  const notifier: OutcomeNotifier = {
    onFinished(listener) {
      emitter.on('finished', listener);
      return () => void emitter.off('finished', listener);
    },
  };
  return {
    notifier,
    finished: (ids: number[]) => emitter.emit('finished', ids),
    listeners: () => emitter.listenerCount('finished'),
  };
}

describe('waiting for a webhook’s outcome', () => {
  let testDb: TestDatabase;
  let database: Database;
  afterEach(async () => {
    await database.destroy();
    await testDb.drop();
  });

  async function start() {
    testDb = await createTestDatabase('sqlite');
    database = openTestPool(testDb.url);
    await migrateToLatest(database.db, database.dialect);
  }
  const store = async (status: 'pending' | 'done') => {
    const row = await database.db
      .insertInto('webhook_events')
      .values(eventRow({ contact_id: 'c1', status }))
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  const finish = (id: number) =>
    database.db
      .updateTable('webhook_events')
      .set({ status: 'done' })
      .where('id', '=', id)
      .execute();

  it('answers at once when the event finished between storing it and waiting', async () => {
    await start();
    const { notifier, finished, listeners } = localNotifier();
    const watch = watchOutcome(database.db, notifier);
    const id = await store('pending');
    await finish(id);
    finished([id]);
    const startedAt = Date.now();
    const row = await watch.wait(id, 10_000);
    expect(row?.status).toBe('done');
    expect(Date.now() - startedAt).toBeLessThan(POLL_MS / 2);
    expect(listeners()).toBe(0);
  });

  it('answers when the notice comes, and only a final status ends the wait', async () => {
    await start();
    const { notifier, finished } = localNotifier();
    const watch = watchOutcome(database.db, notifier);
    const id = await store('pending');
    const startedAt = Date.now();
    const waiting = watch.wait(id, 10_000);
    // Another event's notice does not end the wait.
    finished([id + 1]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await finish(id);
    finished([id]);
    expect((await waiting)?.status).toBe('done');
    expect(Date.now() - startedAt).toBeLessThan(POLL_MS / 2);
  });

  it('finds the outcome by polling when no notice comes, and gives up at the timeout', async () => {
    await start();
    const watch = watchOutcome(database.db, undefined);
    const id = await store('pending');
    const waiting = watch.wait(id, 5_000);
    await finish(id);
    expect((await waiting)?.status).toBe('done');
    const stillPending = await store('pending');
    expect(await watchOutcome(database.db, undefined).wait(stillPending, 300)).toBeUndefined();
  });
});
