import type { Kysely } from 'kysely';
import { AppError } from '../errors.js';
import type { DB } from '../storage/schema.js';
import { listRoles } from './role.repository.js';
import { isAdminRole } from './roles.js';

/**
 * Refuses a default role that can manage the site: every user a webhook
 * creates would get it. Checked when the setting is saved and at start-up
 * (where an environment override is first read).
 */
export async function checkDefaultRole(db: Kysely<DB>, role: string): Promise<void> {
  const slug = role.trim();
  if (isAdminRole(slug, await listRoles(db))) {
    throw new AppError(
      'INVALID_SETTING',
      `default_role=${JSON.stringify(role)}: "${slug}" is an admin role, which webhooks never assign`,
    );
  }
}
