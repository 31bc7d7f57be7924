/**
 * Retention: finished webhooks, activity log lines and sent e-mails older than
 * their `retention_*_days` setting are deleted, so the database stops growing
 * with traffic. Pending and running webhooks are never touched.
 *
 * Each table is walked along its primary key from the oldest row, a small
 * batch at a time: one short statement per batch (no scan of the whole table,
 * no long lock), and a pause between batches so the webhook intake's commits
 * go first. The walk stops at the first batch that starts after the cutoff
 * (ids grow with time).
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { loadSettings, type Settings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';

export interface RetentionDeps {
  db: Kysely<DB>;
  clock: Clock;
  settingOverrides: Readonly<Record<string, string>>;
}

export interface PruneOptions {
  /** Rows looked at per statement. */
  batchSize?: number;
  /** Awaited between two batches (default: a few milliseconds, letting other work in). */
  pause?: () => Promise<void>;
}

export interface PruneResult {
  events: number;
  activity: number;
  mail: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_BATCH = 500;
const defaultPause = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

interface Span {
  first: number;
  last: number;
  /** When the batch's first row was made. */
  startedAt: string;
}

/**
 * Walks a table in id order: `nextSpan(from)` reads the ids of the next batch, `remove`
 * deletes what is due inside that span. Returns how many rows were deleted.
 */
async function walk(
  nextSpan: (from: number) => Promise<Span | undefined>,
  stopAt: string,
  remove: (span: Span) => Promise<number>,
  pause: () => Promise<void>,
): Promise<number> {
  let deleted = 0;
  for (let from = 0; ;) {
    const span = await nextSpan(from);
    if (!span || span.startedAt >= stopAt) return deleted;
    deleted += await remove(span);
    from = span.last + 1;
    await pause();
  }
}

const spanOf = (rows: { id: number; made: string }[]): Span | undefined => {
  const first = rows[0];
  const last = rows[rows.length - 1];
  return first && last ? { first: first.id, last: last.id, startedAt: first.made } : undefined;
};

const cutoff = (now: Date, days: number): string | undefined =>
  days > 0 ? new Date(now.getTime() - days * DAY_MS).toISOString() : undefined;

async function pruneEvents(
  db: Kysely<DB>,
  settings: Settings,
  now: Date,
  batch: number,
  pause: () => Promise<void>,
): Promise<number> {
  const doneBefore = cutoff(now, settings.retention_done_days);
  const failedBefore = cutoff(now, settings.retention_failed_days);
  const rules = [
    ...(doneBefore ? [{ statuses: ['done', 'skipped'] as const, before: doneBefore }] : []),
    ...(failedBefore ? [{ statuses: ['failed', 'rejected'] as const, before: failedBefore }] : []),
  ];
  if (rules.length === 0) return 0;
  // A webhook finishes after it arrived: nothing received after the later cutoff is due.
  const stopAt = rules.map((rule) => rule.before).reduce((a, b) => (a > b ? a : b));
  return walk(
    async (from) =>
      spanOf(
        await db
          .selectFrom('webhook_events')
          .select(['id', 'received_at as made'])
          .where('id', '>=', from)
          .orderBy('id')
          .limit(batch)
          .execute(),
      ),
    stopAt,
    async (span) => {
      const result = await db
        .deleteFrom('webhook_events')
        .where('id', '>=', span.first)
        .where('id', '<=', span.last)
        .where((eb) =>
          eb.or(
            rules.map((rule) =>
              eb.and([
                eb('status', 'in', [...rule.statuses]),
                eb('finished_at', 'is not', null),
                eb('finished_at', '<', rule.before),
              ]),
            ),
          ),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    pause,
  );
}

async function pruneActivity(
  db: Kysely<DB>,
  before: string | undefined,
  batch: number,
  pause: () => Promise<void>,
): Promise<number> {
  if (!before) return 0;
  return walk(
    async (from) =>
      spanOf(
        await db
          .selectFrom('activity_log')
          .select(['id', 'at as made'])
          .where('id', '>=', from)
          .orderBy('id')
          .limit(batch)
          .execute(),
      ),
    before,
    async (span) => {
      const result = await db
        .deleteFrom('activity_log')
        .where('id', '>=', span.first)
        .where('id', '<=', span.last)
        .where('at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    pause,
  );
}

async function pruneMail(
  db: Kysely<DB>,
  before: string | undefined,
  batch: number,
  pause: () => Promise<void>,
): Promise<number> {
  if (!before) return 0;
  return walk(
    async (from) =>
      spanOf(
        await db
          .selectFrom('mail_queue')
          .select(['id', 'created_at as made'])
          .where('id', '>=', from)
          .orderBy('id')
          .limit(batch)
          .execute(),
      ),
    before,
    async (span) => {
      const result = await db
        .deleteFrom('mail_queue')
        .where('id', '>=', span.first)
        .where('id', '<=', span.last)
        .where('status', '=', 'sent')
        .where('sent_at', 'is not', null)
        .where('sent_at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    pause,
  );
}

/** Deletes everything past its retention once; returns how many rows each table lost. */
export async function pruneExpired(
  deps: RetentionDeps,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const settings = await loadSettings(deps.db, deps.settingOverrides);
  const now = deps.clock.now();
  const batch = options.batchSize ?? DEFAULT_BATCH;
  const pause = options.pause ?? defaultPause;
  return {
    events: await pruneEvents(deps.db, settings, now, batch, pause),
    activity: await pruneActivity(
      deps.db,
      cutoff(now, settings.retention_activity_days),
      batch,
      pause,
    ),
    mail: await pruneMail(deps.db, cutoff(now, settings.retention_mail_days), batch, pause),
  };
}

export interface RetentionJob {
  start(): void;
  /** Stops the timer and waits for a pruning under way to end its current batch. */
  stop(): Promise<void>;
}

/** Prunes shortly after start, then every `everyMs`; a failure is logged and tried at the next turn. */
export function createRetentionJob(
  deps: RetentionDeps & { logger: Logger },
  options: { everyMs: number; firstAfterMs: number },
): RetentionJob {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, stopped ? 0 : 5));

  const run = () => {
    current = (async () => {
      try {
        const result = await pruneExpired(deps, {
          pause: async () => {
            if (stopped) throw new RetentionStopped();
            await pause();
          },
        });
        if (result.events + result.activity + result.mail > 0)
          deps.logger.info(result, 'pruned rows past their retention');
      } catch (error) {
        if (!(error instanceof RetentionStopped))
          deps.logger.warn({ err: error }, 'pruning failed; it is tried again later');
      }
      if (!stopped) timer = setTimeout(run, options.everyMs);
    })();
  };

  return {
    start() {
      if (timer || stopped) return;
      timer = setTimeout(run, options.firstAfterMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}

class RetentionStopped extends Error {}
