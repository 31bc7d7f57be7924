/**
 * The mail queue: messages are queued in the same transaction as the change
 * that causes them, and sent later by the mail sender (at least once).
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { DB, MailKind, MailRow, MailStatus } from '../storage/schema.js';

export interface NewMail {
  kind: MailKind;
  userId: number;
  to: string;
  eventId?: number | null | undefined;
}

export async function enqueueMail(db: Kysely<DB>, mail: NewMail, at: string): Promise<number> {
  const row = await db
    .insertInto('mail_queue')
    .values({
      kind: mail.kind,
      user_id: mail.userId,
      to_address: mail.to,
      status: 'pending',
      attempts: 0,
      available_at: at,
      event_id: mail.eventId ?? null,
      created_at: at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** No sender holds the message, or its hold has run out. */
const unlocked = (now: string) => (eb: ExpressionBuilder<DB, 'mail_queue'>) =>
  eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]);

/**
 * Takes the oldest due message for `owner` until `lockedUntil`. The
 * conditions are repeated on the update so two processes racing for one row
 * cannot both win (PostgreSQL re-checks them after the other commits).
 */
export async function claimNextMail(
  db: Kysely<DB>,
  owner: string,
  now: string,
  lockedUntil: string,
): Promise<MailRow | undefined> {
  const next = await db
    .selectFrom('mail_queue')
    .select('id')
    .where('status', '=', 'pending')
    .where('available_at', '<=', now)
    .where(unlocked(now))
    .orderBy('available_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  if (!next) return undefined;
  return db
    .updateTable('mail_queue')
    .set((eb) => ({
      locked_by: owner,
      locked_until: lockedUntil,
      attempts: eb('attempts', '+', 1),
    }))
    .where('id', '=', next.id)
    .where('status', '=', 'pending')
    .where(unlocked(now))
    .returningAll()
    .executeTakeFirst();
}

export async function markMailSent(
  db: Kysely<DB>,
  id: number,
  owner: string,
  sent: { subject: string; deliveredTo: string },
  at: string,
) {
  await db
    .updateTable('mail_queue')
    .set({
      status: 'sent',
      subject: sent.subject,
      delivered_to: sent.deliveredTo,
      sent_at: at,
      locked_by: null,
      locked_until: null,
      error_message: null,
    })
    .where('id', '=', id)
    .where('locked_by', '=', owner)
    .execute();
}

export async function markMailRetry(
  db: Kysely<DB>,
  id: number,
  owner: string,
  availableAt: string,
  error: string,
) {
  await db
    .updateTable('mail_queue')
    .set({ available_at: availableAt, error_message: error, locked_by: null, locked_until: null })
    .where('id', '=', id)
    .where('locked_by', '=', owner)
    .execute();
}

export async function markMailFailed(
  db: Kysely<DB>,
  id: number,
  owner: string,
  error: string,
  at: string,
) {
  await db
    .updateTable('mail_queue')
    .set({
      status: 'failed',
      error_message: error,
      sent_at: null,
      available_at: at,
      locked_by: null,
      locked_until: null,
    })
    .where('id', '=', id)
    .where('locked_by', '=', owner)
    .execute();
}

/** Puts a failed (or pending) message back in the queue to be sent now. */
export async function requeueMail(db: Kysely<DB>, id: number, at: string): Promise<boolean> {
  const result = await db
    .updateTable('mail_queue')
    .set({ status: 'pending', attempts: 0, available_at: at, locked_by: null, locked_until: null })
    .where('id', '=', id)
    .where('status', 'in', ['failed', 'pending'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export interface MailFilter {
  status?: MailStatus | undefined;
  userId?: number | undefined;
  limit?: number | undefined;
}

export async function listMail(db: Kysely<DB>, filter: MailFilter = {}): Promise<MailRow[]> {
  let query = db
    .selectFrom('mail_queue')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 50);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  return query.execute();
}

export function findMail(db: Kysely<DB>, id: number): Promise<MailRow | undefined> {
  return db.selectFrom('mail_queue').selectAll().where('id', '=', id).executeTakeFirst();
}
