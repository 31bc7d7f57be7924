/**
 * The inbox: the webhook_events table is both the queue and the audit trail.
 * Claiming works through a lease row per contact (an upsert that only takes an
 * expired lease, raising its generation), so any number of processes sharing
 * one PostgreSQL never run one contact twice at once, and a run that lost its
 * lease writes nothing; the same statements serve SQLite. Which contacts are
 * due is listed in due_contacts (see due-contacts.ts).
 */
import { dbTime } from '../storage/db-clock.js';
import { sql } from 'kysely';
import type { Db, EventStatus, WebhookEventRow } from '../storage/schema.js';
import { preparedQuery } from '../storage/prepared-query.js';

const eventById = preparedQuery((db, values: { id: number }) =>
  db.selectFrom('webhook_events').selectAll().where('id', '=', values.id),
);

export async function findEvent(db: Db, id: number): Promise<WebhookEventRow | undefined> {
  return (await eventById(db, { id })).rows[0];
}

export interface DueContact {
  connectionId: string;
  contactId: string;
}

/** A lease held by one run: the fencing token its writes carry. */
export interface HeldLease {
  contact: DueContact;
  owner: string;
  /** Raised each time the lease is taken; a run whose generation is no longer the lease's writes nothing. */
  generation: number;
}

/** What a run writes into `locked_by` of its events: the owner and the lease generation. */
export function lockToken(lease: HeldLease): string {
  return `${lease.owner}#${lease.generation}`;
}

/**
 * Takes the contact's lease if it is free or expired (by the database's clock),
 * raising its generation; the lease held now, or undefined when another run has it.
 */
type LeaseValues = { connectionId: string; contactId: string; owner: string };

const takeLease = preparedQuery((db, values: LeaseValues, leaseMs: number) =>
  db
    .insertInto('contact_leases')
    .values({
      connection_id: values.connectionId,
      contact_id: values.contactId,
      owner: values.owner,
      expires_at: dbTime(db, leaseMs),
      generation: 1,
    })
    .onConflict((oc) =>
      oc
        .columns(['connection_id', 'contact_id'])
        .doUpdateSet((eb) => ({
          owner: values.owner,
          expires_at: dbTime(db, leaseMs),
          generation: eb('contact_leases.generation', '+', 1),
        }))
        .where('contact_leases.expires_at', '<', dbTime(db)),
    )
    .returning(['owner', 'generation']),
);

export async function acquireContactLease(
  db: Db,
  contact: DueContact,
  owner: string,
  leaseMs: number,
): Promise<HeldLease | undefined> {
  const { rows } = await takeLease(db, { ...contact, owner }, leaseMs);
  const row = rows[0];
  return row?.owner === owner ? { contact, owner, generation: row.generation } : undefined;
}

/**
 * Ends the lease at once. The row stays (expired), so the next taker's
 * generation is higher than every earlier one.
 */
type HeldLeaseValues = LeaseValues & { generation: number };

const leaseValues = (lease: HeldLease): HeldLeaseValues => ({
  ...lease.contact,
  owner: lease.owner,
  generation: lease.generation,
});

const endLease = preparedQuery((db, values: HeldLeaseValues) =>
  db
    .updateTable('contact_leases')
    .set({ expires_at: '' })
    .where('connection_id', '=', values.connectionId)
    .where('contact_id', '=', values.contactId)
    .where('owner', '=', values.owner)
    .where('generation', '=', values.generation),
);

export async function releaseContactLease(db: Db, lease: HeldLease): Promise<void> {
  await endLease(db, leaseValues(lease));
}

/**
 * The fence a run passes inside its write transaction: the lease is still
 * this run's (same generation), and is extended. It takes the lease row's
 * lock until the transaction ends, so nobody can take the lease while the
 * run writes. False when the lease was lost: the transaction must roll back.
 */
const keepLease = preparedQuery((db, values: HeldLeaseValues, leaseMs: number) =>
  db
    .updateTable('contact_leases')
    .set({ expires_at: dbTime(db, leaseMs) })
    .where('connection_id', '=', values.connectionId)
    .where('contact_id', '=', values.contactId)
    .where('owner', '=', values.owner)
    .where('generation', '=', values.generation),
);

export async function confirmLease(db: Db, lease: HeldLease, leaseMs: number): Promise<boolean> {
  const result = await keepLease(db, leaseValues(lease), leaseMs);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/**
 * Marks the contact's pending events, and any it left `running` (a run that
 * could not record its outcome, a worker that died), as running for the
 * lease holder; returns them in arrival order. Only the lease holder calls
 * this: the lease, not the events' locks, says who may run the contact.
 */
const claimEvents = preparedQuery(
  (db, values: { connectionId: string; contactId: string; lockedBy: string }, leaseMs: number) =>
    db
      .updateTable('webhook_events')
      .set((eb) => ({
        status: 'running',
        locked_by: values.lockedBy,
        locked_until: dbTime(db, leaseMs),
        attempts: eb('attempts', '+', 1),
      }))
      .where('connection_id', '=', values.connectionId)
      .where('contact_id', '=', values.contactId)
      .where('status', 'in', ['pending', 'running'])
      .returningAll(),
);

export async function claimContactEvents(
  db: Db,
  lease: HeldLease,
  leaseMs: number,
): Promise<WebhookEventRow[]> {
  const { rows } = await claimEvents(db, { ...lease.contact, lockedBy: lockToken(lease) }, leaseMs);
  return rows.sort((a, b) => a.id - b.id);
}

/**
 * Extends the lease of a contact and its running events (a long CRM call must
 * not lose them); false when the lease is no longer this run's.
 */
export async function extendLease(db: Db, lease: HeldLease, leaseMs: number): Promise<boolean> {
  if (!(await confirmLease(db, lease, leaseMs))) return false;
  await db
    .updateTable('webhook_events')
    .set({ locked_until: dbTime(db, leaseMs) })
    .where('connection_id', '=', lease.contact.connectionId)
    .where('contact_id', '=', lease.contact.contactId)
    .where('status', '=', 'running')
    .where('locked_by', '=', lockToken(lease))
    .execute();
  return true;
}

export interface EventOutcome {
  status: Extract<EventStatus, 'done' | 'skipped' | 'failed'>;
  result: unknown;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
}

/**
 * Records the outcome of events the run holds; returns how many it recorded.
 * Fewer than `ids` means the run lost its lease: another run has them now.
 */
export async function finishEvents(
  db: Db,
  ids: readonly number[],
  lockedBy: string,
  outcome: EventOutcome,
  at: string,
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
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
    .where('locked_by', '=', lockedBy)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Puts events back in the queue after a transient failure; returns how many it put back. */
export async function rescheduleEvents(
  db: Db,
  ids: readonly number[],
  lockedBy: string,
  availableAt: string,
  errorCode: string,
  errorMessage: string,
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
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
    .where('locked_by', '=', lockedBy)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
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

/** How many webhooks are in each status (of `statuses`, or all). */
export async function countEventsByStatus(
  db: Db,
  statuses?: readonly EventStatus[],
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('webhook_events')
    .select(['status', sql<string>`count(*)`.as('count')])
    .$if(statuses !== undefined, (query) => query.where('status', 'in', statuses ?? []))
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
}
