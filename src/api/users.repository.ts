/**
 * The user directory as the API reads it: filtered pages of users (their tags
 * and meta come from the directory's batch lookups).
 */
import { holdsTag } from '../directory/user.repository.js';
import type { Db, UserRow } from '../storage/schema.js';

export interface UserPageFilter {
  /** Exact, case-insensitive. */
  email?: string | undefined;
  /** A tag id or label, exact. */
  tag?: string | undefined;
  /** Narrows `tag` to one connection. */
  connection?: string | undefined;
  /** Keyset cursor: only ids above it. */
  after?: number | undefined;
  limit: number;
}

/** Users matching the filter, ordered by id. */
export async function listUserPage(db: Db, filter: UserPageFilter): Promise<UserRow[]> {
  let query = db.selectFrom('users').selectAll('users').orderBy('users.id').limit(filter.limit);
  if (filter.after !== undefined) query = query.where('users.id', '>', filter.after);
  if (filter.email !== undefined)
    query = query.where('users.email_lower', '=', filter.email.trim().toLowerCase());
  const { tag, connection } = filter;
  if (tag !== undefined) query = query.where((eb) => holdsTag(eb, tag, connection));
  return query.execute();
}
