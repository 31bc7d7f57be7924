import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * Leases carry a generation, raised each time a worker takes one: a run
 * checks it inside its write transaction, so a worker that lost its lease
 * (a pause, a slow network) writes nothing. Lease rows are kept when
 * released, so a generation never repeats.
 *
 * `due_contacts` lists the contacts with pending or running webhooks, so a
 * claim reads a few index entries whatever the backlog.
 *
 * `crm_writes` is the outbox of write-backs to the CRM (a generated password
 * for the Return Password field): a row is committed with the user it belongs
 * to and sent by the worker until it lands.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const serial =
    dialect === 'postgres' ? sql`serial primary key` : sql`integer primary key autoincrement`;
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

  await db.schema
    .createTable('crm_writes')
    .addColumn('id', sql`${serial}`)
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    .addColumn('event_id', 'integer')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('field', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('available_at', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema
    .createIndex('crm_writes_by_contact')
    .on('crm_writes')
    .columns(['connection_id', 'contact_id', 'status'])
    .execute();
}
