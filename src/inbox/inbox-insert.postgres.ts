/**
 * A batch of webhooks stored on PostgreSQL in one statement: the events, their
 * contacts marked due and their activity lines, as data-modifying CTEs over
 * arrays. Each statement is a round trip to the server, and on a machine that
 * runs both, sending them was the largest share of the intake's CPU; the
 * multi-statement transaction (begin, three inserts, commit) took five.
 *
 * The SQL never changes with the batch's size (the rows travel as one array
 * per column), so the server plans the same text each time and no batch comes
 * near the protocol's parameter limit.
 */
import { sql, type Kysely } from 'kysely';
import type { ActivityEntry } from '../activity/activity.repository.js';
import { activityRow } from '../activity/activity.repository.js';
import type { DB, NewWebhookEventRow } from '../storage/schema.js';
import { dueRows } from './due-contacts.js';

/** A webhook to store; its activity entries are written with the event's id filled in. */
export interface StoredItem {
  event: NewWebhookEventRow;
  activity: readonly Omit<ActivityEntry, 'eventId'>[];
}

/** Stores `items` in one statement; their ids in the items' order. */
export async function insertInboxBatchPostgres(
  db: Kysely<DB>,
  items: readonly StoredItem[],
): Promise<number[]> {
  const events = items.map(({ event }) => event);
  const column = <T>(pick: (event: NewWebhookEventRow) => T | null | undefined) =>
    events.map((event) => pick(event) ?? null);
  const due = dueRows(events);
  const activity = items.flatMap(({ event, activity: entries }, index) =>
    entries.map((entry) => ({ item: index + 1, ...activityRow(entry, event.received_at) })),
  );
  const line = <K extends keyof (typeof activity)[number]>(key: K) =>
    activity.map((row) => row[key]);

  // One statement numbers its rows in the order it produces them (nextval row by row, the
  // select ordered by position), so the ascending ids belong to the items in order.
  const result = await sql<{ id: number }>`
    with ev as (
      insert into webhook_events (
        received_at, connection_id, action, contact_id, email, status, attempts, available_at,
        locked_by, locked_until, params, request, result, error_code, error_message,
        finished_at, replay_of, client_ip, import_job_id
      )
      select received_at, connection_id, action, contact_id, email, status, attempts,
        available_at, locked_by, locked_until, params, request, result, error_code,
        error_message, finished_at, replay_of, client_ip, import_job_id
      from unnest(
        ${column((e) => e.received_at)}::text[], ${column((e) => e.connection_id)}::text[],
        ${column((e) => e.action)}::text[], ${column((e) => e.contact_id)}::text[],
        ${column((e) => e.email)}::text[], ${column((e) => e.status)}::text[],
        ${events.map((e) => e.attempts ?? 0)}::int[], ${column((e) => e.available_at)}::text[],
        ${column((e) => e.locked_by)}::text[], ${column((e) => e.locked_until)}::text[],
        ${column((e) => e.params)}::text[], ${column((e) => e.request)}::text[],
        ${column((e) => e.result)}::text[], ${column((e) => e.error_code)}::text[],
        ${column((e) => e.error_message)}::text[], ${column((e) => e.finished_at)}::text[],
        ${column((e) => e.replay_of)}::int[], ${column((e) => e.client_ip)}::text[],
        ${column((e) => e.import_job_id)}::int[]
      ) with ordinality as r(
        received_at, connection_id, action, contact_id, email, status, attempts, available_at,
        locked_by, locked_until, params, request, result, error_code, error_message,
        finished_at, replay_of, client_ip, import_job_id, position
      )
      order by position
      returning id
    ),
    numbered as (select id, row_number() over (order by id) as item from ev),
    due as (
      insert into due_contacts (connection_id, contact_id, due_at, version)
      select connection_id, contact_id, due_at, 1
      from unnest(
        ${due.map((row) => row.connection_id)}::text[], ${due.map((row) => row.contact_id)}::text[],
        ${due.map((row) => row.due_at)}::text[]
      ) with ordinality as d(connection_id, contact_id, due_at, position)
      order by position
      on conflict (connection_id, contact_id)
      do update set version = due_contacts.version + 1
    ),
    act as (
      insert into activity_log (
        at, level, message, event_id, connection_id, contact_id, user_id, action, data
      )
      select a.at, a.level, a.message, numbered.id, a.connection_id, a.contact_id, a.user_id,
        a.action, a.data
      from unnest(
        ${line('item')}::int[], ${line('at')}::text[], ${line('level')}::text[],
        ${line('message')}::text[], ${line('connection_id')}::text[],
        ${line('contact_id')}::text[], ${line('user_id')}::int[], ${line('action')}::text[],
        ${line('data')}::text[]
      ) with ordinality as a(
        item, at, level, message, connection_id, contact_id, user_id, action, data, position
      )
      join numbered on numbered.item = a.item
      order by a.position
    )
    select id from ev order by id`.execute(db);
  const ids = result.rows.map((row) => Number(row.id));
  if (ids.length !== items.length)
    throw new Error(`inserted ${ids.length} of ${items.length} webhooks`);
  return ids;
}
