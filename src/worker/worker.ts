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
import { isAction, strongestAction } from '../inbox/actions.js';
import type { ActivityEntry } from '../activity/activity.repository.js';
import { writeActivity } from '../activity/activity.repository.js';
import { createNap, type Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connections/registry.js';
import { activityLine as entry } from '../activity/activity-line.js';
import type { Connection } from '../connections/registry.js';
import { toAppError, type AppError } from '../errors.js';
import type { OutcomeNotifier } from '../inbox/outcome-waiter.js';
import { openParams } from '../inbox/stored-secrets.js';
import type { Metrics, ProcessedOutcome } from '../lib/metrics.js';
import type { Sealer } from '../lib/seal.js';
import {
  acquireContactLease,
  claimContactEvents,
  extendLease,
  findDueContacts,
  finishEvents,
  releaseContactLease,
  rescheduleEvents,
  type DueContact,
} from '../inbox/inbox.repository.js';
import { calculateDelay } from '../lib/backoff.js';
import type { Logger } from '../logger.js';
import type { StoredParams } from '../inbox/stored-params.js';
import { loadSettings, type Settings } from '../settings/settings.js';
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
  },
  connection: Connection,
  events: readonly StoredParams[],
  where: RunContext,
) => Promise<RunReport>;

export interface WorkerDeps {
  db: Kysely<DB>;
  /** Runs a contact's claimed events. */
  run: ContactRun;
  clock: Clock;
  registry: ConnectionRegistry;
  settingOverrides: Readonly<Record<string, string>>;
  logger: Logger;
  random?: () => number;
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
  let running = false;
  let loopDone: Promise<void> | undefined;
  const nap = createNap();
  const { db, clock, logger } = deps;

  const iso = (offsetMs = 0) => new Date(clock.now().getTime() + offsetMs).toISOString();

  /** Claims up to `free` contacts and starts their runs; returns how many started. */
  async function claimAndStart(free: number): Promise<number> {
    const due = await findDueContacts(db, iso(), free + active.size + 8);
    let started = 0;
    for (const contact of due) {
      if (started >= free) break;
      const key = contactKey(contact);
      if (active.has(key)) continue;
      if (!(await acquireContactLease(db, contact, owner, iso(), iso(options.leaseMs)))) continue;
      const run = runClaimed(contact).finally(() => {
        active.delete(key);
        nap.wake();
      });
      active.set(key, run);
      started += 1;
    }
    return started;
  }

  async function runClaimed(contact: DueContact): Promise<void> {
    const heartbeat = setInterval(
      () => {
        extendLease(db, contact, owner, iso(options.leaseMs)).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not extend a contact lease'),
        );
      },
      Math.max(50, Math.floor(options.leaseMs / 3)),
    );
    let claimed: WebhookEventRow[] = [];
    try {
      claimed = await claimContactEvents(db, contact, owner, iso(), iso(options.leaseMs));
      if (claimed.length > 0) await processEvents(contact, claimed);
    } catch (error) {
      // Storage failed mid-run: the lease runs out and another attempt picks the events up.
      logger.error(
        { err: error, connection: contact.connectionId, contact: contact.contactId },
        'run failed to record',
      );
    } finally {
      clearInterval(heartbeat);
      await releaseContactLease(db, contact, owner).catch(() => undefined);
    }
  }

  /**
   * Events claimed more often than the retry limit allows never reached an
   * outcome: a run of them crashed the process (or hung it) each time. They are
   * failed here, before another run can crash it again.
   */
  async function deadLetter(
    contact: DueContact,
    poisoned: readonly WebhookEventRow[],
    maxAttempts: number,
  ): Promise<void> {
    const ids = poisoned.map((event) => event.id);
    const message = `Gave up: claimed ${Math.max(...poisoned.map((event) => event.attempts))} times (the limit is ${maxAttempts}) without an outcome; a run of it may crash the worker. Replay it with: crm-bridge events replay ${ids.join(', ')}`;
    const context = {
      connectionId: contact.connectionId,
      contactId: contact.contactId,
      action: poisoned[0]?.action ?? '',
    };
    await failEvents(ids, { code: 'RETRIES_EXHAUSTED', message }, message, context);
  }

  /** Marks events failed with their reason, writes the activity line, and tells waiting requests. */
  async function failEvents(
    ids: number[],
    failure: { code: string; message: string },
    logLine: string,
    context: { connectionId: string; contactId: string; action: string },
  ): Promise<void> {
    const result = { status: 'failed', error: failure };
    await finishEvents(
      db,
      ids,
      owner,
      { status: 'failed', result, errorCode: failure.code, errorMessage: failure.message },
      iso(),
    );
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

  async function processEvents(contact: DueContact, allClaimed: WebhookEventRow[]): Promise<void> {
    const settings = await loadSettings(db, deps.settingOverrides);
    const poisoned = allClaimed.filter((event) => event.attempts > settings.retry_max_attempts);
    if (poisoned.length > 0) await deadLetter(contact, poisoned, settings.retry_max_attempts);
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
      const report = await deps.run(
        { db, clock, settings, random: deps.random, eventId: lastId },
        connection,
        claimed.map((event) => openParams(event.params, deps.sealer)),
        { context, note: coalesced },
      );
      if (report.mailQueued) deps.mail?.notify();
      await finishEvents(db, ids, owner, { status: report.status, result: report.result }, iso());
      await writeActivity(db, report.activity, iso());
      countOutcome(ids, context, report.status, claimed);
      events.emit('finished', { ids, status: report.status } satisfies EventsFinished);
    } catch (thrown) {
      const error = toAppError(thrown);
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
        await failEvents(failedIds, final, `Failed: ${final.message}${which}`, context);
        if (error.code === 'INTERNAL') logger.error({ err: thrown }, 'unexpected error in a run');
      }
      if (retrying.length > 0) {
        const attempts = Math.max(...retrying.map((event) => event.attempts));
        const retryIds = retrying.map((event) => event.id);
        const delay = calculateDelay(attempts, policy, deps.random, error.retryAfterMs);
        await rescheduleEvents(db, retryIds, owner, iso(delay), error.code, error.message);
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

  async function loop(): Promise<void> {
    while (running) {
      const free = options.concurrency - active.size;
      if (free > 0) {
        try {
          if ((await claimAndStart(free)) > 0) continue;
        } catch (error) {
          logger.error({ err: error }, 'could not claim webhooks');
        }
      }
      await nap.sleep(options.pollMs);
    }
  }

  return {
    owner,
    events,
    get active() {
      return active.size;
    },
    start() {
      if (running) return;
      running = true;
      loopDone = loop();
    },
    async stop() {
      running = false;
      nap.wake();
      await loopDone;
      await Promise.allSettled([...active.values()]);
    },
    notify() {
      nap.wake();
    },
    onFinished(listener) {
      const onEvent = (finished: EventsFinished) => listener(finished.ids);
      events.on('finished', onEvent);
      return () => events.off('finished', onEvent);
    },
    async drain() {
      let total = 0;
      for (;;) {
        const started = await claimAndStart(options.concurrency);
        if (started === 0 && active.size === 0) return total;
        total += started;
        await Promise.race([...active.values()]);
      }
    },
  };
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
