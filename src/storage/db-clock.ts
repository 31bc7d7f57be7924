/**
 * The database's own clock, as the ISO-8601 text every stored time uses
 * (`2026-01-31T12:00:00.000Z`). Lease times are compared against it, never
 * against the clock of the process asking: processes on several machines
 * disagree about the time, the database they share does not.
 */
import { PostgresAdapter, sql, type QueryExecutor, type RawBuilder } from 'kysely';

/** A Kysely instance or transaction of any schema. */
interface Executes {
  getExecutor(): QueryExecutor;
}

/** True when `db` (or a transaction of it) speaks to PostgreSQL. */
export function isPostgres(db: Executes): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** The database's time now, plus `offsetMs`, as ISO-8601 text with milliseconds. */
export function dbTime(db: Executes, offsetMs = 0): RawBuilder<string> {
  const ms = Math.round(offsetMs);
  if (isPostgres(db)) {
    return sql<string>`to_char((statement_timestamp() + make_interval(secs => ${ms}::double precision / 1000)) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  }
  return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`${ms >= 0 ? '+' : ''}${ms / 1000} seconds`})`;
}
