/** The transactions of an import: batches of steps, each under its own savepoint. */
import type { Kysely } from 'kysely';
import type { DB } from '../../storage/schema.js';

/** Users written per transaction: a commit per user would spend most of the time waiting for the disk. */
const USERS_PER_COMMIT = 100;

/**
 * Runs the import's steps inside a transaction, each under its own savepoint,
 * so a step that fails is undone alone. `checkpoint` commits every
 * USERS_PER_COMMIT steps (an interrupted import loses at most that many, and
 * running it again redoes them); a dry run never commits and rolls back at the end.
 */
export interface Steps {
  run<T>(work: (db: Kysely<DB>) => Promise<T>): Promise<T>;
  checkpoint(): Promise<void>;
  finish(): Promise<void>;
  abandon(): Promise<void>;
}

export async function openSteps(db: Kysely<DB>, dryRun: boolean): Promise<Steps> {
  let trx = await db.startTransaction().execute();
  let count = 0;
  let sinceCommit = 0;
  return {
    async run(work) {
      const name = `import_step_${(count += 1)}`;
      const step = await trx.savepoint(name).execute();
      try {
        const result = await work(step);
        await step.releaseSavepoint(name as never).execute();
        sinceCommit += 1;
        return result;
      } catch (error) {
        await step.rollbackToSavepoint(name as never).execute();
        throw error;
      }
    },
    async checkpoint() {
      if (dryRun || sinceCommit < USERS_PER_COMMIT) return;
      await trx.commit().execute();
      trx = await db.startTransaction().execute();
      sinceCommit = 0;
    },
    finish: () => (dryRun ? trx.rollback().execute() : trx.commit().execute()),
    abandon: () => trx.rollback().execute(),
  };
}
