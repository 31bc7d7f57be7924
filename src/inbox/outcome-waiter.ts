/** Waiting for a stored event to reach a final status: woken by a local notifier, else polling. */
import type { Kysely } from 'kysely';
import type { DB, EventStatus, WebhookEventRow } from '../storage/schema.js';
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
  for (;;) {
    const row = await findEvent(db, id);
    if (isFinal(row)) return row;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    // Woken at once by the local worker; polling covers workers in other processes.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), Math.min(left, notifier ? 1_000 : 200));
      const unsubscribe = notifier?.onFinished((ids) => {
        if (ids.includes(id)) done();
      });
      function done() {
        clearTimeout(timer);
        unsubscribe?.();
        resolve();
      }
    });
  }
}
