/** Roles a user can hold. */
import type { Db } from '../storage/schema.js';

export interface Role {
  slug: string;
  name: string;
  isAdmin: boolean;
}

export async function listRoles(db: Db): Promise<Role[]> {
  const rows = await db.selectFrom('roles').selectAll().orderBy('slug').execute();
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
