/**
 * The user directory as the API reads it: filtered pages of users (their tags
 * and meta come from the directory's batch lookups).
 */
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
  if (tag !== undefined) {
    // EXISTS rather than a join: a user holding the tag in two connections is still one row.
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('user_tags')
          .leftJoin('tags', (join) =>
            join
              .onRef('tags.connection_id', '=', 'user_tags.connection_id')
              .onRef('tags.tag_id', '=', 'user_tags.tag_id'),
          )
          .select('user_tags.user_id')
          .whereRef('user_tags.user_id', '=', 'users.id')
          .where((inner) =>
            inner.or([inner('user_tags.tag_id', '=', tag), inner('tags.label', '=', tag)]),
          )
          .$if(connection !== undefined, (qb) =>
            qb.where('user_tags.connection_id', '=', connection ?? ''),
          ),
      ),
    );
  }
  return query.execute();
}
