/**
 * The REST API's request and response shapes. Requests are validated with
 * these schemas and the OpenAPI document is generated from them, so the two
 * cannot disagree.
 */
import { z } from 'zod';

/** Ids are PostgreSQL `integer`s; a larger one could only fail in the database. */
const MAX_ID = 2_147_483_647;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;

const WHOLE = { error: 'must be a whole number' };
const userId = z.coerce
  .number(WHOLE)
  .int(WHOLE)
  .min(1, { error: 'must be 1 or more' })
  .max(MAX_ID, { error: 'is too large' });

const TagSchema = z.strictObject({
  connection: z
    .string()
    .describe('The CRM connection the tag comes from (e.g. "payload", "ontraport").'),
  id: z.string().describe('The tag id in that CRM.'),
  label: z.string().describe('The tag name; the id when no name is known.'),
});
export type ApiTag = z.output<typeof TagSchema>;

const UserSchema = z.strictObject({
  id: z.int().min(1),
  login: z.string().describe('The username.'),
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
  display_name: z.string(),
  role: z.string().describe('Role slug, e.g. "subscriber".'),
  tags: z.array(TagSchema).describe('Every tag of the user, ordered by connection and tag id.'),
  meta: z
    .record(z.string(), z.string())
    .describe('Other contact fields kept for the user (key → value).'),
  password_change_required: z
    .boolean()
    .describe(
      'True while the user still has the password crm-bridge generated; the site should ask them to choose their own.',
    ),
  created_at: z.iso.datetime().describe('ISO-8601 UTC.'),
  updated_at: z.iso.datetime().describe('ISO-8601 UTC.'),
});
export type ApiUser = z.output<typeof UserSchema>;

export const ErrorSchema = z.strictObject({
  status: z.literal('error'),
  error: z.strictObject({
    code: z
      .string()
      .describe('A stable code from the error table, e.g. UNAUTHORIZED or USER_NOT_FOUND.'),
    message: z.string().describe('A sentence for people; do not parse it.'),
  }),
});

export const UserResponseSchema = z.strictObject({ user: UserSchema });

export const UserPageSchema = z.strictObject({
  users: z.array(UserSchema).describe('Ordered by id.'),
  next: z.url().nullable().describe('The URL of the next page, or null on the last page.'),
});

export const TagListSchema = z.strictObject({ tags: z.array(TagSchema) });

const loginName = z.string().trim().min(1, { error: 'cannot be empty' }).max(320);

export const VerifyRequestSchema = z
  .strictObject({
    login: loginName.optional().describe('Username or e-mail address.'),
    username: loginName.optional().describe('Another name for login.'),
    email: loginName.optional().describe('Another name for login.'),
    password: z.string().max(4096),
    client_ip: z
      .union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' })
      .optional()
      .describe(
        "The address of the person logging in. Give it: the per-address login limit then applies to them rather than to the site's server.",
      ),
  })
  .refine(
    (body) =>
      [body.login, body.username, body.email].filter((name) => name !== undefined).length === 1,
    {
      error: 'give exactly one of login, username or email',
      path: ['login'],
    },
  );

export const UserParamsSchema = z.strictObject({ id: userId.describe('The user id.') });

export const UsersQuerySchema = z
  .strictObject({
    email: z
      .string()
      .trim()
      .min(1)
      .max(320)
      .optional()
      .describe('Only the user with this e-mail address (case-insensitive).'),
    tag: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .optional()
      .describe('Only users with this tag, given by id or by label (exact match).'),
    connection: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .describe('With tag: only tags of this CRM connection.'),
    limit: z.coerce
      .number(WHOLE)
      .int(WHOLE)
      .min(1, { error: 'must be 1 or more' })
      .max(MAX_PAGE_SIZE, { error: `must be ${MAX_PAGE_SIZE} or less` })
      .default(DEFAULT_PAGE_SIZE)
      .describe('Users per page.'),
    after: z.coerce
      .number({ error: 'must be a user id' })
      .int({ error: 'must be a user id' })
      .min(0, { error: 'must be a user id' })
      .max(MAX_ID, { error: 'is too large' })
      .optional()
      .describe('Cursor: only users with a larger id. Follow `next` rather than building it.'),
  })
  .refine((query) => query.connection === undefined || query.tag !== undefined, {
    error: 'connection only narrows a tag filter; give tag too',
    path: ['connection'],
  });

export const OpenApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({}),
  paths: z.looseObject({}),
});

/** Schemas the OpenAPI document lists under components.schemas, by name. */
export const COMPONENT_SCHEMAS = {
  Tag: TagSchema,
  User: UserSchema,
  Error: ErrorSchema,
  UserResponse: UserResponseSchema,
  UserPage: UserPageSchema,
  TagList: TagListSchema,
  VerifyRequest: VerifyRequestSchema,
  OpenApiDocument: OpenApiDocumentSchema,
} as const satisfies Record<string, z.ZodType>;
