/**
 * Fixed-window counters in the database, so every process sees the same
 * counts (login attempts, reset requests). One upsert per hit; callers
 * count an attempt before doing the work it is limited for.
 */
import { sql, type Kysely } from 'kysely';
import type { DB } from '../storage/schema.js';

export interface LimitState {
  count: number;
  /** Seconds until the window ends (for Retry-After). */
  retryAfterSeconds: number;
}

function secondsUntil(end: string, now: Date): number {
  return Math.max(1, Math.ceil((Date.parse(end) - now.getTime()) / 1000));
}

/**
 * Counts one hit on `key` and returns the new count, in one statement (an
 * upsert with RETURNING, on SQLite and PostgreSQL alike): concurrent hits
 * each see a different count, so a check of the count cannot be raced.
 * A window that has ended starts again at 1.
 */
export async function hitLimit(
  db: Kysely<DB>,
  key: string,
  windowMs: number,
  now: Date,
): Promise<LimitState> {
  const at = now.toISOString();
  const end = new Date(now.getTime() + windowMs).toISOString();
  const row = await db
    .insertInto('rate_limits')
    .values({ key, count: 1, window_ends_at: end })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        count: sql<number>`case when rate_limits.window_ends_at <= ${at} then 1 else rate_limits.count + 1 end`,
        window_ends_at: sql<string>`case when rate_limits.window_ends_at <= ${at} then ${end} else rate_limits.window_ends_at end`,
      }),
    )
    .returning(['count', 'window_ends_at'])
    .executeTakeFirstOrThrow();
  return { count: Number(row.count), retryAfterSeconds: secondsUntil(row.window_ends_at, now) };
}

export async function clearLimit(db: Kysely<DB>, key: string): Promise<void> {
  await db.deleteFrom('rate_limits').where('key', '=', key).execute();
}

/** Drops counters whose window has ended. */
export async function pruneLimits(db: Kysely<DB>, now: Date): Promise<void> {
  await db.deleteFrom('rate_limits').where('window_ends_at', '<=', now.toISOString()).execute();
}
