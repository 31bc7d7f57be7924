/**
 * The CRM rate limit shared by every process on one PostgreSQL: N processes
 * together stay within the CRM's limit, not N times it.
 *
 * A connection allowed `requests` calls per `windowMs` has that many slot rows
 * (`crm_call_slots`). A call takes a free slot in one statement (`FOR UPDATE
 * SKIP LOCKED`: two processes never take the same one) and, once it finished,
 * keeps it until one window later — the same rule as the in-process limiter,
 * so the CRM never counts more than `requests` calls in any window. Times are
 * the database's, so the processes' clocks need not agree. A process that
 * dies during a call leaves its slot taken for `HOLD_MS` at most.
 *
 * The in-process limiter still runs first: it keeps this process's callers in
 * order and keeps them from asking the database while no slot can be free.
 */
import { sql, type Kysely } from 'kysely';
import type { RateLimit } from '../connectors/types.js';
import type { DB } from '../storage/schema.js';
import type { RateLimiter } from './rate-limiter.js';

/** How long a slot stays taken when its caller never says the call ended (it died). */
const HOLD_MS = 120_000;
const nowMs = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export function createSharedRateLimiter(
  db: Kysely<DB>,
  connectionId: string,
  limit: RateLimit,
  local: RateLimiter,
): RateLimiter {
  let slotsMade: Promise<void> | undefined;
  const makeSlots = () =>
    (slotsMade ??= sql`insert into crm_call_slots (connection_id, slot, free_at)
        select ${connectionId}, n, 0 from generate_series(1, ${limit.requests}) as n
        on conflict do nothing`
      .execute(db)
      .then(
        () => undefined,
        (error: unknown) => {
          slotsMade = undefined;
          throw error;
        },
      ));

  async function takeSlot(): Promise<number> {
    for (;;) {
      const taken = await sql<{ slot: number }>`
        update crm_call_slots set free_at = ${nowMs} + ${limit.windowMs + HOLD_MS}
        where connection_id = ${connectionId} and slot = (
          select slot from crm_call_slots
          where connection_id = ${connectionId} and slot <= ${limit.requests} and free_at <= ${nowMs}
          order by free_at limit 1
          for update skip locked)
        returning slot`.execute(db);
      const slot = taken.rows[0]?.slot;
      if (slot !== undefined) return slot;
      // Every slot is taken: wait until the first one frees (another process may release sooner).
      const next = await sql<{ wait: string | null }>`
        select min(free_at) - ${nowMs} as wait from crm_call_slots
        where connection_id = ${connectionId} and slot <= ${limit.requests}`.execute(db);
      const waitMs = Math.min(1_000, Math.max(5, Number(next.rows[0]?.wait ?? 50)));
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  return {
    // This process's share of the window, as its own limiter counts it.
    used: () => local.used(),
    async acquire() {
      const releaseLocal = await local.acquire();
      let slot: number;
      try {
        await makeSlots();
        slot = await takeSlot();
      } catch (error) {
        releaseLocal();
        throw error;
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        releaseLocal();
        sql`update crm_call_slots set free_at = ${nowMs} + ${limit.windowMs}
            where connection_id = ${connectionId} and slot = ${slot}`
          .execute(db)
          // Unreleased, the slot frees itself after HOLD_MS: later calls wait longer, none is lost.
          .catch(() => undefined);
      };
    },
  };
}
