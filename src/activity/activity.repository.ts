/**
 * The activity log: what happened to each webhook, in words a site owner
 * reads. Entries are written already redacted.
 */
import { sql } from 'kysely';
import type { Db, ActivityLogRow, LogLevel } from '../storage/schema.js';

export interface ActivityEntry {
  level: LogLevel;
  message: string;
  eventId?: number | null | undefined;
  connectionId?: string | null | undefined;
  contactId?: string | null | undefined;
  userId?: number | null | undefined;
  action?: string | null | undefined;
  data?: unknown;
}

export function activityRow(entry: ActivityEntry, at: string) {
  return {
    at,
    level: entry.level,
    message: entry.message,
    event_id: entry.eventId ?? null,
    connection_id: entry.connectionId ?? null,
    contact_id: entry.contactId ?? null,
    user_id: entry.userId ?? null,
    action: entry.action ?? null,
    data: entry.data === undefined ? null : JSON.stringify(entry.data),
  };
}

export async function writeActivity(
  db: Db,
  entries: readonly ActivityEntry[],
  at: string,
): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('activity_log')
    .values(entries.map((entry) => activityRow(entry, at)))
    .execute();
}

export interface ActivityFilter {
  contactId?: string | undefined;
  userId?: number | undefined;
  eventId?: number | undefined;
  level?: LogLevel | undefined;
  /** Entries at this level or above. */
  minLevel?: LogLevel | undefined;
  action?: string | undefined;
  afterId?: number | undefined;
  /** Entries older than this id (newest first), for paging back. */
  beforeId?: number | undefined;
  /** Part of the message, any case. */
  text?: string | undefined;
  limit?: number | undefined;
}

const LEVEL_ORDER: readonly LogLevel[] = ['debug', 'info', 'notice', 'warning', 'error'];

/** Newest first, unless `afterId` is given (then oldest first, for tailing). */
export async function queryActivity(
  db: Db,
  filter: ActivityFilter = {},
): Promise<ActivityLogRow[]> {
  let query = db
    .selectFrom('activity_log')
    .selectAll()
    .limit(filter.limit ?? 100);
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId);
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
  if (filter.level) query = query.where('level', '=', filter.level);
  if (filter.minLevel)
    query = query.where('level', 'in', LEVEL_ORDER.slice(LEVEL_ORDER.indexOf(filter.minLevel)));
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.text) {
    const pattern = `%${filter.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where(sql<boolean>`lower(message) like ${pattern} escape '\\'`);
  }
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  if (filter.afterId !== undefined)
    return query.where('id', '>', filter.afterId).orderBy('id', 'asc').execute();
  return query.orderBy('id', 'desc').execute();
}
