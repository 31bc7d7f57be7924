/**
 * The user directory as the API reads it: filtered pages of users, and the
 * tags and meta of a whole page in one query each.
 */
import type { Kysely } from 'kysely';
import type { UserTag } from '../directory/user.repository.js';
import type { DB, UserRow } from '../storage/schema.js';

type Db = Kysely<DB>;

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
  if (filter.email !== undefined) query = query.where('users.email_lower', '=', filter.email.trim().toLowerCase());
  const { tag, connection } = filter;
  if (tag !== undefined) {
    // EXISTS rather than a join: a user holding the tag in two connections is still one row.
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('user_tags')
          .leftJoin('tags', (join) =>
            join.onRef('tags.connection_id', '=', 'user_tags.connection_id').onRef('tags.tag_id', '=', 'user_tags.tag_id'),
          )
          .select('user_tags.user_id')
          .whereRef('user_tags.user_id', '=', 'users.id')
          .where((inner) => inner.or([inner('user_tags.tag_id', '=', tag), inner('tags.label', '=', tag)]))
          .$if(connection !== undefined, (qb) => qb.where('user_tags.connection_id', '=', connection ?? '')),
      ),
    );
  }
  return query.execute();
}

/** The tags of each of `userIds`, labelled like listUserTags does. */
export async function listTagsOfUsers(db: Db, userIds: readonly number[]): Promise<Map<number, UserTag[]>> {
  const result = new Map<number, UserTag[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom('user_tags')
    .leftJoin('tags', (join) =>
      join.onRef('tags.connection_id', '=', 'user_tags.connection_id').onRef('tags.tag_id', '=', 'user_tags.tag_id'),
    )
    .select(['user_tags.user_id', 'user_tags.connection_id', 'user_tags.tag_id', 'tags.label'])
    .where('user_tags.user_id', 'in', [...userIds])
    .orderBy('user_tags.user_id')
    .orderBy('user_tags.connection_id')
    .orderBy('user_tags.tag_id')
    .execute();
  for (const row of rows) {
    result.get(row.user_id)?.push({ connectionId: row.connection_id, id: row.tag_id, label: row.label ?? row.tag_id });
  }
  return result;
}

/** The meta of each of `userIds`. */
export async function listMetaOfUsers(db: Db, userIds: readonly number[]): Promise<Map<number, Record<string, string>>> {
  const entries = new Map<number, Array<[string, string]>>(userIds.map((id) => [id, []]));
  if (userIds.length > 0) {
    const rows = await db
      .selectFrom('user_meta')
      .select(['user_id', 'meta_key', 'meta_value'])
      .where('user_id', 'in', [...userIds])
      .orderBy('user_id')
      .orderBy('meta_key')
      .execute();
    for (const row of rows) entries.get(row.user_id)?.push([row.meta_key, row.meta_value]);
  }
  // fromEntries, not assignment: a meta key such as "__proto__" must stay an ordinary key.
  return new Map([...entries].map(([id, pairs]) => [id, Object.fromEntries(pairs)]));
}
