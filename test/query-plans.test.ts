/**
 * The worker's per-contact statements read that contact's index entries, whatever the backlog.
 * SQLite keeps no statistics unless told to, so its planner goes by the indexes alone; one that
 * served "the latest retry of this contact" from the index of every pending webhook made each
 * run cost time in proportion to the backlog (1.5 ms a run with 30 000 waiting).
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type CompiledQuery } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDueContacts, markContactsDue, settleDueContact } from '../src/inbox/due-contacts.js';
import { claimContactEvents, finishEvents, lockToken } from '../src/inbox/inbox.repository.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import type { DB } from '../src/storage/schema.js';
import { withStatementCache } from '../src/storage/database.js';
import { GroupCommitSqliteDialect } from '../src/storage/sqlite-group-commit.js';
import { eventRow } from './helpers/event-row.js';

describe('query plans of a run on SQLite', () => {
  let sqlite: BetterSqlite3.Database | undefined;
  let db: Kysely<DB> | undefined;
  afterEach(async () => {
    await db?.destroy();
    sqlite = undefined;
    db = undefined;
  });

  it('claims, finishes and settles a contact through its own index entries, with 3 000 webhooks of others waiting', async () => {
    sqlite = new BetterSqlite3(':memory:');
    const raw = sqlite;
    const seen: CompiledQuery[] = [];
    db = new Kysely<DB>({
      dialect: new GroupCommitSqliteDialect(withStatementCache(raw), { walPath: undefined }),
      log: (event) => {
        if (event.level === 'query') seen.push(event.query);
      },
    });
    await migrateToLatest(db, 'sqlite');
    const backlog = Array.from({ length: 3_000 }, (_, i) => eventRow({ contact_id: `other${i}` }));
    for (let start = 0; start < backlog.length; start += 200) {
      const chunk = backlog.slice(start, start + 200);
      await db.insertInto('webhook_events').values(chunk).execute();
      await markContactsDue(db, chunk);
    }
    const mine = eventRow({ contact_id: 'mine' });
    const { id } = await db
      .insertInto('webhook_events')
      .values(mine)
      .returning('id')
      .executeTakeFirstOrThrow();
    await markContactsDue(db, [mine]);
    // Due first, so the claim takes this contact.
    await db
      .updateTable('due_contacts')
      .set({ due_at: '2000-01-01T00:00:00.000Z' })
      .where('contact_id', '=', 'mine')
      .execute();

    seen.length = 0;
    const [lease] = await claimDueContacts(db, 'test', 60_000, new Date().toISOString(), 1);
    expect(lease?.contact.contactId).toBe('mine');
    const claimed = await claimContactEvents(db, lease!, 60_000);
    expect(claimed.map((event) => event.id)).toEqual([id]);
    await finishEvents(
      db,
      [id],
      lockToken(lease!),
      { status: 'done', result: {} },
      mine.received_at,
    );
    await settleDueContact(db, lease!.contact);

    const plans = seen
      .filter((query) => /webhook_events/.test(query.sql))
      .map((query) => ({
        sql: query.sql,
        plan: raw
          .prepare(`explain query plan ${query.sql}`)
          .all(...(query.parameters as unknown[]))
          .map((row) => (row as { detail: string }).detail),
      }));
    expect(plans.length).toBeGreaterThanOrEqual(3);
    for (const { sql, plan } of plans) {
      expect(plan.join('\n'), sql).not.toMatch(/webhook_events_due|SCAN webhook_events/);
    }
    // The contact is no longer listed as due.
    const due = await db.selectFrom('due_contacts').select('contact_id').execute();
    expect(due.map((row) => row.contact_id)).not.toContain('mine');
  });
});
