/**
 * Contact imports (WP Fusion's import tool): every contact of a connection,
 * or those with one tag, becomes a user. A job lists the CRM's contacts page
 * by page and queues one `add` webhook per contact (marked with the job), so
 * each goes through the same run, ordering and retries as a webhook from the
 * CRM. These functions are what the CLI and the admin pages call.
 */
import type { Kysely } from 'kysely';
import { writeActivity } from '../activity/activity.repository.js';
import type { Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connections/registry.js';
import { AppError } from '../errors.js';
import type { DB, ImportJobRow } from '../storage/schema.js';
import {
  findImportJob,
  findRunningImport,
  finishImportJob,
  importEventCounts,
  importOutcomes,
  insertImportJob,
  listImportJobRows,
  type ImportCounts,
} from './import-jobs.repository.js';

type Db = Kysely<DB>;

export interface StartImportRequest {
  readonly connectionId: string;
  /** A tag's label (or its id in the CRM); undefined imports every contact. */
  readonly tag?: string | undefined;
  /** Send every imported contact the welcome e-mail, as `send_notification=true` does. */
  readonly sendWelcome?: boolean | undefined;
  /** Who started it, for the record: an admin's e-mail, or "cli". */
  readonly startedBy?: string | undefined;
}

type ImportJobStatus = 'listing' | 'running' | 'done' | 'failed' | 'cancelled';

export interface ImportJobView {
  readonly id: number;
  readonly connectionId: string;
  /** The tag imported, or null for every contact. */
  readonly tag: { readonly id: string; readonly label: string } | null;
  /** listing: pages still being read; running: all queued, some not run yet; done: every contact run; cancelled: stopped by someone. */
  readonly status: ImportJobStatus;
  /** Contacts queued so far (final once status is no longer `listing`). */
  readonly total: number;
  /** Contacts run to an outcome (created, updated, skipped or failed). */
  readonly done: number;
  /** Contacts that failed. */
  readonly errors: number;
  /** 0–100; 100 only when done. */
  readonly percent: number;
  readonly counts: ImportCounts;
  readonly sendWelcome: boolean;
  readonly startedBy: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt: string | null;
  /** Why listing failed (or the last transient problem while it retries). */
  readonly error: { readonly code: string | null; readonly message: string } | null;
}

export interface ImportSummary {
  readonly created: number;
  readonly updated: number;
  /** Contacts whose user was already up to date. */
  readonly unchanged: number;
  /** Reason → how many contacts were skipped for it. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Reason → how many contacts failed with it. */
  readonly failed: Readonly<Record<string, number>>;
}

function viewOf(row: ImportJobRow, counts: ImportCounts): ImportJobView {
  const done = counts.done + counts.skipped + counts.failed;
  const queuedAll = row.listed_all === 1;
  const allRun = queuedAll && counts.pending === 0 && counts.running === 0;
  const status: ImportJobStatus =
    row.status !== 'running' ? row.status : !queuedAll ? 'listing' : allRun ? 'done' : 'running';
  const percent =
    status === 'done'
      ? 100
      : row.total === 0
        ? 0
        : Math.min(99, Math.floor((done / row.total) * 100));
  return {
    id: row.id,
    connectionId: row.connection_id,
    tag: row.tag_id === null ? null : { id: row.tag_id, label: row.tag_label ?? row.tag_id },
    status,
    total: row.total,
    done,
    errors: counts.failed,
    percent,
    counts,
    sendWelcome: row.send_welcome === 1,
    startedBy: row.started_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    error: row.error_message === null ? null : { code: row.error_code, message: row.error_message },
  };
}

/** Finds the tag by label (case-insensitive) or by id in the CRM's tag list. */
async function resolveTag(
  registry: ConnectionRegistry,
  connectionId: string,
  wanted: string,
): Promise<{ id: string; label: string }> {
  const connection = await registry.resolve(connectionId);
  const tags = await connection.connector.listTags();
  const text = wanted.trim();
  const found =
    tags.find((tag) => tag.label === text) ??
    tags.find((tag) => tag.label.toLowerCase() === text.toLowerCase()) ??
    tags.find((tag) => tag.id === text);
  if (!found) {
    const known = tags
      .slice(0, 10)
      .map((tag) => `"${tag.label}"`)
      .join(', ');
    throw new AppError(
      'UNKNOWN_TAG',
      `"${text}" on connection "${connectionId}"${known ? ` (tags include ${known})` : ''}`,
    );
  }
  return found;
}

/**
 * Starts an import; the worker side (ImportRunner) lists and queues it. The
 * connection must be able to list contacts and the tag must exist. A running
 * import of the same connection and tag is refused.
 */
export async function startImport(
  db: Db,
  registry: ConnectionRegistry,
  clock: Clock,
  request: StartImportRequest,
): Promise<ImportJobView> {
  const connection = await registry.resolve(request.connectionId);
  if (!connection.connector.listContacts)
    throw new AppError(
      'IMPORT_UNSUPPORTED',
      `connection "${connection.id}" (${connection.definition.label}) gets contacts from webhooks only`,
    );
  const tag =
    request.tag === undefined || request.tag.trim() === ''
      ? null
      : await resolveTag(registry, connection.id, request.tag);
  const running = await findRunningImport(db, connection.id, tag?.id ?? null);
  if (running)
    throw new AppError(
      'IMPORT_ALREADY_RUNNING',
      `import #${running.id} of ${tag ? `tag "${tag.label}"` : 'every contact'} from "${connection.id}" is still running`,
    );
  const at = clock.now().toISOString();
  const id = await insertImportJob(
    db,
    {
      connectionId: connection.id,
      tagId: tag?.id ?? null,
      tagLabel: tag?.label ?? null,
      sendWelcome: request.sendWelcome === true,
      startedBy: request.startedBy ?? null,
    },
    at,
  );
  await writeActivity(
    db,
    [
      {
        level: 'info',
        message: `Import #${id} started by ${request.startedBy ?? 'an unnamed caller'}: ${tag ? `contacts tagged "${tag.label}"` : 'every contact'} from "${connection.id}"${request.sendWelcome ? ', with welcome e-mails' : ''}`,
        connectionId: connection.id,
        action: 'import',
      },
    ],
    at,
  );
  const view = await getImportJob(db, id);
  if (!view) throw new AppError('NOT_FOUND', `import #${id}`);
  return view;
}

/** One import with its progress, or undefined. */
export async function getImportJob(db: Db, id: number): Promise<ImportJobView | undefined> {
  const row = await findImportJob(db, id);
  return row ? viewOf(row, await importEventCounts(db, id)) : undefined;
}

/** The newest imports first, with their progress. */
export async function listImportJobs(db: Db, limit = 20): Promise<ImportJobView[]> {
  const rows = await listImportJobRows(db, limit);
  return Promise.all(rows.map(async (row) => viewOf(row, await importEventCounts(db, row.id))));
}

/** What an import did so far: users created and updated, contacts skipped and failed, with reasons. */
export async function importSummary(db: Db, id: number): Promise<ImportSummary> {
  let created = 0;
  let updated = 0;
  let unchanged = 0;
  const skipped: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const add = (into: Record<string, number>, reason: string) => {
    into[reason] = (into[reason] ?? 0) + 1;
  };
  for (const row of await importOutcomes(db, id)) {
    const result = row.result === null ? {} : (JSON.parse(row.result) as Record<string, unknown>);
    if (row.status === 'failed') add(failed, row.error_message ?? 'unknown error');
    else if (row.status === 'skipped')
      add(skipped, typeof result.skipReason === 'string' ? result.skipReason : 'no reason given');
    else if (result.created === true) created += 1;
    else if (Array.isArray(result.changes) && result.changes.length > 0) updated += 1;
    else unchanged += 1;
  }
  return { created, updated, unchanged, skipped, failed };
}

/**
 * Cancels an import that is still listing or running: no further page is
 * listed, and no process takes the job up again. The webhooks it queued stay
 * queued (each is a contact's real `add`) and still count in its figures.
 */
export async function cancelImport(
  db: Db,
  clock: Clock,
  id: number,
  cancelledBy: string,
): Promise<ImportJobView> {
  const job = await getImportJob(db, id);
  if (!job) throw new AppError('NOT_FOUND', `import #${id}`);
  const at = clock.now().toISOString();
  const cancellable = job.status === 'listing' || job.status === 'running';
  if (
    !cancellable ||
    !(await finishImportJob(
      db,
      id,
      { status: 'cancelled', message: `cancelled by ${cancelledBy}` },
      at,
    ))
  )
    throw new AppError('IMPORT_ENDED', `import #${id} is ${cancellable ? 'over' : job.status}`);
  await writeActivity(
    db,
    [
      {
        level: 'notice',
        message: `Import #${id} cancelled by ${cancelledBy}: ${job.total} contact(s) queued stay queued, no further page is listed`,
        connectionId: job.connectionId,
        action: 'import',
      },
    ],
    at,
  );
  return (await getImportJob(db, id)) ?? job;
}
