/**
 * A Kysely dialect for better-sqlite3 with group commit: every write made in
 * one turn of the event loop, by any caller, shares one transaction and so
 * one fsync (`synchronous = FULL` makes each commit wait for the disk, about
 * as long as a whole webhook's work otherwise takes). A write's promise
 * resolves only once its batch is committed, so nothing is answered on the
 * strength of a write that is not on disk.
 *
 * How: the first write of a turn opens the batch (`begin immediate`); a
 * setImmediate callback commits it once the turn's callbacks have run.
 * A Kysely transaction becomes a savepoint inside the batch (its rollback
 * undoes its own writes only); while one is open, other callers' statements
 * wait for it, as with Kysely's own SQLite driver. Reads run at once and see
 * the batch's writes (one connection), like any reader of the same
 * connection would; what a caller answers still waits for its own writes.
 */
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

class GroupCommitDriver implements Driver {
  readonly #db: StatementSource;
  /**
   * The open batch: callers waiting for it to commit, and whether its commit must reach the disk
   * before they hear of it. Undefined when no batch is open.
   */
  #batch: { waiters: Waiter[]; durable: boolean } | undefined;
  /** The `synchronous` level set on the connection. */
  #synchronous: 'FULL' | 'NORMAL' = 'FULL';
  #flushScheduled = false;
  /** The connection whose Kysely transaction is open, and a promise that settles when it ends. */
  #transaction:
    { owner: Connection; savepoint: string; ended: Promise<void>; end: () => void } | undefined;
  #savepoints = 0;

  constructor(db: StatementSource) {
    this.#db = db;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new Connection(this);
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

  #openBatch(durable: boolean): { waiters: Waiter[]; durable: boolean } {
    // A write that must be durable never joins a batch committed without waiting for the disk:
    // that batch is committed now (no fsync, so at once) and a durable one begins.
    if (this.#batch && durable && !this.#batch.durable && !this.#transaction) this.#commit();
    if (!this.#batch) {
      const level = durable ? 'FULL' : 'NORMAL';
      if (this.#synchronous !== level) {
        this.#db.exec(`pragma synchronous = ${level}`);
        this.#synchronous = level;
      }
      this.#db.exec('begin immediate');
      this.#batch = { waiters: [], durable };
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return this.#batch;
  }

  /** Resolves once the open batch (with every write made so far) is committed. */
  committed(): Promise<void> {
    const batch = this.#batch ?? this.#openBatch(true);
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  #flush(): void {
    this.#flushScheduled = false;
    // A transaction spanning turns holds the batch open; its end flushes.
    if (!this.#transaction) this.#commit();
  }

  #commit(): void {
    if (!this.#batch) return;
    const { waiters } = this.#batch;
    this.#batch = undefined;
    try {
      if (this.#db.inTransaction) this.#db.exec('commit');
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('rollback');
      waiters.forEach((waiter) => waiter.reject(error));
      return;
    }
    waiters.forEach((waiter) => waiter.resolve());
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
    if (wrote) this.#openBatch(this.#transaction !== undefined || !isBookkeeping(sql));
    try {
      if (statement.reader)
        return { rows: statement.all(...(parameters as unknown[])) as unknown[], wrote };
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
    this.#openBatch(true);
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

  async rollbackTransaction(): Promise<void> {
    const name = this.#transaction?.savepoint;
    try {
      if (name && this.#db.inTransaction) this.#db.exec(`rollback to ${name}; release ${name}`);
    } finally {
      this.#endTransaction();
    }
  }

  async destroy(): Promise<void> {
    while (this.#transaction) await this.#transaction.ended;
    this.#flush();
    this.#db.close();
  }
}

/**
 * The worker's own bookkeeping, alone in a batch, is committed without waiting for the disk
 * (`synchronous = NORMAL`): claims and leases, outcomes of webhooks, activity lines. A power cut
 * can lose only the last of them, never out of order (the WAL is replayed up to the first
 * missing frame, and the next durable commit syncs everything before it), and what it loses
 * comes back as a webhook run again: stored webhooks themselves, users, tags, passwords,
 * sessions and mail are always written durably.
 */
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

  constructor(db: StatementSource) {
    this.#db = db;
  }

  createDriver(): Driver {
    return new GroupCommitDriver(this.#db);
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
