/** Reading users: one by id, pages by e-mail or tag, and a user's tags. */
import type { Kysely } from 'kysely';
import { findUserById } from '../directory/user.repository.js';
import { AppError } from '../errors.js';
import type { DB, UserRow } from '../storage/schema.js';
import { loadApiUser, loadApiUsers, toApiTag } from './api-user.js';
import { defineRoute, type ApiRoute } from './route.js';
import {
  TagListSchema,
  UserPageSchema,
  UserParamsSchema,
  UserResponseSchema,
  UsersQuerySchema,
} from './schemas.js';
import { listUserTags } from '../directory/user.repository.js';
import { listUserPage } from './users.repository.js';

export interface UsersRouteDeps {
  db: Kysely<DB>;
  /** Absolute URL of the API base (for `next` links). */
  baseUrl: () => string;
}

async function requireUser(db: Kysely<DB>, id: number): Promise<UserRow> {
  const row = await findUserById(db, id);
  if (!row) throw new AppError('USER_NOT_FOUND', `no user has id ${id}`);
  return row;
}

export function usersRoutes({ db, baseUrl }: UsersRouteDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/users',
      operationId: 'listUsers',
      summary: 'List users, by e-mail or by tag',
      description:
        'Without filters, every user. Pages are ordered by id; follow `next` until it is null. ' +
        'Users created while you page through appear on a later page, never twice.',
      query: UsersQuerySchema,
      response: { description: 'A page of users.', schema: UserPageSchema },
      errors: [],
      async handle({ query }) {
        // One row more than asked tells whether another page exists, without an empty last page.
        const rows = await listUserPage(db, { ...query, limit: query.limit + 1 });
        const page = rows.slice(0, query.limit);
        const last = page.at(-1);
        let next: string | null = null;
        if (rows.length > query.limit && last) {
          const params = new URLSearchParams();
          for (const key of ['email', 'tag', 'connection'] as const) {
            const value = query[key];
            if (value !== undefined) params.set(key, value);
          }
          params.set('limit', String(query.limit));
          params.set('after', String(last.id));
          next = `${baseUrl()}/users?${params.toString()}`;
        }
        return { users: await loadApiUsers(db, page), next };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users/{id}',
      operationId: 'getUser',
      summary: 'One user',
      description: 'The user with their role, tags and meta.',
      params: UserParamsSchema,
      response: { description: 'The user.', schema: UserResponseSchema },
      errors: ['USER_NOT_FOUND'],
      async handle({ params }) {
        return { user: await loadApiUser(db, await requireUser(db, params.id)) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users/{id}/tags',
      operationId: 'listUserTags',
      summary: "A user's tags",
      description: 'Every tag of the user, ordered by connection and tag id.',
      params: UserParamsSchema,
      response: { description: "The user's tags.", schema: TagListSchema },
      errors: ['USER_NOT_FOUND'],
      async handle({ params }) {
        const user = await requireUser(db, params.id);
        const tags = await listUserTags(db, user.id);
        return { tags: tags.map(toApiTag) };
      },
    }),
  ];
}
