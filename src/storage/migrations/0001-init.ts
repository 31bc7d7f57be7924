import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../database.js';

/** The first schema: directory, connections, inbox, leases, activity log. */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  // The one difference in DDL: how an integer key grows.
  const serial =
    dialect === 'postgres' ? sql`serial primary key` : sql`integer primary key autoincrement`;

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('access_keys')
    .addColumn('id', sql`${serial}`)
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .execute();

  await db.schema
    .createTable('roles')
    .addColumn('slug', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', sql`${serial}`)
    .addColumn('login', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('email_lower', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('password_generated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('first_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('last_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('display_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('user_meta')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('meta_key', 'text', (c) => c.notNull())
    .addColumn('meta_value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_meta_pk', ['user_id', 'meta_key'])
    .execute();

  await db.schema
    .createTable('tags')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('tag_id', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['connection_id', 'tag_id'])
    .execute();

  await db.schema
    .createTable('user_tags')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('tag_id', 'text', (c) => c.notNull())
    .addColumn('added_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_tags_pk', ['user_id', 'connection_id', 'tag_id'])
    .execute();
  await db.schema
    .createIndex('user_tags_by_tag')
    .on('user_tags')
    .columns(['connection_id', 'tag_id'])
    .execute();

  await db.schema
    .createTable('contact_links')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('contact_links_pk', ['connection_id', 'contact_id'])
    .execute();
  await db.schema
    .createIndex('contact_links_by_user')
    .on('contact_links')
    .column('user_id')
    .execute();

  await db.schema
    .createTable('connections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('api_url', 'text')
    .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('webhook_events')
    .addColumn('id', sql`${serial}`)
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text')
    .addColumn('email', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('available_at', 'text', (c) => c.notNull())
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', 'text')
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('result', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('replay_of', 'integer')
    .addColumn('client_ip', 'text')
    .execute();
  // The worker's two questions: which contacts have due work, and what is due for one contact.
  await db.schema
    .createIndex('webhook_events_due')
    .on('webhook_events')
    .columns(['status', 'available_at', 'id'])
    .execute();
  await db.schema
    .createIndex('webhook_events_by_contact')
    .on('webhook_events')
    .columns(['connection_id', 'contact_id', 'status'])
    .execute();

  await db.schema
    .createTable('contact_leases')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('contact_leases_pk', ['connection_id', 'contact_id'])
    .execute();

  await db.schema
    .createTable('activity_log')
    .addColumn('id', sql`${serial}`)
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('event_id', 'integer')
    .addColumn('connection_id', 'text')
    .addColumn('contact_id', 'text')
    .addColumn('user_id', 'integer')
    .addColumn('action', 'text')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('data', 'text')
    .execute();
  await db.schema
    .createIndex('activity_log_by_contact')
    .on('activity_log')
    .columns(['contact_id', 'id'])
    .execute();
  await db.schema
    .createIndex('activity_log_by_user')
    .on('activity_log')
    .columns(['user_id', 'id'])
    .execute();
  await db.schema
    .createIndex('activity_log_by_event')
    .on('activity_log')
    .columns(['event_id', 'id'])
    .execute();

  const roles: Array<[string, string, number]> = [
    ['administrator', 'Administrator', 1],
    ['editor', 'Editor', 0],
    ['author', 'Author', 0],
    ['contributor', 'Contributor', 0],
    ['subscriber', 'Subscriber', 0],
  ];
  await (db as Kysely<{ roles: { slug: string; name: string; is_admin: number } }>)
    .insertInto('roles')
    .values(roles.map(([slug, name, isAdmin]) => ({ slug, name, is_admin: isAdmin })))
    .execute();
}
