/**
 * The inbox: the webhook_events table is both the queue and the audit trail.
 * Claiming works through a lease row per contact (an upsert that only takes an
 * expired lease), so any number of processes sharing one PostgreSQL never run
 * one contact twice at once; the same statements serve SQLite.
 */
import { sql } from 'kysely';
import type { Db, EventStatus, WebhookEventRow } from '../storage/schema.js';

export function findEvent(db: Db, id: number): Promise<WebhookEventRow | undefined> {
  return db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface DueContact {
  connectionId: string;
  contactId: string;
}

/**
 * Contacts with work that is due now (or held by a worker whose lease ran out), oldest first.
 * A contact with a webhook waiting out a retry delay is held whole until that retry is due:
 * new webhooks join the delayed run instead of cutting the backoff short.
 */
export async function findDueContacts(db: Db, now: string, limit: number): Promise<DueContact[]> {
  const rows = await db
    .selectFrom('webhook_events')
    .select(['connection_id', 'contact_id'])
    .select((eb) => eb.fn.min('id').as('first_id'))
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'pending'), eb('available_at', '<=', now)]),
        eb.and([eb('status', '=', 'running'), eb('locked_until', '<', now)]),
      ]),
    )
    .where('contact_id', 'is not', null)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('webhook_events as held')
            .select('held.id')
            .whereRef('held.connection_id', '=', 'webhook_events.connection_id')
            .whereRef('held.contact_id', '=', 'webhook_events.contact_id')
            .where('held.status', '=', 'pending')
            .where('held.attempts', '>', 0)
            .where('held.available_at', '>', now),
        ),
      ),
    )
    // Contacts another run holds are not due until its lease ends.
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('contact_leases')
            .select('contact_leases.owner')
            .whereRef('contact_leases.connection_id', '=', 'webhook_events.connection_id')
            .whereRef('contact_leases.contact_id', '=', 'webhook_events.contact_id')
            .where('contact_leases.expires_at', '>=', now),
        ),
      ),
    )
    .groupBy(['connection_id', 'contact_id'])
    .orderBy('first_id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ connectionId: row.connection_id, contactId: row.contact_id ?? '' }));
}

/** Takes the contact's lease if it is free or expired; true when `owner` now holds it. */
export async function acquireContactLease(
  db: Db,
  contact: DueContact,
  owner: string,
  now: string,
  expiresAt: string,
): Promise<boolean> {
  const row = await db
    .insertInto('contact_leases')
    .values({
      connection_id: contact.connectionId,
      contact_id: contact.contactId,
      owner,
      expires_at: expiresAt,
    })
    .onConflict((oc) =>
      oc
        .columns(['connection_id', 'contact_id'])
        .doUpdateSet({ owner, expires_at: expiresAt })
        .where('contact_leases.expires_at', '<', now),
    )
    .returning('owner')
    .executeTakeFirst();
  return row?.owner === owner;
}

export async function releaseContactLease(
  db: Db,
  contact: DueContact,
  owner: string,
): Promise<void> {
  await db
    .deleteFrom('contact_leases')
    .where('connection_id', '=', contact.connectionId)
    .where('contact_id', '=', contact.contactId)
    .where('owner', '=', owner)
    .execute();
}

/** Marks every pending event of the contact as running for `owner`; returns them in arrival order. */
export async function claimContactEvents(
  db: Db,
  contact: DueContact,
  owner: string,
  now: string,
  lockedUntil: string,
): Promise<WebhookEventRow[]> {
  const rows = await db
    .updateTable('webhook_events')
    .set((eb) => ({
      status: 'running',
      locked_by: owner,
      locked_until: lockedUntil,
      attempts: eb('attempts', '+', 1),
    }))
    .where('connection_id', '=', contact.connectionId)
    .where('contact_id', '=', contact.contactId)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'pending'),
        eb.and([eb('status', '=', 'running'), eb('locked_until', '<', now)]),
      ]),
    )
    .returningAll()
    .execute();
  return rows.sort((a, b) => a.id - b.id);
}

/** Extends the lease of a contact and its running events (a long CRM call must not lose them). */
export async function extendLease(
  db: Db,
  contact: DueContact,
  owner: string,
  until: string,
): Promise<void> {
  await db
    .updateTable('contact_leases')
    .set({ expires_at: until })
    .where('connection_id', '=', contact.connectionId)
    .where('contact_id', '=', contact.contactId)
    .where('owner', '=', owner)
    .execute();
  await db
    .updateTable('webhook_events')
    .set({ locked_until: until })
    .where('connection_id', '=', contact.connectionId)
    .where('contact_id', '=', contact.contactId)
    .where('status', '=', 'running')
    .where('locked_by', '=', owner)
    .execute();
}

export interface EventOutcome {
  status: Extract<EventStatus, 'done' | 'skipped' | 'failed'>;
  result: unknown;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
}

export async function finishEvents(
  db: Db,
  ids: readonly number[],
  owner: string,
  outcome: EventOutcome,
  at: string,
) {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_events')
    .set({
      status: outcome.status,
      result: JSON.stringify(outcome.result),
      error_code: outcome.errorCode ?? null,
      error_message: outcome.errorMessage ?? null,
      finished_at: at,
      locked_by: null,
      locked_until: null,
    })
    .where('id', 'in', [...ids])
    .where('locked_by', '=', owner)
    .execute();
}

/** Puts events back in the queue after a transient failure. */
export async function rescheduleEvents(
  db: Db,
  ids: readonly number[],
  owner: string,
  availableAt: string,
  errorCode: string,
  errorMessage: string,
) {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_events')
    .set({
      status: 'pending',
      available_at: availableAt,
      locked_by: null,
      locked_until: null,
      error_code: errorCode,
      error_message: errorMessage,
    })
    .where('id', 'in', [...ids])
    .where('locked_by', '=', owner)
    .execute();
}

export interface EventFilter {
  status?: string | undefined;
  contactId?: string | undefined;
  connectionId?: string | undefined;
  action?: string | undefined;
  limit?: number | undefined;
  beforeId?: number | undefined;
}

export async function listEvents(db: Db, filter: EventFilter = {}): Promise<WebhookEventRow[]> {
  let query = db
    .selectFrom('webhook_events')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 50);
  if (filter.status) query = query.where('status', '=', filter.status as EventStatus);
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId);
  if (filter.connectionId) query = query.where('connection_id', '=', filter.connectionId);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  return query.execute();
}

/** Records that event `eventId` replays event `originalId`. */
export async function markReplayOf(db: Db, eventId: number, originalId: number): Promise<void> {
  await db
    .updateTable('webhook_events')
    .set({ replay_of: originalId })
    .where('id', '=', eventId)
    .execute();
}

/** How many webhooks are in each status. */
export async function countEventsByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('webhook_events')
    .select(['status', sql<string>`count(*)`.as('count')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}
