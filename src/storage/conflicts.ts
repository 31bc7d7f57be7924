/**
 * A PostgreSQL deadlock (40P01) or serialization failure (40001) says nothing
 * about the work: the database chose one transaction to abort so another could
 * finish. The aborted one simply runs again, at once, without counting as a
 * failed attempt.
 */
import { isTransactionConflict } from '../errors.js';

/** Runs `work`, again at once when it failed on a deadlock or serialization failure (up to `tries` runs). */
export async function retryOnConflict<T>(work: () => Promise<T>, tries = 5): Promise<T> {
  for (let run = 1; ; run += 1) {
    try {
      return await work();
    } catch (error) {
      if (!isTransactionConflict(error) || run >= tries) throw error;
    }
  }
}
