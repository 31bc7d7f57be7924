/**
 * Which contacts have work due: one `due_contacts` row per contact with
 * pending or running webhooks, so claiming reads a few rows of an index
 * whatever the backlog (50,000 pending webhooks cost what 5 do).
 *
 * The intake adds the row (or bumps its version) in the transaction that
 * stores the webhook; the run that finishes a contact sets when it is due
 * next, or deletes the row when nothing is left. The delete only happens at
 * the version it read, so a webhook stored meanwhile keeps its contact due.
 */
import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import { dbTime, isPostgres } from '../storage/db-clock.js';
import type { DB } from '../storage/schema.js';
import { preparedQuery } from '../storage/prepared-query.js';
import { acquireContactLease, type DueContact, type HeldLease } from './inbox.repository.js';

type Db = Kysely<DB>;

/** What marking a contact due reads of a stored webhook. */
interface StoredEvent {
  connection_id: string;
  contact_id?: string | null | undefined;
  status: string;
  available_at: string;
}

/** Marks the contacts of newly stored pending webhooks due (a contact held by a retry stays held). */
export async function markContactsDue(db: Db, events: readonly StoredEvent[]): Promise<void> {
  const sorted = dueRows(events).map((row) => ({ ...row, version: 1 }));
  for (let start = 0; start < sorted.length; start += MAX_DUE_ROWS_PER_STATEMENT) {
    await db
      .insertInto('due_contacts')
      .values(sorted.slice(start, start + MAX_DUE_ROWS_PER_STATEMENT))
      .onConflict((oc) =>
        oc
          .columns(['connection_id', 'contact_id'])
          .doUpdateSet((eb) => ({ version: eb('due_contacts.version', '+', 1) })),
      )
      .execute();
  }
}

/**
 * One row per contact of the pending events, in key order: a statement takes its rows' locks
 * in the order of its VALUES list, so two batches never wait on each other's rows crosswise.
 */
export function dueRows(
  events: readonly StoredEvent[],
): Array<{ connection_id: string; contact_id: string; due_at: string }> {
  const rows = new Map<string, { connection_id: string; contact_id: string; due_at: string }>();
  for (const event of events) {
    if (event.status !== 'pending' || event.contact_id == null) continue;
    const key = `${event.connection_id}\u0000${event.contact_id}`;
    if (!rows.has(key))
      rows.set(key, {
        connection_id: event.connection_id,
        contact_id: event.contact_id,
        due_at: event.available_at,
      });
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

/** 4 parameters a row: well below SQLite's 32766 and PostgreSQL's 65535 per statement. */
const MAX_DUE_ROWS_PER_STATEMENT = 1000;

/** Up to `limit` contacts due by `now` whose lease nobody holds, earliest first. */
const dueUnleased = preparedQuery((db, values: { now: string; limit: number }) => {
  const query = db
    .selectFrom('due_contacts as d')
    .select(['d.connection_id', 'd.contact_id'])
    .where('d.due_at', '<=', values.now)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('contact_leases as l')
            .select('l.owner')
            .whereRef('l.connection_id', '=', 'd.connection_id')
            .whereRef('l.contact_id', '=', 'd.contact_id')
            .where('l.expires_at', '>=', dbTime(db)),
        ),
      ),
    )
    .orderBy('d.due_at')
    .limit(values.limit);
  return isPostgres(db) ? query.forUpdate().skipLocked() : query;
});

/**
 * Takes the leases of up to `limit` contacts whose work is due by `now`,
 * earliest first. On PostgreSQL the due rows are locked with SKIP LOCKED, so
 * nodes claiming at once take different contacts instead of queueing.
 */
export async function claimDueContacts(
  db: Db,
  owner: string,
  leaseMs: number,
  now: string,
  limit: number,
): Promise<HeldLease[]> {
  if (limit <= 0) return [];
  return db.transaction().execute(async (trx) => {
    const { rows: due } = await dueUnleased(trx, { now, limit });
    const leases: HeldLease[] = [];
    for (const row of due) {
      const contact: DueContact = { connectionId: row.connection_id, contactId: row.contact_id };
      const lease = await acquireContactLease(trx, contact, owner, leaseMs);
      if (lease) leases.push(lease);
    }
    return leases;
  });
}

/**
 * After a run recorded its outcome: the contact is due again when its
 * webhooks left pending are (a retry holds it whole until it is due), else
 * when its next CRM write-back is, or no longer listed when none are left.
 */
export async function settleDueContact(db: Db, contact: DueContact): Promise<void> {
  // One statement, so one snapshot: the version and what is left are read together.
  const listed = (await dueRowAndWork(db, contact)).rows[0];
  if (!listed) return;
  const left = { count: Number(listed.events), due: listed.events_due };
  const writes = { count: Number(listed.writes), due: listed.writes_due };
  if (left.count === 0 && writes.count === 0) {
    await unlistAtVersion(db, { ...contact, version: listed.version });
  } else if (left.due || writes.due) {
    // Webhooks first: a retry holds the whole contact, its write-backs included.
    await db
      .updateTable('due_contacts')
      .set({ due_at: left.due ?? writes.due ?? '' })
      .where('connection_id', '=', contact.connectionId)
      .where('contact_id', '=', contact.contactId)
      .execute();
  }
}

/** The contact's due row, with the count and due time of its open webhooks and write-backs. */
const dueRowAndWork = preparedQuery((db, contact: DueContact) => {
  const eventsOf = (eb: ExpressionBuilder<DB, 'due_contacts'>) =>
    eb
      .selectFrom('webhook_events')
      .where('webhook_events.connection_id', '=', contact.connectionId)
      .where('webhook_events.contact_id', '=', contact.contactId);
  const writesOf = (eb: ExpressionBuilder<DB, 'due_contacts'>) =>
    eb
      .selectFrom('crm_writes')
      .where('crm_writes.connection_id', '=', contact.connectionId)
      .where('crm_writes.contact_id', '=', contact.contactId)
      .where('crm_writes.status', '=', 'pending');
  return db
    .selectFrom('due_contacts')
    .select((eb) => [
      'version',
      eventsOf(eb)
        .where('webhook_events.status', 'in', ['pending', 'running'])
        .select(sql<string | number>`count(*)`.as('n'))
        .as('events'),
      eventsOf(eb)
        .where('webhook_events.status', '=', 'pending')
        .select((sub) => sub.fn.max('webhook_events.available_at').as('due'))
        .as('events_due'),
      writesOf(eb)
        .select(sql<string | number>`count(*)`.as('n'))
        .as('writes'),
      writesOf(eb)
        .select((sub) => sub.fn.min('crm_writes.available_at').as('due'))
        .as('writes_due'),
    ])
    .where('connection_id', '=', contact.connectionId)
    .where('contact_id', '=', contact.contactId);
});

const unlistAtVersion = preparedQuery((db, values: DueContact & { version: number }) =>
  db
    .deleteFrom('due_contacts')
    .where('connection_id', '=', values.connectionId)
    .where('contact_id', '=', values.contactId)
    .where('version', '=', values.version),
);
