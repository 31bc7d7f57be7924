/** Customerly's answers (the `data` of its envelope, unwrapped by the client) as the connector reads them. */
import { z } from 'zod';

/** The user object of `GET /users?email=` (and of `/users/list` rows). */
export const UserSchema = z
  .object({
    email: z.string(),
    name: z.string().nullish(),
    user_id: z.union([z.string(), z.number()]).nullish(),
    attributes: z.record(z.string(), z.unknown()).nullish(),
    tags: z.array(z.unknown()).nullish(),
  })
  .loose();
export type CustomerlyUser = z.infer<typeof UserSchema>;

/** `GET /users/list`: `{users: […]}`, or a bare list in some accounts. */
export const UserListSchema = z.union([
  z.object({ users: z.array(z.unknown()) }).loose(),
  z.array(z.unknown()).transform((users) => ({ users })),
]);

/** `GET /tags`: tag names (objects with a `name` are read too). */
export const TagListSchema = z.array(z.unknown());
