import type { Kysely } from 'kysely';

/**
 * Access keys are checked against a keyed digest and kept sealed: `secret`
 * holds the sealed key from now on (rows from before are sealed when a
 * process that has the sealing key first opens the database).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('access_keys').addColumn('secret_hash', 'text').execute();
}
