import { sql, type Kysely } from 'kysely';

/**
 * Leases carry a generation, raised each time a worker takes one: a run
 * checks it inside its write transaction, so a worker that lost its lease
 * (a pause, a slow network) writes nothing. Lease rows are kept when
 * released, so a generation never repeats.
 *
 * `due_contacts` lists the contacts with pending or running webhooks, so a
 * claim reads a few index entries whatever the backlog.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('contact_leases')
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('due_contacts')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('due_at', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('due_contacts_pk', ['connection_id', 'contact_id'])
    .execute();
  await db.schema.createIndex('due_contacts_due').on('due_contacts').column('due_at').execute();
  await sql`
    insert into due_contacts (connection_id, contact_id, due_at, version)
    select connection_id, contact_id, max(available_at), 1
    from webhook_events
    where status in ('pending', 'running') and contact_id is not null
    group by connection_id, contact_id
  `.execute(db);
}
