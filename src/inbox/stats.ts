/**
 * Figures for the dashboard and `/metrics`, read from the database: webhooks
 * received and processed per minute, the backlog, failures waiting for a
 * replay, and the mail queue. Pure reads; each is one cheap query.
 */
import { sql, type Kysely } from 'kysely';
import type { DB } from '../storage/schema.js';
import { countEventsByStatus } from './inbox.repository.js';

type Db = Kysely<DB>;

const MINUTE_MS = 60_000;

export interface MinuteCount {
  /** Start of the minute, ISO-8601 UTC. */
  readonly at: string;
  readonly received: number;
  readonly processed: number;
}

export interface Backlog {
  readonly pending: number;
  readonly running: number;
  readonly failed: number;
}

export interface RateLimitFigure {
  readonly connectionId: string;
  readonly used: number;
  readonly requests: number;
  readonly windowMs: number;
}

export interface DashboardStats {
  readonly generatedAt: string;
  /** One entry per minute, oldest first, the current minute last. */
  readonly perMinute: readonly MinuteCount[];
  readonly backlog: Backlog;
  /** Failed webhooks no replay has been made of yet. */
  readonly failuresWaiting: number;
  /** E-mails waiting to be sent. */
  readonly mailQueue: number;
  readonly rateLimits: readonly RateLimitFigure[];
}

/** Minute buckets are the first 16 characters of the ISO timestamps: `2026-01-02T03:04`. */
const minuteKey = (iso: string) => iso.slice(0, 16);

/**
 * Webhooks received (by `received_at`) and processed (done, skipped or failed,
 * by `finished_at`) in each of the last `minutes` minutes, ending with the
 * current one. One grouped query; minutes without webhooks are zeros.
 */
export async function webhooksPerMinute(db: Db, now: Date, minutes = 1440): Promise<MinuteCount[]> {
  const current = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
  const start = new Date(current - (minutes - 1) * MINUTE_MS).toISOString();
  const result = await sql<{
    minute: string;
    received: number | string;
    processed: number | string;
  }>`
    select minute, sum(received) as received, sum(processed) as processed from (
      select substr(received_at, 1, 16) as minute, 1 as received, 0 as processed
        from webhook_events where received_at >= ${start}
      union all
      select substr(finished_at, 1, 16) as minute, 0 as received, 1 as processed
        from webhook_events
        where finished_at >= ${start} and status in ('done', 'skipped', 'failed')
    ) as stamps group by minute`.execute(db);
  const counts = new Map(result.rows.map((row) => [row.minute, row]));
  return Array.from({ length: minutes }, (_, index) => {
    const at = new Date(current - (minutes - 1 - index) * MINUTE_MS).toISOString();
    const row = counts.get(minuteKey(at));
    return {
      at,
      received: Number(row?.received ?? 0),
      processed: Number(row?.processed ?? 0),
    };
  });
}

/** Webhooks waiting (pending), being run (running) and failed. */
export async function inboxBacklog(db: Db): Promise<Backlog> {
  const counts = await countEventsByStatus(db, ['pending', 'running', 'failed']);
  return { pending: counts.pending ?? 0, running: counts.running ?? 0, failed: counts.failed ?? 0 };
}

/** Failed webhooks that have not been replayed. */
export async function failuresWaiting(db: Db): Promise<number> {
  const row = await db
    .selectFrom('webhook_events as failed')
    .select(sql<string>`count(*)`.as('count'))
    .where('failed.status', '=', 'failed')
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('webhook_events as replay')
            .select('replay.id')
            .whereRef('replay.replay_of', '=', 'failed.id'),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

/** E-mails waiting to be sent (including those waiting for a retry). */
export async function mailQueueSize(db: Db): Promise<number> {
  const row = await db
    .selectFrom('mail_queue')
    .select(sql<string>`count(*)`.as('count'))
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

/**
 * Everything the dashboard shows. Rate-limit use lives in the process that
 * calls the CRMs, so the caller passes it (`registry.rateLimitUse()`).
 */
export async function dashboardStats(
  db: Db,
  now: Date,
  rateLimits: readonly RateLimitFigure[] = [],
): Promise<DashboardStats> {
  const [perMinute, backlog, waiting, mailQueue] = await Promise.all([
    webhooksPerMinute(db, now),
    inboxBacklog(db),
    failuresWaiting(db),
    mailQueueSize(db),
  ]);
  return {
    generatedAt: now.toISOString(),
    perMinute,
    backlog,
    failuresWaiting: waiting,
    mailQueue,
    rateLimits: [...rateLimits].sort((a, b) => a.connectionId.localeCompare(b.connectionId)),
  };
}
