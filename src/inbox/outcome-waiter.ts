/** Waiting for a stored event to reach a final status: woken by a local notifier, else polling. */
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

/** Waits up to `timeoutMs` for an event to reach a final status; undefined when it did not. */
export async function waitForOutcome(
  db: Kysely<DB>,
  notifier: OutcomeNotifier | undefined,
  id: number,
  timeoutMs: number,
): Promise<WebhookEventRow | undefined> {
  const deadline = Date.now() + timeoutMs;
  const isFinal = (row: WebhookEventRow | undefined) =>
    row !== undefined && FINAL_STATUSES.includes(row.status);
  // Listening from before the first read: a notice that comes between a read and the sleep
  // after it is kept by the nap, not lost for a whole poll period.
  const nap = createNap();
  const unsubscribe = notifier?.onFinished((ids) => {
    if (ids.includes(id)) nap.wake();
  });
  try {
    for (;;) {
      // The webhook is stored: storage failing now must not turn its answer into an error (the
      // CRM would send it again). The wait goes on, and ends in "accepted" if storage stays away.
      const row = await findEvent(db, id).catch(() => undefined);
      if (isFinal(row)) return row;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      // Woken at once by the local worker, or by any worker through shared notifications
      // (LISTEN/NOTIFY on PostgreSQL); polling covers what no notice reports.
      await nap.sleep(Math.min(left, notifier ? 1_000 : 200));
    }
  } finally {
    unsubscribe?.();
  }
}
