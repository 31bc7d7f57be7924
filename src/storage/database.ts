/**
 * Opens the database named by a URL: a SQLite file (the embedded default) or
 * PostgreSQL (`postgres://…`). Everything dialect-specific about connecting
 * lives here; the rest of the code sees one Kysely instance.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DB } from './schema.js';
import { GroupCommitSqliteDialect, type StatementSource } from './sqlite-group-commit.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<DB>;
  readonly dialect: DialectName;
  /** The URL with any password masked, for logs and messages. */
  readonly displayUrl: string;
  destroy(): Promise<void>;
}

export function dialectOf(url: string): DialectName {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : 'sqlite';
}

/** Hides the password of a database URL. */
export function maskDatabaseUrl(url: string): string {
  if (dialectOf(url) === 'sqlite') return url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function sqliteFilename(url: string): string {
  const file = url.replace(/^sqlite:(\/\/)?/i, '');
  return file === ':memory:' ? file : path.resolve(file);
}

/** The schema a PostgreSQL URL selects with `schema=NAME` (undefined: the server's default). */
export function postgresSchemaOf(url: string): string | undefined {
  return new URL(url).searchParams.get('schema') ?? undefined;
}

/** How to connect one PostgreSQL client for `url` (the pool's and the notification listener's). */
export function postgresClientConfig(url: string, options: OpenOptions): pg.ClientConfig {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const serverOptions = [
    ...(schema ? [`-c search_path=${schema}`] : []),
    ...(options.statementTimeoutMs ? [`-c statement_timeout=${options.statementTimeoutMs}`] : []),
  ];
  return {
    connectionString: parsed.toString(),
    connectionTimeoutMillis: 5_000,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
    ...(serverOptions.length > 0 ? { options: serverOptions.join(' ') } : {}),
  };
}

/**
 * PostgreSQL URL option `schema=NAME` selects the search_path (used to isolate test files).
 *
 * A connection the server drops (a restart, a failover, a terminated backend) emits 'error'
 * on its client, whether it sits idle in the pool or is checked out between two queries of a
 * transaction. Without a listener that event ends the process; with one, the query under way
 * (if any) fails, the broken client is discarded on release, and the pool opens new
 * connections once the server is back.
 */
function postgresPool(url: string, options: OpenOptions): pg.Pool {
  const pool = new pg.Pool({
    ...postgresClientConfig(url, options),
    max: options.maxConnections ?? 10,
  });
  const onError = (error: Error) => options.onConnectionError?.(error);
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** Prepared statements kept per SQLite connection; the hot path uses a handful. */
const STATEMENT_CACHE_SIZE = 200;

/**
 * Kysely prepares every query anew; preparing costs about as much as running a
 * small insert. Statements are reused by their SQL text (least recently used
 * ones are dropped). Safe because every call runs a statement to completion
 * synchronously; SQLite re-prepares a cached statement itself after a schema change.
 */
export function withStatementCache(sqlite: BetterSqlite3.Database): StatementSource {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    exec: (sql) => void sqlite.exec(sql),
    get inTransaction() {
      return sqlite.inTransaction;
    },
    prepare(sql) {
      const cached = cache.get(sql);
      if (cached) {
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = sqlite.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}

/**
 * The database holds users' data: its directory is made 0700 and the file 0600
 * when they are new (SQLite gives the -wal and -shm files the file's mode).
 */
function createOwnerOnly(filename: string): void {
  fs.mkdirSync(path.dirname(filename), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(filename, 'a', 0o600));
}

export interface OpenOptions {
  /** PostgreSQL pool size. */
  maxConnections?: number | undefined;
  /** PostgreSQL: longest a statement may run before the server cancels it (0 or unset: no limit). */
  statementTimeoutMs?: number | undefined;
  /** PostgreSQL: the name this process's connections show in pg_stat_activity. */
  applicationName?: string | undefined;
  /** Told when the server drops a connection (the process carries on; the next query reconnects). */
  onConnectionError?: ((error: Error) => void) | undefined;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  const dialect = dialectOf(url);
  if (dialect === 'postgres') {
    const pool = postgresPool(url, options);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect, displayUrl: maskDatabaseUrl(url), destroy: () => db.destroy() };
  }
  const filename = sqliteFilename(url);
  if (filename !== ':memory:') createOwnerOnly(filename);
  const sqlite = new BetterSqlite3(filename);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL: commits write the WAL without syncing it; the group-commit driver syncs it off the
  // event loop before answering any write that must survive a power cut (see its header).
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<DB>({
    dialect: new GroupCommitSqliteDialect(withStatementCache(sqlite), {
      walPath: filename === ':memory:' ? undefined : `${filename}-wal`,
    }),
  });
  return { db, dialect, displayUrl: filename, destroy: () => db.destroy() };
}
