/** Waiting for a stored event to reach a final status: woken by a notifier, else polling. */
import type { Kysely } from 'kysely';
import type { DB, EventStatus, WebhookEventRow } from '../storage/schema.js';
import { createNap } from '../clock.js';
import { findEvent } from './inbox.repository.js';

const FINAL_STATUSES: readonly EventStatus[] = ['done', 'skipped', 'failed', 'rejected'];

/** Tells when events reached a final or retry state (the in-process worker is one). */
export interface OutcomeNotifier {
  /** Calls `listener` with the ids of events that finished; returns the unsubscribe. */
  onFinished(listener: (ids: readonly number[]) => void): () => void;
}

export interface OutcomeWatch {
  /** Waits up to `timeoutMs` for event `id` to reach a final status; undefined when it did not. */
  wait(id: number, timeoutMs: number): Promise<WebhookEventRow | undefined>;
  /** Stops listening (when the event could not be stored); `wait` does it itself. */
  stop(): void;
}

/**
 * Starts listening before the event is stored, so that no notice can come between storing it
 * and waiting for it. The first read then waits for a notice (or the poll): a read right after
 * storing would find the event pending, as it nearly always is.
 */
export function watchOutcome(db: Kysely<DB>, notifier: OutcomeNotifier | undefined): OutcomeWatch {
  const nap = createNap();
  let target: number | undefined;
  /** Events that finished before `wait` named the one it waits for (a store takes a few ms). */
  let early: Set<number> | undefined = new Set();
  const unsubscribe = notifier?.onFinished((ids) => {
    if (target === undefined) for (const id of ids) early?.add(id);
    else if (ids.includes(target)) nap.wake();
  });
  const stop = () => {
    early = undefined;
    unsubscribe?.();
  };

  return {
    stop,
    async wait(id, timeoutMs) {
      target = id;
      const finishedEarly = early?.has(id) ?? false;
      early = undefined;
      const deadline = Date.now() + timeoutMs;
      const isFinal = (row: WebhookEventRow | undefined) =>
        row !== undefined && FINAL_STATUSES.includes(row.status);
      // Woken at once by the local worker, or by any worker through shared notifications
      // (LISTEN/NOTIFY on PostgreSQL); polling covers what no notice reports.
      const pollMs = notifier ? 1_000 : 200;
      try {
        if (notifier && !finishedEarly) await nap.sleep(Math.min(timeoutMs, pollMs));
        for (;;) {
          // The webhook is stored: storage failing now must not turn its answer into an error
          // (the CRM would send it again). The wait goes on, and ends in "accepted" if storage
          // stays away.
          const row = await findEvent(db, id).catch(() => undefined);
          if (isFinal(row)) return row;
          const left = deadline - Date.now();
          if (left <= 0) return undefined;
          await nap.sleep(Math.min(left, pollMs));
        }
      } finally {
        stop();
      }
    },
  };
}
