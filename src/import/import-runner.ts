/**
 * The worker side of imports: takes a running job (a claim that runs out if
 * this process dies, so another process resumes it), lists the CRM's contacts
 * page by page through the connection's rate limiter, and queues one `add`
 * webhook per contact in the same transaction that moves the job's cursor.
 * Jobs whose webhooks have all run are marked done; a cancelled job is
 * neither listed further nor taken up again.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { writeActivity } from '../activity/activity.repository.js';
import { createPollLoop, type Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connections/registry.js';
import { toAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DB, ImportJobRow, NewWebhookEventRow } from '../storage/schema.js';
import { importSummary } from './import-jobs.js';
import {
  claimImportJob,
  findImportJob,
  finishImportJob,
  importEventCounts,
  listedRunningJobs,
  postponeImportJob,
  releaseImportJob,
  saveListedPage,
} from './import-jobs.repository.js';

export interface ImportRunnerDeps {
  db: Kysely<DB>;
  clock: Clock;
  registry: ConnectionRegistry;
  logger: Logger;
  /** Woken when a page of webhooks was queued. */
  worker?: { notify(): void } | undefined;
}

export interface ImportRunnerOptions {
  /** How long a claim on a job lasts; renewed with every page. */
  leaseMs: number;
  pollMs: number;
  owner?: string;
}

export interface ImportRunner {
  readonly owner: string;
  start(): void;
  /** Stops after the page under way; the job's claim then runs out and any process resumes it. */
  stop(): Promise<void>;
  notify(): void;
  /** Lists one page of a claimable job (claiming it if need be); false when there was nothing to do. */
  step(): Promise<boolean>;
  /** Marks jobs done whose webhooks have all run; returns their ids. */
  finishListedJobs(): Promise<number[]>;
  /** Lists every claimable job to its end (`worker --once`, tests); returns the pages read. */
  drain(): Promise<number>;
}

/** Wait before listing again after a transient CRM failure without a Retry-After. */
const RETRY_DELAY_MS = 10_000;

/** The webhook an import queues for one contact: an `add`, as the CRM would send it. */
function importEvent(
  job: Pick<ImportJobRow, 'id' | 'connection_id' | 'send_welcome'>,
  contactId: string,
  at: string,
): NewWebhookEventRow {
  const sendNotification = job.send_welcome === 1;
  const raw: Record<string, string> = {
    wpf_action: 'add',
    contact_id: contactId,
    async: 'true',
    ...(sendNotification ? { send_notification: 'true' } : {}),
    source: 'import',
  };
  const query = new URLSearchParams(raw).toString();
  return {
    received_at: at,
    connection_id: job.connection_id,
    action: 'add',
    contact_id: contactId,
    email: null,
    status: 'pending',
    attempts: 0,
    available_at: at,
    locked_by: null,
    locked_until: null,
    params: JSON.stringify({ action: 'add', contactId, sendNotification, async: true, raw }),
    // Stored as the webhook it stands for, so `events replay` sends it again like any other.
    request: JSON.stringify({
      method: 'POST',
      url: `/webhooks/${encodeURIComponent(job.connection_id)}?${query}`,
      contentType: null,
      body: null,
    }),
    result: null,
    error_code: null,
    error_message: null,
    finished_at: null,
    replay_of: null,
    client_ip: null,
    import_job_id: job.id,
  };
}

export function createImportRunner(
  deps: ImportRunnerDeps,
  options: ImportRunnerOptions,
): ImportRunner {
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const { db, clock, logger } = deps;
  const iso = (offsetMs = 0) => new Date(clock.now().getTime() + offsetMs).toISOString();
  let current: ImportJobRow | undefined;

  const context = (job: ImportJobRow) => ({ connectionId: job.connection_id, action: 'import' });
  const what = (job: ImportJobRow) =>
    `Import #${job.id} (${job.tag_label === null ? 'every contact' : `tag "${job.tag_label}"`})`;

  async function fail(job: ImportJobRow, code: string, message: string): Promise<void> {
    await finishImportJob(db, job.id, { status: 'failed', code, message }, iso());
    await writeActivity(
      db,
      [{ level: 'error', message: `${what(job)} failed: ${message}`, ...context(job) }],
      iso(),
    );
  }

  /** Reads and queues the page at the job's cursor; returns the job as it is afterwards, or undefined when it left our hands. */
  async function listPage(job: ImportJobRow): Promise<ImportJobRow | undefined> {
    // A job cancelled (or taken over) since the last page is left alone: no further CRM call for it.
    const stored = await findImportJob(db, job.id);
    if (stored?.status !== 'running' || stored.locked_by !== owner) return undefined;
    let page;
    try {
      const connection = await deps.registry.resolve(job.connection_id);
      if (!connection.connector.listContacts) {
        await fail(job, 'IMPORT_UNSUPPORTED', 'this connection cannot list contacts');
        return undefined;
      }
      page = await connection.connector.listContacts({
        tagId: job.tag_id ?? undefined,
        cursor: job.cursor,
      });
    } catch (thrown) {
      const error = toAppError(thrown);
      if (!error.retryable) {
        await fail(job, error.code, error.message);
        return undefined;
      }
      const delay = error.retryAfterMs ?? RETRY_DELAY_MS;
      await postponeImportJob(db, job.id, owner, iso(delay), error.message, iso());
      await writeActivity(
        db,
        [
          {
            level: 'warning',
            message: `${what(job)}: listing contacts failed (${error.message}); trying again in ${Math.ceil(delay / 1000)} s`,
            ...context(job),
          },
        ],
        iso(),
      );
      return undefined;
    }
    const at = iso();
    const events = page.contactIds.map((contactId) => importEvent(job, contactId, at));
    const total = job.total + events.length;
    const saved = await saveListedPage(
      db,
      job.id,
      owner,
      {
        from: job.cursor,
        next: page.next,
        events,
        until: iso(options.leaseMs),
        activity: [
          {
            level: 'info',
            message: `${what(job)}: queued ${events.length} contact(s), ${total} so far${page.next === null ? '; every contact is queued' : ''}`,
            ...context(job),
          },
        ],
      },
      at,
    );
    if (!saved) {
      logger.warn({ job: job.id }, 'import job was cancelled or taken over by another process');
      return undefined;
    }
    if (events.length > 0) deps.worker?.notify();
    if (page.next === null) return undefined;
    return { ...job, cursor: page.next, total };
  }

  async function step(): Promise<boolean> {
    current ??= await claimImportJob(db, owner, iso(), iso(options.leaseMs));
    if (!current) return false;
    current = await listPage(current);
    return true;
  }

  async function finishListedJobs(): Promise<number[]> {
    const finished: number[] = [];
    for (const { id } of await listedRunningJobs(db)) {
      const counts = await importEventCounts(db, id);
      if (counts.pending > 0 || counts.running > 0) continue;
      const summary = await importSummary(db, id);
      await finishImportJob(db, id, { status: 'done' }, iso());
      const skipped = Object.values(summary.skipped).reduce((sum, n) => sum + n, 0);
      const failed = Object.values(summary.failed).reduce((sum, n) => sum + n, 0);
      await writeActivity(
        db,
        [
          {
            level: failed > 0 ? 'warning' : 'info',
            message: `Import #${id} finished: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged, ${skipped} skipped, ${failed} failed`,
            action: 'import',
            data: summary,
          },
        ],
        iso(),
      );
      finished.push(id);
    }
    return finished;
  }

  const loop = createPollLoop({
    pollMs: options.pollMs,
    async pass() {
      if (await step()) return true;
      await finishListedJobs();
      return false;
    },
    onError(error) {
      // Storage failed: the claim runs out and the job is taken up again.
      current = undefined;
      logger.error({ err: error }, 'import job step failed');
    },
  });

  return {
    owner,
    start: () => loop.start(),
    async stop() {
      await loop.stop();
      // Stopped on purpose: the claim is given back at once, so another process resumes without waiting.
      if (current) {
        const job = current;
        current = undefined;
        await releaseImportJob(db, job.id, owner, iso()).catch((error: unknown) =>
          logger.warn({ err: error, job: job.id }, 'could not release an import job'),
        );
      }
    },
    notify: () => loop.wake(),
    step,
    finishListedJobs,
    async drain() {
      let pages = 0;
      while (await step()) pages += 1;
      return pages;
    },
  };
}
