/**
 * The user directory's storage: users, meta, tags and contact links.
 * Every function takes the database (or a transaction) first.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { DB, Db, NewUserRow, UserRow, UserUpdate } from '../storage/schema.js';
import { chunked } from '../lib/chunks.js';
import { preparedQuery } from '../storage/prepared-query.js';

export function findUserById(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findUserByLogin(db: Db, login: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('login', '=', login).executeTakeFirst();
}

export function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('email_lower', '=', email.trim().toLowerCase())
    .executeTakeFirst();
}

const userByContact = preparedQuery((db, values: { connectionId: string; contactId: string }) =>
  db
    .selectFrom('contact_links')
    .innerJoin('users', 'users.id', 'contact_links.user_id')
    .selectAll('users')
    .where('contact_links.connection_id', '=', values.connectionId)
    .where('contact_links.contact_id', '=', values.contactId),
);

export async function findUserByContact(
  db: Db,
  connectionId: string,
  contactId: string,
): Promise<UserRow | undefined> {
  return (await userByContact(db, { connectionId, contactId })).rows[0];
}

/** Finds a user by id (digits), e-mail (has @) or login. */
export async function findUserByReference(db: Db, reference: string): Promise<UserRow | undefined> {
  if (/^\d+$/.test(reference)) {
    const byId = await findUserById(db, Number(reference));
    if (byId) return byId;
  }
  if (reference.includes('@')) {
    const byEmail = await findUserByEmail(db, reference);
    if (byEmail) return byEmail;
  }
  return findUserByLogin(db, reference);
}

export async function loginExists(db: Db, login: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where('login', '=', login)
    .executeTakeFirst();
  return row !== undefined;
}

export async function insertUser(db: Db, user: NewUserRow): Promise<UserRow> {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow();
}

export async function updateUser(db: Db, id: number, changes: UserUpdate): Promise<void> {
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

/**
 * Replaces the stored hash of the same password (a stronger format), only if
 * it is still `oldHash`: a password changed meanwhile is left as it is.
 */
export async function replacePasswordHash(
  db: Db,
  id: number,
  oldHash: string,
  newHash: string,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: newHash })
    .where('id', '=', id)
    .where('password_hash', '=', oldHash)
    .execute();
}

export async function getUserMeta(db: Db, userId: number): Promise<Record<string, string>> {
  return (await listMetaOfUsers(db, [userId])).get(userId) ?? {};
}

/** The meta of each of `userIds`, in one query. */
export async function listMetaOfUsers(
  db: Db,
  userIds: readonly number[],
): Promise<Map<number, Record<string, string>>> {
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

export async function setUserMeta(
  db: Db,
  userId: number,
  meta: Readonly<Record<string, string>>,
): Promise<void> {
  const entries = Object.entries(meta);
  if (entries.length === 0) return;
  await db
    .insertInto('user_meta')
    .values(entries.map(([key, value]) => ({ user_id: userId, meta_key: key, meta_value: value })))
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'meta_key'])
        .doUpdateSet((eb) => ({ meta_value: eb.ref('excluded.meta_value') })),
    )
    .execute();
}

export async function getUserTagIds(
  db: Db,
  userId: number,
  connectionId: string,
): Promise<string[]> {
  const { rows } = await tagIdsOfUser(db, { userId, connectionId });
  return rows.map((row) => row.tag_id);
}

const tagIdsOfUser = preparedQuery((db, values: { userId: number; connectionId: string }) =>
  db
    .selectFrom('user_tags')
    .select('tag_id')
    .where('user_id', '=', values.userId)
    .where('connection_id', '=', values.connectionId)
    .orderBy('tag_id'),
);

export async function addUserTags(
  db: Db,
  userId: number,
  connectionId: string,
  tagIds: readonly string[],
  at: string,
) {
  for (const chunk of chunked(tagIds)) {
    await db
      .insertInto('user_tags')
      .values(
        chunk.map((tagId) => ({
          user_id: userId,
          connection_id: connectionId,
          tag_id: tagId,
          added_at: at,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

export async function removeUserTags(
  db: Db,
  userId: number,
  connectionId: string,
  tagIds: readonly string[],
) {
  for (const chunk of chunked(tagIds)) {
    await db
      .deleteFrom('user_tags')
      .where('user_id', '=', userId)
      .where('connection_id', '=', connectionId)
      .where('tag_id', 'in', chunk)
      .execute();
  }
}

export interface UserTag {
  connectionId: string;
  id: string;
  label: string;
}

/** All of a user's tags with their labels (the id itself when no label is known). */
export async function listUserTags(db: Db, userId: number): Promise<UserTag[]> {
  return (await listTagsOfUsers(db, [userId])).get(userId) ?? [];
}

/** The tags of each of `userIds`, labelled, in one query; ordered by connection and tag id. */
export async function listTagsOfUsers(
  db: Db,
  userIds: readonly number[],
): Promise<Map<number, UserTag[]>> {
  const result = new Map<number, UserTag[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom('user_tags')
    .leftJoin('tags', (join) =>
      join
        .onRef('tags.connection_id', '=', 'user_tags.connection_id')
        .onRef('tags.tag_id', '=', 'user_tags.tag_id'),
    )
    .select(['user_tags.user_id', 'user_tags.connection_id', 'user_tags.tag_id', 'tags.label'])
    .where('user_tags.user_id', 'in', [...userIds])
    .orderBy('user_tags.user_id')
    .orderBy('user_tags.connection_id')
    .orderBy('user_tags.tag_id')
    .execute();
  for (const row of rows) {
    result
      .get(row.user_id)
      ?.push({ connectionId: row.connection_id, id: row.tag_id, label: row.label ?? row.tag_id });
  }
  return result;
}

export async function linkContact(
  db: Db,
  connectionId: string,
  contactId: string,
  userId: number,
  at: string,
) {
  await db
    .insertInto('contact_links')
    .values({ connection_id: connectionId, contact_id: contactId, user_id: userId, created_at: at })
    .onConflict((oc) =>
      oc.columns(['connection_id', 'contact_id']).doUpdateSet({ user_id: userId }),
    )
    .execute();
}

/** The contact the user is linked to on the connection, if any. */
export async function findLinkedContact(
  db: Db,
  userId: number,
  connectionId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('contact_links')
    .select('contact_id')
    .where('user_id', '=', userId)
    .where('connection_id', '=', connectionId)
    .orderBy('contact_id')
    .executeTakeFirst();
  return row?.contact_id;
}

/**
 * Holds the user's row until the transaction ends (PostgreSQL: a row lock from
 * an update that changes nothing; SQLite runs one transaction at a time), so
 * two runs deciding whether to link the same user decide one after the other.
 */
export async function lockUser(db: Db, userId: number): Promise<void> {
  await db
    .updateTable('users')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', userId)
    .execute();
}

export async function listContactLinks(db: Db, userId: number) {
  return db
    .selectFrom('contact_links')
    .select(['connection_id', 'contact_id', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('connection_id')
    .execute();
}

/**
 * The user holds a tag with this id or label (in `connection`, or any). EXISTS rather than a
 * join: a user holding the tag in two connections is still one row.
 */
export function holdsTag(
  eb: ExpressionBuilder<DB, 'users'>,
  tag: string,
  connection?: string,
): Expression<SqlBool> {
  return eb.exists(
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
  );
}

export interface UserListFilter {
  search?: string | undefined;
  role?: string | undefined;
  /** Users holding a tag with this label or id (any connection). */
  tag?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export async function listUsers(db: Db, filter: UserListFilter = {}): Promise<UserRow[]> {
  let query = db
    .selectFrom('users')
    .selectAll()
    .orderBy('id')
    .limit(filter.limit ?? 100)
    .offset(filter.offset ?? 0);
  if (filter.role) query = query.where('role', '=', filter.role);
  const tag = filter.tag?.trim();
  if (tag) query = query.where((eb) => holdsTag(eb, tag));
  if (filter.search) {
    const pattern = `%${filter.search.toLowerCase()}%`;
    query = query.where((eb) =>
      eb.or([eb('email_lower', 'like', pattern), eb('login', 'like', pattern)]),
    );
  }
  return query.execute();
}
