import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/**
 * Contact imports as resumable jobs, webhooks marked with the import that
 * queued them, and the indexes the per-minute dashboard figures read.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const serial =
    dialect === 'postgres' ? sql`serial primary key` : sql`integer primary key autoincrement`;

  await db.schema
    .createTable('import_jobs')
    .addColumn('id', sql`${serial}`)
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('tag_id', 'text')
    .addColumn('tag_label', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('listed_all', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cursor', 'text')
    .addColumn('send_welcome', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('started_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema
    .createIndex('import_jobs_by_status')
    .on('import_jobs')
    .columns(['status', 'id'])
    .execute();

  await db.schema.alterTable('webhook_events').addColumn('import_job_id', 'integer').execute();
  await db.schema
    .createIndex('webhook_events_by_import')
    .on('webhook_events')
    .columns(['import_job_id', 'status'])
    .execute();
  await db.schema
    .createIndex('webhook_events_by_replay')
    .on('webhook_events')
    .column('replay_of')
    .execute();
  await db.schema
    .createIndex('webhook_events_received')
    .on('webhook_events')
    .column('received_at')
    .execute();
  await db.schema
    .createIndex('webhook_events_finished')
    .on('webhook_events')
    .column('finished_at')
    .execute();
}
