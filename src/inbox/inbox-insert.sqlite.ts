/**
 * A batch of webhooks stored on SQLite: the events, their contacts marked due
 * and their activity lines, each as one statement over a JSON array of rows
 * (`json_each`). Building a multi-row insert with Kysely cost the intake more
 * CPU than SQLite took to run it, and its SQL changed with the batch's size,
 * so the statement cache held one prepared statement per size. These three
 * statements are prepared once and take any batch.
 *
 * The caller runs them in one transaction (a savepoint inside the group commit).
 */
import { sql, type Kysely } from 'kysely';
import { activityRow } from '../activity/activity.repository.js';
import type { DB, NewWebhookEventRow } from '../storage/schema.js';
import { dueRows } from './due-contacts.js';
import type { StoredItem } from './inbox-insert.postgres.js';

/** The stored columns, in the order each JSON row lists them. */
const EVENT_COLUMNS = [
  'received_at',
  'connection_id',
  'action',
  'contact_id',
  'email',
  'status',
  'attempts',
  'available_at',
  'locked_by',
  'locked_until',
  'params',
  'request',
  'result',
  'error_code',
  'error_message',
  'finished_at',
  'replay_of',
  'client_ip',
  'import_job_id',
] as const satisfies readonly (keyof NewWebhookEventRow)[];

const ACTIVITY_COLUMNS = [
  'at',
  'level',
  'message',
  'event_id',
  'connection_id',
  'contact_id',
  'user_id',
  'action',
  'data',
] as const;

/** `value ->> 0, value ->> 1, …`: a JSON row's fields as SQL values (text, integer or null). */
const fields = (count: number) =>
  sql.raw(Array.from({ length: count }, (_, index) => `value ->> ${index}`).join(', '));
const columns = (names: readonly string[]) => sql.raw(names.map((name) => `"${name}"`).join(', '));

/** Stores `items`; their ids in the items' order. */
export async function insertInboxBatchSqlite(
  trx: Kysely<DB>,
  items: readonly StoredItem[],
): Promise<number[]> {
  const events = items.map(({ event }) => event);
  const eventRows = events.map((event) => EVENT_COLUMNS.map((name) => event[name] ?? null));
  // json_each yields the array in order and the insert numbers rows as they come, under the
  // write lock: the ascending ids belong to the items in order, whatever order RETURNING uses.
  const inserted = await sql<{ id: number }>`
    insert into "webhook_events" (${columns(EVENT_COLUMNS)})
    select ${fields(EVENT_COLUMNS.length)} from json_each(${JSON.stringify(eventRows)})
    order by key
    returning "id"`.execute(trx);
  const ids = inserted.rows.map((row) => Number(row.id)).sort((a, b) => a - b);
  if (ids.length !== items.length)
    throw new Error(`inserted ${ids.length} of ${items.length} webhooks`);

  const due = dueRows(events).map((row) => [row.connection_id, row.contact_id, row.due_at]);
  if (due.length > 0)
    // `where true` tells SQLite's parser that `on conflict` belongs to the insert.
    await sql`
      insert into "due_contacts" ("connection_id", "contact_id", "due_at", "version")
      select value ->> 0, value ->> 1, value ->> 2, 1 from json_each(${JSON.stringify(due)})
      where true order by key
      on conflict ("connection_id", "contact_id")
      do update set "version" = "due_contacts"."version" + 1`.execute(trx);

  const activity = items.flatMap(({ event, activity: entries }, index) =>
    entries.map((entry) => {
      const row = activityRow({ ...entry, eventId: ids[index] ?? null }, event.received_at);
      return ACTIVITY_COLUMNS.map((name) => row[name]);
    }),
  );
  if (activity.length > 0)
    await sql`
      insert into "activity_log" (${columns(ACTIVITY_COLUMNS)})
      select ${fields(ACTIVITY_COLUMNS.length)} from json_each(${JSON.stringify(activity)})
      order by key`.execute(trx);
  return ids;
}
