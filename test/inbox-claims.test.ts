/**
 * Claiming reads `due_contacts` (one row per contact with work), not the whole
 * inbox: the list must hold every contact with pending or running webhooks,
 * including those stored before the list existed, and lose none that arrive
 * while their contact finishes.
 */
import { Migrator, sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { MIGRATIONS } from '../src/storage/migrations/index.js';
import { createTestDatabase, openTestPool, testDialects } from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';
import { startTestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

for (const dialect of testDialects()) {
  describe(`due contacts (${dialect})`, () => {
    it('runs webhooks left pending by a version without the due list after an upgrade', async () => {
      const database = await createTestDatabase(dialect);
      try {
        const storage = openTestPool(database.url);
        let ids: number[];
        try {
          const schema =
            dialect === 'postgres'
              ? ((await sql<{ s: string }>`select current_schema() as s`.execute(storage.db))
                  .rows[0]?.s ?? undefined)
              : undefined;
          const before = new Migrator({
            db: storage.db,
            ...(schema === undefined ? {} : { migrationTableSchema: schema }),
            provider: {
              getMigrations: () =>
                Promise.resolve(
                  Object.fromEntries(
                    MIGRATIONS.filter(([name]) => name < '0006').map(([name, migration]) => [
                      name,
                      { up: (db: Kysely<unknown>) => migration.up(db, dialect) },
                    ]),
                  ),
                ),
            },
          });
          expect((await before.migrateToLatest()).error).toBeUndefined();
          const params = (contactId: string, email: string) =>
            JSON.stringify({
              action: 'add',
              contactId,
              sendNotification: false,
              async: true,
              raw: { wpf_action: 'add', contact_id: contactId, email },
              contact: { id: contactId, email, fields: { email } },
            });
          const rows = await storage.db
            .insertInto('webhook_events')
            .values([
              eventRow({ action: 'add', contact_id: 'u1', params: params('u1', 'u1@example.com') }),
              eventRow({ action: 'add', contact_id: 'u2', params: params('u2', 'u2@example.com') }),
            ])
            .returning('id')
            .execute();
          ids = rows.map((row) => row.id);
        } finally {
          await storage.destroy();
        }

        const t = await startTestService(dialect, { database });
        try {
          await waitFor('the stored webhooks to run', async () => {
            const events = await Promise.all(ids.map((id) => findEvent(t.service.database.db, id)));
            return events.every((event) => event?.status === 'done');
          });
          expect(await findUserByEmail(t.service.database.db, 'u2@example.com')).toBeDefined();
          // Nothing left to do: the run that finished the contact takes it off the list.
          await waitFor('the due list to empty', async () => {
            const listed = await t.service.database.db
              .selectFrom('due_contacts')
              .selectAll()
              .execute();
            return listed.length === 0;
          });
        } finally {
          await t.close();
        }
      } finally {
        await database.drop();
      }
    });
  });
}
