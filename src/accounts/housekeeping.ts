/** Removes rows nobody needs any more: ended rate-limit windows, old links, expired sessions. */
import type { Kysely } from 'kysely';
import type { DB } from '../storage/schema.js';
import { prunePasswordTokens } from './password-tokens.repository.js';
import { pruneLimits } from './rate-limits.js';
import { pruneSessions } from './sessions.repository.js';

export async function pruneAccounts(db: Kysely<DB>, now: Date): Promise<void> {
  await pruneLimits(db, now);
  await prunePasswordTokens(db, now);
  await pruneSessions(db, now);
}
