/**
 * The outbox of CRM write-backs. A row is inserted in the transaction that
 * changes the user (so a crash can never keep one without the other), and
 * the worker holding the contact's lease sends it until it lands or is given
 * up, with the retry rules of webhooks. Values are kept sealed, and emptied
 * once the row is final.
 */
import type { Kysely } from 'kysely';
import type { CrmWriteRow, DB } from '../storage/schema.js';
import { preparedQuery } from '../storage/prepared-query.js';
import type { DueContact } from './inbox.repository.js';

type Db = Kysely<DB>;

export interface NewCrmWrite {
  connectionId: string;
  contactId: string;
  userId: number | null;
  eventId: number | null;
  kind: 'return_password';
  field: string;
  /** Sealed. */
  sealedValue: string;
}

export async function queueCrmWrite(db: Db, write: NewCrmWrite, now: string): Promise<number> {
  const row = await db
    .insertInto('crm_writes')
    .values({
      connection_id: write.connectionId,
      contact_id: write.contactId,
      user_id: write.userId,
      event_id: write.eventId,
      kind: write.kind,
      field: write.field,
      value: write.sealedValue,
      status: 'pending',
      attempts: 0,
      available_at: now,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The contact's writes that are due by `now`, oldest first. */
export async function dueCrmWrites(
  db: Db,
  contact: DueContact,
  now: string,
): Promise<CrmWriteRow[]> {
  return (await dueWrites(db, { ...contact, now })).rows;
}

const dueWrites = preparedQuery((db, values: DueContact & { now: string }) =>
  db
    .selectFrom('crm_writes')
    .selectAll()
    .where('connection_id', '=', values.connectionId)
    .where('contact_id', '=', values.contactId)
    .where('status', '=', 'pending')
    .where('available_at', '<=', values.now)
    .orderBy('id'),
);

export async function finishCrmWrite(
  db: Db,
  id: number,
  outcome: { status: 'done' | 'failed'; errorCode?: string; errorMessage?: string },
  at: string,
): Promise<void> {
  await db
    .updateTable('crm_writes')
    .set((eb) => ({
      status: outcome.status,
      value: '',
      attempts: eb('attempts', '+', 1),
      error_code: outcome.errorCode ?? null,
      error_message: outcome.errorMessage ?? null,
      finished_at: at,
    }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

export async function retryCrmWrite(
  db: Db,
  id: number,
  availableAt: string,
  errorCode: string,
  errorMessage: string,
): Promise<void> {
  await db
    .updateTable('crm_writes')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      available_at: availableAt,
      error_code: errorCode,
      error_message: errorMessage,
    }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** Write-backs, newest first (the values are never read here). */
export function listCrmWrites(
  db: Db,
  filter: {
    status?: string | undefined;
    contactId?: string | undefined;
    eventId?: number | undefined;
    limit?: number;
  } = {},
): Promise<Omit<CrmWriteRow, 'value'>[]> {
  let query = db
    .selectFrom('crm_writes')
    .select([
      'id',
      'connection_id',
      'contact_id',
      'user_id',
      'event_id',
      'kind',
      'field',
      'status',
      'attempts',
      'available_at',
      'error_code',
      'error_message',
      'created_at',
      'finished_at',
    ])
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 50);
  if (filter.status) query = query.where('status', '=', filter.status as CrmWriteRow['status']);
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId);
  if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
  return query.execute();
}
