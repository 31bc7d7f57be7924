/**
 * Group commit: many webhooks written together, each caller told the id of
 * its own row (the writer inserts a batch in one statement), even with two
 * writers on one database at the same time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createInboxWriter } from '../src/inbox/inbox-writer.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import type { Database } from '../src/storage/database.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import { eventRow } from './helpers/event-row.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';

const event = (contactId: string) => eventRow({ contact_id: contactId });

for (const dialect of testDialects()) {
  describe(`inbox writer (${dialect})`, () => {
    it('fails only the webhook the database refuses, never the neighbours that shared its commit', async () => {
      testDb = await createTestDatabase(dialect);
      const database = openTestPool(testDb.url);
      open.push(database);
      await migrateToLatest(database.db, database.dialect);
      const writer = createInboxWriter(database.db);
      // One row the database refuses on both dialects (a NOT NULL column left empty), among twelve good ones.
      const bad = { ...event('bad'), connection_id: null as unknown as string };
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 6 }, (_, i) =>
          writer.write({ event: event(`g${i}`), activity: [] }),
        ),
        writer.write({ event: bad, activity: [] }),
        ...Array.from({ length: 6 }, (_, i) =>
          writer.write({ event: event(`h${i}`), activity: [] }),
        ),
      ]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        ...Array<string>(6).fill('fulfilled'),
        'rejected',
        ...Array<string>(6).fill('fulfilled'),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled')
          expect((await findEvent(database.db, outcome.value))?.status).toBe('pending');
      }
    });

    let testDb: TestDatabase;
    const open: Database[] = [];
    afterEach(async () => {
      for (const database of open.splice(0)) await database.destroy();
      await testDb.drop();
    });

    it('answers every caller with the id of its own row and its own activity line', async () => {
      testDb = await createTestDatabase(dialect);
      const first = openTestPool(testDb.url);
      open.push(first);
      await migrateToLatest(first.db, first.dialect);
      const writers = [createInboxWriter(first.db)];
      if (dialect === 'postgres') {
        // A second process's writer, racing for the same sequence.
        const second = openTestPool(testDb.url);
        open.push(second);
        writers.push(createInboxWriter(second.db));
      }
      const contacts = Array.from({ length: 600 }, (_, i) => `c${i}`);
      const ids = await Promise.all(
        contacts.map((contactId, i) =>
          (writers[i % writers.length] ?? writers[0])!.write({
            event: event(contactId),
            activity: [
              { level: 'info', message: `received ${contactId}`, contactId },
              { level: 'debug', message: `queued ${contactId}`, contactId },
            ],
          }),
        ),
      );
      expect(new Set(ids).size).toBe(contacts.length);
      for (const [i, id] of ids.entries()) {
        const row = await findEvent(first.db, id);
        expect(row?.contact_id).toBe(contacts[i]);
      }
      const lines = await first.db
        .selectFrom('activity_log')
        .select(['event_id', 'contact_id', 'message'])
        .orderBy('id')
        .execute();
      expect(lines).toHaveLength(2 * contacts.length);
      const byEvent = new Map(ids.map((id, i) => [id, contacts[i]]));
      for (const line of lines) expect(line.contact_id).toBe(byEvent.get(line.event_id ?? -1));
      // Each webhook's lines in the order it gave them.
      for (const contactId of contacts)
        expect(
          lines.filter((line) => line.contact_id === contactId).map((line) => line.message),
        ).toEqual([`received ${contactId}`, `queued ${contactId}`]);
      // Every contact is due for the worker, once.
      const due = await first.db.selectFrom('due_contacts').select('contact_id').execute();
      expect(due.map((row) => row.contact_id).sort()).toEqual([...contacts].sort());
    });
  });
}
