/** Roles a user can hold. */
import type { Db } from '../storage/schema.js';
import { preparedQuery } from '../storage/prepared-query.js';

export interface Role {
  slug: string;
  name: string;
  isAdmin: boolean;
}

const allRoles = preparedQuery((db) => db.selectFrom('roles').selectAll().orderBy('slug'));

export async function listRoles(db: Db): Promise<Role[]> {
  const { rows } = await allRoles(db, {});
  return rows.map((row) => ({ slug: row.slug, name: row.name, isAdmin: row.is_admin === 1 }));
}

export async function saveRole(db: Db, role: Role): Promise<void> {
  await db
    .insertInto('roles')
    .values({ slug: role.slug, name: role.name, is_admin: role.isAdmin ? 1 : 0 })
    .onConflict((oc) =>
      oc.column('slug').doUpdateSet({ name: role.name, is_admin: role.isAdmin ? 1 : 0 }),
    )
    .execute();
}
