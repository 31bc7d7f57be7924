import type { Kysely } from 'kysely';

/**
 * The CRM rate limit shared by every process on one PostgreSQL: a connection
 * allowed N calls per window has N slot rows. A call takes a free slot and
 * holds it until one window after it finished (`free_at`, milliseconds on the
 * database's clock). SQLite, used by one process, keeps its limit in memory
 * and leaves the table empty.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('crm_call_slots')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('free_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('crm_call_slots_pk', ['connection_id', 'slot'])
    .execute();
}
