/**
 * Changing the roles users can hold, with the rules the CLI and the admin
 * pages share: slugs are simple, the default role is never an admin role,
 * admin roles are protected, and a role still held by users stays.
 */
import { AppError } from '../errors.js';
import { loadSettings } from '../settings/settings.js';
import { listRoles, saveRole, type Role } from './role.repository.js';
import type { Db } from '../storage/schema.js';

const ROLE_SLUG_PATTERN = /^[a-z0-9_-]{1,64}$/;

async function findRole(db: Db, slug: string): Promise<Role | undefined> {
  return (await listRoles(db)).find((role) => role.slug === slug);
}

/** Adds a role, or changes it when `replace` (the CLI's `roles add` always replaces). */
export async function addRole(
  db: Db,
  overrides: Readonly<Record<string, string>>,
  role: Role,
  options: { replace: boolean },
): Promise<void> {
  const slug = role.slug.trim();
  const name = role.name.trim();
  if (!ROLE_SLUG_PATTERN.test(slug))
    throw new AppError(
      'INVALID_SETTING',
      'a role slug uses lower-case letters, digits, _ and - (at most 64)',
    );
  if (name === '' || name.length > 100)
    throw new AppError('INVALID_SETTING', 'a role name has 1 to 100 characters');
  if (!options.replace && (await findRole(db, slug)))
    throw new AppError('INVALID_SETTING', `the role "${slug}" exists already`);
  if (role.isAdmin && (await loadSettings(db, overrides)).default_role.trim() === slug) {
    throw new AppError(
      'INVALID_SETTING',
      `"${slug}" is the default role of new users, which can never be an admin role; change default_role first`,
    );
  }
  await saveRole(db, { slug, name, isAdmin: role.isAdmin });
}

/** Gives a role another display name; admin roles keep theirs. */
export async function renameRole(db: Db, slug: string, name: string): Promise<void> {
  const role = await findRole(db, slug);
  if (!role) throw new AppError('NOT_FOUND', `no role "${slug}"`);
  if (role.isAdmin) throw new AppError('INVALID_SETTING', `"${slug}" is an admin role: protected`);
  const trimmed = name.trim();
  if (trimmed === '' || trimmed.length > 100)
    throw new AppError('INVALID_SETTING', 'a role name has 1 to 100 characters');
  await saveRole(db, { ...role, name: trimmed });
}

/** Removes a role nobody holds that is neither an admin role nor the default role. */
export async function removeRole(
  db: Db,
  overrides: Readonly<Record<string, string>>,
  slug: string,
): Promise<void> {
  const role = await findRole(db, slug);
  if (!role) throw new AppError('NOT_FOUND', `no role "${slug}"`);
  if (role.isAdmin) throw new AppError('INVALID_SETTING', `"${slug}" is an admin role: protected`);
  if ((await loadSettings(db, overrides)).default_role.trim() === slug)
    throw new AppError(
      'INVALID_SETTING',
      `"${slug}" is the default role of new users; choose another default first`,
    );
  const holders = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('role', '=', slug)
    .executeTakeFirstOrThrow();
  if (Number(holders.count) > 0)
    throw new AppError(
      'INVALID_SETTING',
      `${Number(holders.count)} user(s) hold "${slug}"; give them another role first`,
    );
  await db.deleteFrom('roles').where('slug', '=', slug).execute();
}
