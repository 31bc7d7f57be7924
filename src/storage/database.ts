/**
 * Opens the database named by a URL: a SQLite file (the embedded default) or
 * PostgreSQL (`postgres://…`). Everything dialect-specific about connecting
 * lives here; the rest of the code sees one Kysely instance.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import pg from 'pg';
import type { DB } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Database {
  readonly db: Kysely<DB>;
  readonly dialect: DialectName;
  /** The URL with any password masked, for logs and messages. */
  readonly displayUrl: string;
  destroy(): Promise<void>;
}

function dialectOf(url: string): DialectName {
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

/** PostgreSQL URL option `schema=NAME` selects the search_path (used to isolate test files). */
function postgresPool(url: string, maxConnections: number): pg.Pool {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: maxConnections,
    connectionTimeoutMillis: 5_000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
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
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
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
  maxConnections?: number;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  const dialect = dialectOf(url);
  if (dialect === 'postgres') {
    const pool = postgresPool(url, options.maxConnections ?? 10);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect, displayUrl: maskDatabaseUrl(url), destroy: () => db.destroy() };
  }
  const filename = sqliteFilename(url);
  if (filename !== ':memory:') createOwnerOnly(filename);
  const sqlite = new BetterSqlite3(filename);
  sqlite.pragma('journal_mode = WAL');
  // FULL keeps a committed webhook on disk across power loss; group commit keeps it fast.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<DB>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
  });
  return { db, dialect, displayUrl: filename, destroy: () => db.destroy() };
}
