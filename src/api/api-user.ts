/** How every API answer shows a user: one shape, built in one place, never with the password hash. */
import type { Kysely } from 'kysely';
import { listMetaOfUsers, listTagsOfUsers, type UserTag } from '../directory/user.repository.js';
import type { DB, UserRow } from '../storage/schema.js';
import type { ApiTag, ApiUser } from './schemas.js';

export function toApiTag(tag: UserTag): ApiTag {
  return { connection: tag.connectionId, id: tag.id, label: tag.label };
}

function toApiUser(
  row: UserRow,
  tags: readonly UserTag[],
  meta: Readonly<Record<string, string>>,
): ApiUser {
  return {
    id: row.id,
    login: row.login,
    email: row.email,
    first_name: row.first_name,
    last_name: row.last_name,
    display_name: row.display_name,
    role: row.role,
    tags: tags.map(toApiTag),
    meta: { ...meta },
    password_change_required: row.password_generated === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Shows a page of users with two queries in all (tags, meta), whatever its size. */
export async function loadApiUsers(db: Kysely<DB>, rows: readonly UserRow[]): Promise<ApiUser[]> {
  const ids = rows.map((row) => row.id);
  const [tags, meta] = await Promise.all([listTagsOfUsers(db, ids), listMetaOfUsers(db, ids)]);
  return rows.map((row) => toApiUser(row, tags.get(row.id) ?? [], meta.get(row.id) ?? {}));
}

export async function loadApiUser(db: Kysely<DB>, row: UserRow): Promise<ApiUser> {
  const [user] = await loadApiUsers(db, [row]);
  if (!user) throw new Error('unreachable: one row in, one user out');
  return user;
}
