/**
 * Migrations as an ordered list in code, run the same way on both dialects.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import { errorCodeOf } from '../../errors.js';
import type { DialectName } from '../database.js';
import type { DB } from '../schema.js';
import * as init from './0001-init.js';
import * as accounts from './0002-accounts.js';
import * as sealedSecrets from './0003-sealed-secrets.js';
import * as importJobs from './0005-import-jobs.js';
import * as inboxClaims from './0006-inbox-claims.js';
import * as crmCallSlots from './0007-crm-call-slots.js';
import * as crmCallSlotsFreeAt from './0008-crm-call-slots-free-at.js';
import * as eventsByContactDue from './0009-events-by-contact-due.js';

interface DialectMigration {
  up(db: Kysely<unknown>, dialect: DialectName): Promise<void>;
}

export const MIGRATIONS: ReadonlyArray<readonly [string, DialectMigration]> = [
  ['0001-init', init],
  ['0002-accounts', accounts],
  ['0003-sealed-secrets', sealedSecrets],
  ['0005-import-jobs', importJobs],
  ['0006-inbox-claims', inboxClaims],
  ['0007-crm-call-slots', crmCallSlots],
  ['0008-crm-call-slots-free-at', crmCallSlotsFreeAt],
  ['0009-events-by-contact-due', eventsByContactDue],
];

/** Brings the schema up to date; returns the names of migrations applied now. */
export async function migrateToLatest(db: Kysely<DB>, dialect: DialectName): Promise<string[]> {
  // Kysely looks for its migration tables in every schema it can see; without naming ours, another
  // schema's tables in the same PostgreSQL database are taken for ours and the migration fails.
  const migrationTableSchema =
    dialect === 'postgres'
      ? ((await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db))
          .rows[0]?.schema ?? undefined)
      : undefined;
  const migrator = new Migrator({
    db,
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
    provider: {
      getMigrations: () =>
        Promise.resolve(
          Object.fromEntries(
            MIGRATIONS.map(([name, migration]): [string, Migration] => [
              name,
              { up: (migrationDb) => migration.up(migrationDb, dialect) },
            ]),
          ),
        ),
    },
  });
  for (let attempt = 1; ; attempt += 1) {
    const outcome: MigrationResultSet = await migrator.migrateToLatest();
    if (!outcome.error)
      return (outcome.results ?? [])
        .filter((r) => r.status === 'Success')
        .map((r) => r.migrationName);
    // Kysely looks for its tables by listing every schema's tables and columns; a schema another
    // client drops during that scan fails it (invalid schema, table or column name). A failed scan
    // migrated nothing, and a real migration error fails the same way each time: look again.
    if (!(isDroppedSchemaError(outcome.error) && attempt < 5)) {
      throw outcome.error instanceof Error
        ? outcome.error
        : new Error('migration failed', { cause: outcome.error });
    }
  }
}

/** Names of the migrations this code expects that the database has not applied; throws when it cannot tell. */
export async function pendingMigrations(db: Kysely<DB>): Promise<string[]> {
  const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  const names = new Set(applied.rows.map((row) => row.name));
  return MIGRATIONS.map(([name]) => name).filter((name) => !names.has(name));
}

const VANISHED_OBJECT_CODES = new Set(['3F000', '42P01', '42703']);

function isDroppedSchemaError(error: unknown): boolean {
  return VANISHED_OBJECT_CODES.has(errorCodeOf(error));
}
