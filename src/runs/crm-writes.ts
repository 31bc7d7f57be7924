/**
 * Sends a contact's due CRM write-backs (the outbox), under its lease. A
 * write that fails transiently is tried again later with the retry rules of
 * webhooks (its contact stays due until then); one that cannot succeed, or
 * ran out of attempts, is given up. Writing the same value twice is
 * harmless, so a write that landed just before a crash may land again.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import { toAppError } from '../errors.js';
import { dueCrmWrites, finishCrmWrite, retryCrmWrite } from '../inbox/crm-writes.repository.js';
import type { DueContact } from '../inbox/inbox.repository.js';
import { calculateDelay } from '../lib/backoff.js';
import type { Sealer } from '../lib/seal.js';
import type { Settings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';

export interface CrmWritesDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Settings;
  readonly sealer: Sealer;
  readonly random?: (() => number) | undefined;
  /** Aborted when the run lost its lease: a write under way ends with it. */
  readonly signal?: AbortSignal | undefined;
}

/** written: every due write landed; retrying: one will be tried again; failed: one was given up. */
export type CrmWritesOutcome = 'written' | 'retrying' | 'failed';

export interface SentCrmWrites {
  /** Undefined when nothing was due. */
  outcome: CrmWritesOutcome | undefined;
  notices: string[];
  /** Notices of writes that failed (for warning lines). */
  problems: string[];
}

/** Sends the due writes of a contact; `connection` is resolved only when one is due. */
export async function sendCrmWrites(
  deps: CrmWritesDeps,
  contact: DueContact,
  connection: () => Promise<Connection>,
): Promise<SentCrmWrites> {
  const iso = (offsetMs = 0) => new Date(deps.clock.now().getTime() + offsetMs).toISOString();
  const due = await dueCrmWrites(deps.db, contact, iso());
  const notices: string[] = [];
  const problems: string[] = [];
  let outcome: CrmWritesOutcome | undefined;
  const worse = (next: CrmWritesOutcome) => {
    const rank = { written: 0, retrying: 1, failed: 2 } as const;
    if (outcome === undefined || rank[next] > rank[outcome]) outcome = next;
  };
  const policy = {
    maxAttempts: deps.settings.retry_max_attempts,
    baseDelayMs: deps.settings.retry_base_delay_ms,
    maxDelayMs: 30 * 60_000,
  };
  for (const write of due) {
    const what = write.kind === 'return_password' ? 'generated password' : write.kind;
    const attempt = write.attempts + 1;
    try {
      // The sealed value holds every field of the write (the password and what goes with it).
      const fields = JSON.parse(deps.sealer.open(write.value)) as Record<string, string>;
      const others = Object.keys(fields).filter((name) => name !== write.field);
      const { connector } = await connection();
      await connector.updateContact(contact.contactId, fields, { signal: deps.signal });
      await finishCrmWrite(deps.db, write.id, { status: 'done' }, iso());
      notices.push(
        `${what[0]?.toUpperCase() ?? ''}${what.slice(1)} written to CRM field ${write.field}${others.length ? `, with the login, id and registration date to ${others.join(', ')}` : ''}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
      );
      worse('written');
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.code === 'LEASE_LOST') throw thrown;
      if (error.retryable && attempt < policy.maxAttempts) {
        const delay = calculateDelay(attempt, policy, deps.random, error.retryAfterMs);
        await retryCrmWrite(deps.db, write.id, iso(delay), error.code, error.message);
        problems.push(
          `Could not write the ${what} to CRM field ${write.field} (attempt ${attempt} of ${policy.maxAttempts}): ${error.message}; retrying in ${Math.max(1, Math.round(delay / 1000))} s`,
        );
        worse('retrying');
      } else {
        await finishCrmWrite(
          deps.db,
          write.id,
          { status: 'failed', errorCode: error.code, errorMessage: error.message },
          iso(),
        );
        problems.push(
          `Could not write the ${what} to CRM field ${write.field}: ${error.message}; gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}`,
        );
        worse('failed');
      }
    }
  }
  return { outcome, notices, problems };
}
