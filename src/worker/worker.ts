/**
 * The worker: claims contacts with due webhooks, runs each contact once for
 * all of them, and records the outcome. Transient failures are retried with
 * backoff; a lease (kept alive by a heartbeat) lets another worker take over
 * a contact whose worker died.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { PasswordKeyring } from '../directory/passwords.js';
import { isAction, strongestAction } from '../inbox/actions.js';
import type { ActivityEntry } from '../activity/activity.repository.js';
import { writeActivity } from '../activity/activity.repository.js';
import { createPollLoop, type Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connections/registry.js';
import { activityLine as entry } from '../activity/activity-line.js';
import type { Connection } from '../connections/registry.js';
import { AppError, toAppError } from '../errors.js';
import type { OutcomeNotifier } from '../inbox/outcome-waiter.js';
import { openParams } from '../inbox/stored-secrets.js';
import type { Metrics, ProcessedOutcome } from '../lib/metrics.js';
import type { Sealer } from '../lib/seal.js';
import { claimDueContacts, settleDueContact } from '../inbox/due-contacts.js';
import {
  claimContactEvents,
  confirmLease,
  extendLease,
  finishEvents,
  lockToken,
  releaseContactLease,
  rescheduleEvents,
  type DueContact,
  type HeldLease,
} from '../inbox/inbox.repository.js';
import { calculateDelay } from '../lib/backoff.js';
import type { Logger } from '../logger.js';
import type { StoredParams } from '../inbox/stored-params.js';
import { loadSettings, type Settings } from '../settings/settings.js';
import { retryOnConflict } from '../storage/conflicts.js';
import type { DB, WebhookEventRow } from '../storage/schema.js';

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  /** Identifies this worker in leases; unique per process by default. */
  owner?: string;
}

/** Where a run's activity lines belong, and a note to end its summary with (coalesced ids). */
interface RunContext {
  context: { connectionId: string; contactId: string; action: string };
  note: string;
}

/** What a run tells the worker: the events' outcome and result, and its activity lines. */
interface RunReport {
  status: 'done' | 'skipped';
  result: unknown;
  /** A run queued an e-mail: the mail sender is woken. */
  mailQueued: boolean;
  activity: ActivityEntry[];
}

/**
 * Runs the claimed events of one contact; throws AppError on failure. The
 * runs layer provides it (`runEvents`), handed in so the worker stays below it.
 */
export type ContactRun = (
  deps: {
    db: Kysely<DB>;
    clock: Clock;
    settings: Settings;
    random?: (() => number) | undefined;
    eventId: number | null;
    /** Hashes and checks generated passwords (the service's sealer). */
    keyring: PasswordKeyring;
    /** Seals and opens the values of CRM write-backs. */
    sealer: Sealer;
    /** Aborted when the run lost its lease of the contact. */
    signal?: AbortSignal | undefined;
    /** Called first inside each write transaction: throws (rolling it back) when the lease was lost. */
    fence?: ((trx: Kysely<DB>) => Promise<void>) | undefined;
  },
  connection: Connection,
  events: readonly StoredParams[],
  where: RunContext,
) => Promise<RunReport>;

/**
 * Sends a contact's due CRM write-backs (the outbox) for a contact due for
 * nothing else; the runs layer provides it (`sendCrmWrites`).
 */
type CrmWritesSender = (
  deps: {
    db: Kysely<DB>;
    clock: Clock;
    settings: Settings;
    sealer: Sealer;
    random?: (() => number) | undefined;
    signal: AbortSignal;
  },
  contact: DueContact,
  connection: () => Promise<Connection>,
) => Promise<{ outcome: string | undefined; notices: string[]; problems: string[] }>;

export interface WorkerDeps {
  db: Kysely<DB>;
  /** Runs a contact's claimed events. */
  run: ContactRun;
  /**
   * Sends queued CRM write-backs of a contact due for nothing else. Without it they wait for
   * the contact's next webhook (whose run sends them too).
   */
  sendWrites?: CrmWritesSender | undefined;
  clock: Clock;
  registry: ConnectionRegistry;
  settingOverrides: Readonly<Record<string, string>>;
  logger: Logger;
  random?: (() => number) | undefined;
  /** Woken when a run queues an e-mail. */
  mail?: { notify(): void } | undefined;
  /** Opens the secrets a webhook's stored parameters keep sealed. */
  sealer: Sealer;
  /** Counts outcomes for `/metrics`. */
  metrics?: Metrics | undefined;
}

interface EventsFinished {
  ids: number[];
  status: string;
}

export interface Worker extends OutcomeNotifier {
  readonly owner: string;
  start(): void;
  /** Stops claiming, waits for the runs under way, and returns. */
  stop(): Promise<void>;
  /** Wakes the worker now (a webhook was just stored). */
  notify(): void;
  /** Claims and runs whatever is due, once; resolves when those runs end (tests and `worker --once`). */
  drain(): Promise<number>;
  /** Emits 'finished' with EventsFinished whenever events reach a final or retry state. */
  readonly events: EventEmitter;
  /** Contacts being run right now. */
  readonly active: number;
}

const contactKey = (contact: DueContact) => `${contact.connectionId}\u0000${contact.contactId}`;

export function createWorker(deps: WorkerDeps, options: WorkerOptions): Worker {
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const active = new Map<string, Promise<void>>();
  const { db, clock, logger } = deps;

  const iso = (offsetMs = 0) => new Date(clock.now().getTime() + offsetMs).toISOString();

  /** Claims up to `free` contacts and starts their runs; returns how many started. */
  async function claimAndStart(free: number): Promise<number> {
    const leases = await claimDueContacts(db, owner, options.leaseMs, iso(), free);
    let started = 0;
    for (const lease of leases) {
      const key = contactKey(lease.contact);
      if (active.has(key)) {
        // This process's own run of the contact lost its lease (it is fenced off now); the
        // contact stays due and is run again once that run has ended.
        await releaseContactLease(db, lease);
        continue;
      }
      const run = runClaimed(lease).finally(() => {
        active.delete(key);
        loop.wake();
      });
      active.set(key, run);
      started += 1;
    }
    return started;
  }

  /**
   * Runs a contact under its lease. A heartbeat extends the lease; when it
   * cannot (another worker took the lease after this process stood still, or
   * storage stayed away for a whole lease period) the run is aborted, and its
   * write transaction checks the lease generation anyway before writing.
   */
  async function runClaimed(lease: HeldLease): Promise<void> {
    const { contact } = lease;
    const abort = new AbortController();
    let extendedAt = Date.now();
    let extending = false;
    const heartbeat = setInterval(
      () => {
        if (extending || abort.signal.aborted) return;
        extending = true;
        extendLease(db, lease, options.leaseMs)
          .then((held) => {
            if (held) extendedAt = Date.now();
            else abort.abort(lostLease(lease));
          })
          .catch((error: unknown) => {
            logger.warn({ err: error }, 'could not extend a contact lease');
            if (Date.now() - extendedAt >= options.leaseMs) abort.abort(lostLease(lease));
          })
          .finally(() => (extending = false));
      },
      Math.max(50, Math.floor(options.leaseMs / 3)),
    );
    let recorded = false;
    try {
      const claimed = await claimContactEvents(db, lease, options.leaseMs);
      await (claimed.length > 0
        ? processEvents(lease, claimed, abort.signal)
        : sendQueuedCrmWrites(lease, abort.signal));
      recorded = true;
      // A contact left listed (this failing) costs one empty claim later, nothing more.
      await settleDueContact(db, contact).catch((error: unknown) =>
        logger.warn({ err: error }, 'could not update the due contacts'),
      );
    } catch (thrown) {
      if (toAppError(thrown).code === 'LEASE_LOST' || abort.signal.aborted) {
        // Not this run's contact any more: its events belong to the new holder.
        await reportLeaseLost(lease).catch(() => undefined);
        return;
      }
      // Storage failed mid-run: the outcome is not recorded, so the lease is kept until it runs
      // out. Only then may another run take the contact, and it takes these events with it:
      // a newer webhook never runs before an older one.
      logger.error(
        { err: thrown, connection: contact.connectionId, contact: contact.contactId },
        'run failed to record',
      );
    } finally {
      clearInterval(heartbeat);
      if (recorded) await releaseContactLease(db, lease).catch(() => undefined);
    }
  }

  /** A contact due only for its CRM write-backs (a retry, or a run that crashed before sending). */
  async function sendQueuedCrmWrites(lease: HeldLease, signal: AbortSignal): Promise<void> {
    const { contact } = lease;
    if (!deps.sendWrites) return;
    const settings = await loadSettings(db, deps.settingOverrides);
    const sent = await deps.sendWrites(
      { db, clock, settings, sealer: deps.sealer, random: deps.random, signal },
      contact,
      () => deps.registry.resolve(contact.connectionId),
    );
    const context = {
      connectionId: contact.connectionId,
      contactId: contact.contactId,
      action: '',
    };
    const lines = [
      ...sent.notices.map((notice) => entry('info', notice, null, context)),
      ...sent.problems.map((problem) =>
        entry(sent.outcome === 'failed' ? 'error' : 'warning', problem, null, context),
      ),
    ];
    if (lines.length > 0) await writeActivity(db, lines, iso());
  }

  async function reportLeaseLost(lease: HeldLease): Promise<void> {
    const { contact } = lease;
    logger.warn(
      { connection: contact.connectionId, contact: contact.contactId, lease: lease.generation },
      'lease lost, nothing written',
    );
    await writeActivity(
      db,
      [
        entry(
          'warning',
          `Lease of contact ${contact.contactId} lost (another worker took it after this one stood still for longer than the lease); nothing written, the new holder runs its webhooks`,
          null,
          { connectionId: contact.connectionId, contactId: contact.contactId, action: '' },
          { code: 'LEASE_LOST', worker: owner, generation: lease.generation },
        ),
      ],
      iso(),
    );
  }

  /**
   * Events claimed more often than the retry limit allows never reached an
   * outcome: a run of them crashed the process (or hung it) each time. They are
   * failed here, before another run can crash it again.
   */
  async function deadLetter(
    lease: HeldLease,
    poisoned: readonly WebhookEventRow[],
    maxAttempts: number,
  ): Promise<void> {
    const ids = poisoned.map((event) => event.id);
    const message = `Gave up: claimed ${Math.max(...poisoned.map((event) => event.attempts))} times (the limit is ${maxAttempts}) without an outcome; a run of it may crash the worker. Replay it with: crm-bridge events replay ${ids.join(', ')}`;
    const context = {
      connectionId: lease.contact.connectionId,
      contactId: lease.contact.contactId,
      action: poisoned[0]?.action ?? '',
    };
    await failEvents(lease, ids, { code: 'RETRIES_EXHAUSTED', message }, message, context);
  }

  /** Marks events failed with their reason, writes the activity line, and tells waiting requests. */
  async function failEvents(
    lease: HeldLease,
    ids: number[],
    failure: { code: string; message: string },
    logLine: string,
    context: { connectionId: string; contactId: string; action: string },
  ): Promise<void> {
    const result = { status: 'failed', error: failure };
    const finished = await finishEvents(
      db,
      ids,
      lockToken(lease),
      { status: 'failed', result, errorCode: failure.code, errorMessage: failure.message },
      iso(),
    );
    if (finished < ids.length) throw lostLease(lease);
    await writeActivity(
      db,
      [entry('error', logLine, ids[ids.length - 1] ?? null, context, { code: failure.code })],
      iso(),
    );
    countOutcome(ids, context, 'failed');
    events.emit('finished', { ids, status: 'failed' } satisfies EventsFinished);
  }

  /** Each finished webhook counts once, under its connection and action. */
  function countOutcome(
    ids: readonly number[],
    context: { connectionId: string; action: string },
    outcome: ProcessedOutcome,
    claimed?: readonly WebhookEventRow[],
  ): void {
    if (!deps.metrics) return;
    for (const id of ids) {
      const action = claimed?.find((event) => event.id === id)?.action ?? context.action;
      deps.metrics.webhookProcessed(context.connectionId, action, outcome);
    }
  }

  async function processEvents(
    lease: HeldLease,
    allClaimed: WebhookEventRow[],
    signal: AbortSignal,
  ): Promise<void> {
    const { contact } = lease;
    const settings = await loadSettings(db, deps.settingOverrides);
    const poisoned = allClaimed.filter((event) => event.attempts > settings.retry_max_attempts);
    if (poisoned.length > 0) await deadLetter(lease, poisoned, settings.retry_max_attempts);
    const claimed = allClaimed.filter((event) => event.attempts <= settings.retry_max_attempts);
    if (claimed.length === 0) return;
    const ids = claimed.map((event) => event.id);
    const lastId = ids[ids.length - 1] ?? null;
    const actions = claimed.map((event) => event.action).filter(isAction);
    const context = {
      connectionId: contact.connectionId,
      contactId: contact.contactId,
      action: strongestAction(actions),
    };
    const coalesced =
      ids.length > 1 ? ` (${ids.length} webhooks coalesced: #${ids.join(', #')})` : '';
    try {
      const connection = await deps.registry.resolve(contact.connectionId);
      // A deadlock or serialization failure runs again at once, without using an attempt.
      const report = await retryOnConflict(() =>
        deps.run(
          {
            db,
            clock,
            settings,
            random: deps.random,
            eventId: lastId,
            sealer: deps.sealer,
            keyring: deps.sealer,
            signal,
            fence: async (trx) => {
              if (!(await confirmLease(trx, lease, options.leaseMs))) throw lostLease(lease);
            },
          },
          connection,
          claimed.map((event) => openParams(event.params, deps.sealer)),
          { context, note: coalesced },
        ),
      );
      if (report.mailQueued) deps.mail?.notify();
      const finished = await finishEvents(
        db,
        ids,
        lockToken(lease),
        { status: report.status, result: report.result },
        iso(),
      );
      if (finished < ids.length) {
        // Written, but the lease was lost before the outcome was: the new holder runs the
        // webhooks again (the run is idempotent), and the log does not claim this run's outcome.
        logger.warn(
          { connection: contact.connectionId, contact: contact.contactId, recorded: finished },
          'lease lost after writing; outcome not recorded',
        );
        await writeActivity(
          db,
          [
            entry(
              'warning',
              `Lease of contact ${contact.contactId} lost before the outcome was recorded; the new holder runs webhooks #${ids.join(', #')} again`,
              lastId,
              context,
              { code: 'LEASE_LOST', worker: owner, generation: lease.generation },
            ),
          ],
          iso(),
        );
        return;
      }
      await writeActivity(db, report.activity, iso());
      countOutcome(ids, context, report.status, claimed);
      events.emit('finished', { ids, status: report.status } satisfies EventsFinished);
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.code === 'LEASE_LOST' || signal.aborted) throw lostLease(lease);
      const policy = {
        maxAttempts: settings.retry_max_attempts,
        baseDelayMs: settings.retry_base_delay_ms,
        maxDelayMs: 30 * 60_000,
      };
      // Attempts count per webhook: one that arrived during an outage has its own budget.
      const retrying = error.retryable
        ? claimed.filter((event) => event.attempts < policy.maxAttempts)
        : [];
      const exhausted = claimed.filter((event) => !retrying.includes(event));
      if (exhausted.length > 0) {
        const attempts = Math.max(...exhausted.map((event) => event.attempts));
        const final = failureOf(error, attempts);
        const failedIds = exhausted.map((event) => event.id);
        const which =
          retrying.length > 0 ? ` (#${failedIds.join(', #')}; the others retry)` : coalesced;
        await failEvents(lease, failedIds, final, `Failed: ${final.message}${which}`, context);
        if (error.code === 'INTERNAL') logger.error({ err: thrown }, 'unexpected error in a run');
      }
      if (retrying.length > 0) {
        const attempts = Math.max(...retrying.map((event) => event.attempts));
        const retryIds = retrying.map((event) => event.id);
        const delay = calculateDelay(attempts, policy, deps.random, error.retryAfterMs);
        const put = await rescheduleEvents(
          db,
          retryIds,
          lockToken(lease),
          iso(delay),
          error.code,
          error.message,
        );
        if (put < retryIds.length) throw lostLease(lease);
        await writeActivity(
          db,
          [
            entry(
              'warning',
              `Attempt ${attempts} of ${policy.maxAttempts} failed: ${error.message}; retrying in ${formatDelay(delay)}${coalesced}`,
              lastId,
              context,
              { code: error.code },
            ),
          ],
          iso(),
        );
        events.emit('finished', { ids: retryIds, status: 'pending' } satisfies EventsFinished);
      }
    }
  }

  const loop = createPollLoop({
    pollMs: options.pollMs,
    async pass() {
      const free = options.concurrency - active.size;
      return free > 0 && (await claimAndStart(free)) > 0;
    },
    // Storage is away (a restart, a failover, a locked file): wait longer each time, and carry
    // on by itself once it answers again.
    onError: (error) => logger.error({ err: error }, 'could not claim webhooks'),
  });

  return {
    owner,
    events,
    get active() {
      return active.size;
    },
    start: () => loop.start(),
    async stop() {
      await loop.stop();
      await Promise.allSettled([...active.values()]);
    },
    notify: () => loop.wake(),
    onFinished(listener) {
      const onEvent = (finished: EventsFinished) => listener(finished.ids);
      events.on('finished', onEvent);
      return () => events.off('finished', onEvent);
    },
    async drain() {
      let total = 0;
      for (;;) {
        const started = await claimAndStart(options.concurrency - active.size);
        if (started === 0 && active.size === 0) return total;
        total += started;
        await Promise.race([...active.values()]);
      }
    },
  };
}

function lostLease(lease: HeldLease): AppError {
  return new AppError(
    'LEASE_LOST',
    `contact ${lease.contact.contactId}, lease #${lease.generation}`,
  );
}

function failureOf(error: AppError, attempts: number): { code: string; message: string } {
  if (error.retryable)
    return {
      code: 'RETRIES_EXHAUSTED',
      message: `Gave up after ${attempts} attempts; last error: ${error.message}`,
    };
  return { code: error.code, message: error.message };
}

function formatDelay(ms: number): string {
  return ms < 1_000
    ? `${ms} ms`
    : ms < 120_000
      ? `${Math.round(ms / 1_000)} s`
      : `${Math.round(ms / 60_000)} min`;
}
