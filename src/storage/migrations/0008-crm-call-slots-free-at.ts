import type { Kysely } from 'kysely';

/**
 * Taking a shared CRM call slot looks for the connection's earliest free slot: an index on
 * `(connection_id, free_at)` finds it without reading every slot row of the connection (one row
 * per call the limit allows, so a connection with a high limit has many).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('crm_call_slots_free_at')
    .on('crm_call_slots')
    .columns(['connection_id', 'free_at'])
    .execute();
}
