/**
 * Storage of contact imports: the job rows, the claim that lets one process
 * list a job at a time (a lease that runs out when that process dies), and
 * the webhooks each listed page queues, written in the same transaction as
 * the job's new cursor so a restart neither skips nor repeats a page.
 */
import { markContactsDue } from '../inbox/due-contacts.js';
import { sql, type Kysely } from 'kysely';
import { activityRow, type ActivityEntry } from '../activity/activity.repository.js';
import type { DB, ImportJobRow, NewWebhookEventRow } from '../storage/schema.js';

type Db = Kysely<DB>;

export interface NewImportJob {
  connectionId: string;
  tagId: string | null;
  tagLabel: string | null;
  sendWelcome: boolean;
  startedBy: string | null;
}

export async function insertImportJob(db: Db, job: NewImportJob, at: string): Promise<number> {
  const row = await db
    .insertInto('import_jobs')
    .values({
      connection_id: job.connectionId,
      tag_id: job.tagId,
      tag_label: job.tagLabel,
      status: 'running',
      total: 0,
      listed_all: 0,
      cursor: null,
      send_welcome: job.sendWelcome ? 1 : 0,
      locked_by: null,
      locked_until: null,
      error_code: null,
      error_message: null,
      started_by: job.startedBy,
      created_at: at,
      updated_at: at,
      finished_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export function findImportJob(db: Db, id: number): Promise<ImportJobRow | undefined> {
  return db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listImportJobRows(db: Db, limit: number): Promise<ImportJobRow[]> {
  return db.selectFrom('import_jobs').selectAll().orderBy('id', 'desc').limit(limit).execute();
}

/** A running import of the same connection and tag, if any. */
export function findRunningImport(
  db: Db,
  connectionId: string,
  tagId: string | null,
): Promise<ImportJobRow | undefined> {
  let query = db
    .selectFrom('import_jobs')
    .selectAll()
    .where('status', '=', 'running')
    .where('connection_id', '=', connectionId);
  query = tagId === null ? query.where('tag_id', 'is', null) : query.where('tag_id', '=', tagId);
  return query.executeTakeFirst();
}

/**
 * Takes the oldest running job that still has pages to list and whose claim
 * is free or has run out. The conditions are repeated on the update, so two
 * processes racing for one job cannot both win.
 */
export async function claimImportJob(
  db: Db,
  owner: string,
  now: string,
  until: string,
): Promise<ImportJobRow | undefined> {
  const candidates = await db
    .selectFrom('import_jobs')
    .select('id')
    .where('status', '=', 'running')
    .where('listed_all', '=', 0)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
    .orderBy('id')
    .limit(5)
    .execute();
  for (const { id } of candidates) {
    const taken = await db
      .updateTable('import_jobs')
      .set({ locked_by: owner, locked_until: until })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('listed_all', '=', 0)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 1) return findImportJob(db, id);
  }
  return undefined;
}

export interface ListedPage {
  /** The cursor the page was read at (the job's cursor when it was claimed or last saved). */
  readonly from: string | null;
  readonly next: string | null;
  readonly events: readonly NewWebhookEventRow[];
  readonly activity: readonly ActivityEntry[];
  /** The claim's new expiry. */
  readonly until: string;
}

/**
 * Queues a listed page and moves the job's cursor in one transaction. Returns
 * false (writing nothing) when this process no longer holds the job or the
 * cursor moved meanwhile.
 */
export async function saveListedPage(
  db: Db,
  jobId: number,
  owner: string,
  page: ListedPage,
  at: string,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('import_jobs')
      .set((eb) => ({
        cursor: page.next,
        total: eb('total', '+', page.events.length),
        listed_all: page.next === null ? 1 : 0,
        locked_by: page.next === null ? null : owner,
        locked_until: page.next === null ? null : page.until,
        updated_at: at,
      }))
      .where('id', '=', jobId)
      .where('status', '=', 'running')
      .where('locked_by', '=', owner)
      .where((eb) => (page.from === null ? eb('cursor', 'is', null) : eb('cursor', '=', page.from)))
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return false;
    if (page.events.length > 0) {
      await trx
        .insertInto('webhook_events')
        .values([...page.events])
        .execute();
      // Listed as due in the same transaction, as the intake does, or no worker would claim them.
      await markContactsDue(trx, page.events);
    }
    if (page.activity.length > 0)
      await trx
        .insertInto('activity_log')
        .values(page.activity.map((entry) => activityRow(entry, at)))
        .execute();
    return true;
  });
}

/** Gives the claim back early (a transient failure): another try may start at `retryAt`. */
export async function postponeImportJob(
  db: Db,
  jobId: number,
  owner: string,
  retryAt: string,
  message: string,
  at: string,
): Promise<void> {
  await db
    .updateTable('import_jobs')
    .set({ locked_by: null, locked_until: retryAt, error_message: message, updated_at: at })
    .where('id', '=', jobId)
    .where('locked_by', '=', owner)
    .execute();
}

/** Gives the claim back (the process stops): any process may take the job up at once. */
export async function releaseImportJob(
  db: Db,
  jobId: number,
  owner: string,
  at: string,
): Promise<void> {
  await db
    .updateTable('import_jobs')
    .set({ locked_by: null, locked_until: null, updated_at: at })
    .where('id', '=', jobId)
    .where('locked_by', '=', owner)
    .execute();
}

/** Ends a running job: failed with its reason, cancelled, or done. False when it had already ended. */
export async function finishImportJob(
  db: Db,
  jobId: number,
  outcome: { status: 'done' | 'failed' | 'cancelled'; code?: string; message?: string },
  at: string,
): Promise<boolean> {
  const ended = await db
    .updateTable('import_jobs')
    .set({
      status: outcome.status,
      locked_by: null,
      locked_until: null,
      ...(outcome.code !== undefined ? { error_code: outcome.code } : {}),
      ...(outcome.message !== undefined ? { error_message: outcome.message } : {}),
      updated_at: at,
      finished_at: at,
    })
    .where('id', '=', jobId)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(ended.numUpdatedRows) === 1;
}

export interface ImportCounts {
  pending: number;
  running: number;
  done: number;
  skipped: number;
  failed: number;
}

/** The job's webhooks by status: one grouped, indexed query. */
export async function importEventCounts(db: Db, jobId: number): Promise<ImportCounts> {
  const rows = await db
    .selectFrom('webhook_events')
    .select(['status', sql<string>`count(*)`.as('count')])
    .where('import_job_id', '=', jobId)
    .groupBy('status')
    .execute();
  const of = (status: string) => Number(rows.find((row) => row.status === status)?.count ?? 0);
  return {
    pending: of('pending'),
    running: of('running'),
    done: of('done'),
    skipped: of('skipped'),
    failed: of('failed'),
  };
}

export interface ImportOutcomeRow {
  status: string;
  result: string | null;
  error_message: string | null;
}

/** The outcome of each finished webhook of a job, for the closing summary. */
export function importOutcomes(db: Db, jobId: number): Promise<ImportOutcomeRow[]> {
  return db
    .selectFrom('webhook_events')
    .select(['status', 'result', 'error_message'])
    .where('import_job_id', '=', jobId)
    .where('status', 'in', ['done', 'skipped', 'failed'])
    .execute();
}

/** Running jobs whose every page is queued: candidates to be marked done. */
export function listedRunningJobs(db: Db): Promise<Pick<ImportJobRow, 'id'>[]> {
  return db
    .selectFrom('import_jobs')
    .select('id')
    .where('status', '=', 'running')
    .where('listed_all', '=', 1)
    .execute();
}
