import type { Kysely } from 'kysely';

/**
 * Leases carry a generation, raised each time a worker takes one: a run
 * checks it inside its write transaction, so a worker that lost its lease
 * (a pause, a slow network) writes nothing. Lease rows are kept when
 * released, so a generation never repeats.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('contact_leases')
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
