/**
 * The key that signs the account pages' cookies. Kept in the database's
 * settings table (not a user setting: the CLI does not list it), so every
 * process sharing the database signs alike, on one host or several.
 * Created by whichever process needs it first; a race is settled by the
 * insert that is kept.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../storage/schema.js';

const KEY = 'cookie_secret';

export async function loadCookieSecret(db: Kysely<DB>, now: Date): Promise<string> {
  await db
    .insertInto('settings')
    .values({ key: KEY, value: randomBytes(32).toString('base64url'), updated_at: now.toISOString() })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('settings').select('value').where('key', '=', KEY).executeTakeFirstOrThrow();
  return row.value;
}
