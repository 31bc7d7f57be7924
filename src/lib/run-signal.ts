/**
 * The abort signal of the run under way, carried through async calls: a run
 * that lost its lease is aborted, and the CRM calls it makes stop with it,
 * without every connector passing a signal along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` with `signal` as the run's signal. */
export function withRunSignal<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  return current.run(signal, work);
}

/** The signal of the run this call belongs to, if any. */
export function runSignal(): AbortSignal | undefined {
  return current.getStore();
}
