/**
 * A Kysely dialect for better-sqlite3 with group commit: every write made in
 * one turn of the event loop, by any caller, shares one transaction, and a
 * write's promise resolves only once its batch is on disk, so nothing is
 * answered on the strength of a write that could still be lost.
 *
 * How: the first write of a turn opens the batch (`begin immediate`); a
 * setImmediate callback commits it once the turn's callbacks have run. The
 * connection runs with `synchronous = NORMAL`, so the commit only writes the
 * WAL; when the batch holds a write that must be durable, the WAL file is then
 * synced on libuv's thread pool, and its callers are answered after that.
 * That is what `synchronous = FULL` does at each commit, but off the event
 * loop, which keeps serving requests while the disk works; batches committed
 * meanwhile share the next sync.
 *
 * A Kysely transaction becomes a savepoint inside the batch (its rollback
 * undoes its own writes only); while one is open, other callers' statements
 * wait for it, as with Kysely's own SQLite driver. Reads run at once and see
 * the batch's writes (one connection), like any reader of the same
 * connection would; what a caller answers still waits for its own writes.
 */
import fs, { type FileHandle } from 'node:fs/promises';
import type BetterSqlite3 from 'better-sqlite3';
import {
  type CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/** What the driver needs of a database: prepared statements (cached by the caller) and close. */
export interface StatementSource {
  prepare(sql: string): BetterSqlite3.Statement;
  exec(sql: string): void;
  readonly inTransaction: boolean;
  close(): void;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Flushes a file to disk off the event loop (libuv's thread pool). */
type SyncFile = (path: string) => Promise<void>;

/**
 * Syncs the WAL through one handle kept open between syncs: opening and closing the file each
 * time cost more of the event loop than the sync. SQLite keeps the WAL open (and never replaces
 * it) while its connection is, so the handle stays on the file SQLite writes. A failed sync
 * drops the handle; the next one opens the file again.
 */
function walSyncer(): { sync: SyncFile; close: () => Promise<void> } {
  let handle: Promise<FileHandle> | undefined;
  const drop = (open: Promise<FileHandle>) => {
    if (handle === open) handle = undefined;
    return open.then((file) => file.close()).catch(() => undefined);
  };
  return {
    async sync(path) {
      handle ??= fs.open(path, 'r');
      const open = handle;
      try {
        await (await open).sync();
      } catch (error) {
        await drop(open);
        throw error;
      }
    },
    async close() {
      if (handle) await drop(handle);
    },
  };
}

export interface GroupCommitOptions {
  /** The write-ahead log to sync before answering durable writes; none for `:memory:`. */
  walPath: string | undefined;
  syncFile?: SyncFile;
}

class GroupCommitDriver implements Driver {
  readonly #db: StatementSource;
  readonly #walPath: string | undefined;
  readonly #syncFile: SyncFile;
  readonly #closeSync: () => Promise<void>;
  /**
   * The open batch: callers waiting for it to commit, and whether it holds a write that must be
   * on disk before they hear of it. Undefined when no batch is open.
   */
  #batch: { waiters: Waiter[]; durable: boolean } | undefined;
  #flushScheduled = false;
  /** Callers waiting for the WAL sync under way, and for the one after it. */
  #syncing: Promise<void> | undefined;
  #nextSync: Waiter[] = [];
  /** The connection whose Kysely transaction is open, and a promise that settles when it ends. */
  #transaction:
    { owner: Connection; savepoint: string; ended: Promise<void>; end: () => void } | undefined;
  #savepoints = 0;

  constructor(db: StatementSource, options: GroupCommitOptions) {
    this.#db = db;
    this.#walPath = options.walPath;
    const wal = walSyncer();
    this.#syncFile = options.syncFile ?? wal.sync;
    this.#closeSync = wal.close;
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(new Connection(this));
  }

  async releaseConnection(): Promise<void> {}

  /**
   * Another connection's open transaction, if any, to wait for. Callers loop on it and then act
   * in the same synchronous step, so nothing can slip in between.
   */
  blockerOf(connection: Connection): Promise<void> | undefined {
    return this.#transaction && this.#transaction.owner !== connection
      ? this.#transaction.ended
      : undefined;
  }

  isInTransaction(connection: Connection): boolean {
    return this.#transaction?.owner === connection;
  }

  #openBatch(): { waiters: Waiter[]; durable: boolean } {
    if (!this.#batch) {
      this.#db.exec('begin immediate');
      this.#batch = { waiters: [], durable: false };
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return this.#batch;
  }

  /** Resolves once the open batch (with every write made so far) is committed, and synced if it must be. */
  committed(): Promise<void> {
    const batch = this.#openBatch();
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  #flush(): void {
    this.#flushScheduled = false;
    // A transaction spanning turns holds the batch open; its end flushes.
    if (!this.#transaction) this.#commit();
  }

  #commit(): void {
    if (!this.#batch) return;
    const { waiters, durable } = this.#batch;
    this.#batch = undefined;
    try {
      if (this.#db.inTransaction) this.#db.exec('commit');
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('rollback');
      waiters.forEach((waiter) => waiter.reject(error));
      return;
    }
    if (durable && this.#walPath !== undefined) this.#sync(waiters);
    else waiters.forEach((waiter) => waiter.resolve());
  }

  /**
   * Syncs the WAL, then answers `waiters`. One sync at a time; callers arriving meanwhile share
   * the next one, which starts after their commit and so covers it.
   */
  #sync(waiters: Waiter[]): void {
    if (this.#syncing) {
      this.#nextSync.push(...waiters);
      return;
    }
    const path = this.#walPath ?? '';
    this.#syncing = this.#syncFile(path).then(
      () => waiters.forEach((waiter) => waiter.resolve()),
      (error: unknown) => waiters.forEach((waiter) => waiter.reject(error)),
    );
    void this.#syncing.then(() => {
      this.#syncing = undefined;
      const next = this.#nextSync;
      this.#nextSync = [];
      if (next.length > 0) this.#sync(next);
    });
  }

  /** After a failed statement: SQLite may have rolled the whole batch back (disk full, I/O error). */
  checkBatch(error: unknown): void {
    if (this.#batch && !this.#db.inTransaction) {
      const { waiters } = this.#batch;
      this.#batch = undefined;
      waiters.forEach((waiter) => waiter.reject(error));
    }
  }

  run(sql: string, parameters: readonly unknown[]): QueryResult<unknown> & { wrote: boolean } {
    const statement = this.#db.prepare(sql);
    const wrote = !statement.readonly;
    if (wrote) {
      const batch = this.#openBatch();
      if (!isBookkeeping(sql)) batch.durable = true;
    }
    try {
      if (statement.reader) return { rows: statement.all(...(parameters as unknown[])), wrote };
      const { changes, lastInsertRowid } = statement.run(...(parameters as unknown[]));
      return {
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
        wrote,
      };
    } catch (error) {
      this.checkBatch(error);
      throw error;
    }
  }

  *iterate(sql: string, parameters: readonly unknown[]): Generator<unknown> {
    yield* this.#db.prepare(sql).iterate(...(parameters as unknown[]));
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const owner = connection as Connection;
    for (let blocker = this.blockerOf(owner); blocker; blocker = this.blockerOf(owner))
      await blocker;
    let end = () => {};
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    this.#savepoints += 1;
    const savepoint = `kysely_tx_${this.#savepoints}`;
    this.#openBatch();
    this.#db.exec(`savepoint ${savepoint}`);
    this.#transaction = { owner, savepoint, ended, end };
  }

  #endTransaction(): void {
    const transaction = this.#transaction;
    this.#transaction = undefined;
    transaction?.end();
    if (this.#batch && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  async commitTransaction(): Promise<void> {
    const name = this.#transaction?.savepoint;
    try {
      if (name) this.#db.exec(`release ${name}`);
    } finally {
      this.#endTransaction();
    }
    await this.committed();
  }

  rollbackTransaction(): Promise<void> {
    const name = this.#transaction?.savepoint;
    try {
      if (name && this.#db.inTransaction) this.#db.exec(`rollback to ${name}; release ${name}`);
    } finally {
      this.#endTransaction();
    }
    return Promise.resolve();
  }

  // Savepoints inside a transaction (Kysely's `trx.savepoint()`): nested in the transaction's own.
  savepoint(_connection: DatabaseConnection, name: string): Promise<void> {
    this.#db.exec(`savepoint ${quoteName(name)}`);
    return Promise.resolve();
  }

  rollbackToSavepoint(_connection: DatabaseConnection, name: string): Promise<void> {
    this.#db.exec(`rollback to ${quoteName(name)}`);
    return Promise.resolve();
  }

  releaseSavepoint(_connection: DatabaseConnection, name: string): Promise<void> {
    this.#db.exec(`release ${quoteName(name)}`);
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    while (this.#transaction) await this.#transaction.ended;
    this.#flush();
    while (this.#syncing) await this.#syncing;
    await this.#closeSync();
    this.#db.close();
  }
}

/**
 * The worker's own bookkeeping, alone in a batch, is answered without waiting for the disk:
 * claims and leases, outcomes of webhooks, activity lines. A power cut can lose only the last of
 * them, never out of order (the WAL is replayed up to the first missing frame, and the next
 * sync covers everything before it), and what it loses comes back as a webhook run again.
 * Stored webhooks, users, tags, passwords, sessions and mail always wait for the disk.
 */
const quoteName = (name: string) => `"${name.replaceAll('"', '""')}"`;

const BOOKKEEPING =
  /^\s*(update "webhook_events"|(insert into|update|delete from) "contact_leases"|insert into "activity_log")\s/i;

function isBookkeeping(sql: string): boolean {
  return BOOKKEEPING.test(sql);
}

class Connection implements DatabaseConnection {
  readonly #driver: GroupCommitDriver;

  constructor(driver: GroupCommitDriver) {
    this.#driver = driver;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    for (
      let blocker = this.#driver.blockerOf(this);
      blocker;
      blocker = this.#driver.blockerOf(this)
    )
      await blocker;
    const { wrote, ...result } = this.#driver.run(compiledQuery.sql, compiledQuery.parameters);
    // Inside a transaction its commit waits for the disk; alone, a write waits for its batch.
    if (wrote && !this.#driver.isInTransaction(this)) await this.#driver.committed();
    return result as QueryResult<R>;
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    for (
      let blocker = this.#driver.blockerOf(this);
      blocker;
      blocker = this.#driver.blockerOf(this)
    )
      await blocker;
    for (const row of this.#driver.iterate(compiledQuery.sql, compiledQuery.parameters))
      yield { rows: [row as R] };
  }
}

export class GroupCommitSqliteDialect implements Dialect {
  readonly #db: StatementSource;
  readonly #options: GroupCommitOptions;

  constructor(db: StatementSource, options: GroupCommitOptions) {
    this.#db = db;
    this.#options = options;
  }

  createDriver(): Driver {
    return new GroupCommitDriver(this.#db, this.#options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
