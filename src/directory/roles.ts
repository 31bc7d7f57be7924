/** Which role a user gets, and which roles webhooks never touch. Pure. */
import type { Role } from './role.repository.js';

function slugify(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .trim()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

export interface RoleDecision {
  slug: string;
  notice?: string | undefined;
}

/**
 * Picks the role for a user: the requested role (a slug or a title) if it
 * exists and is not admin-capable, else the default role with a notice.
 */
export function resolveRole(
  requested: string | undefined,
  roles: readonly Role[],
  defaultRole: string,
): RoleDecision {
  const wanted = requested?.trim();
  if (!wanted) return { slug: defaultRole };
  const match =
    roles.find((role) => role.slug === wanted) ??
    roles.find((role) => role.slug === slugify(wanted)) ??
    roles.find((role) => role.name.toLowerCase() === wanted.toLowerCase());
  if (!match) {
    return {
      slug: defaultRole,
      notice: `Role "${wanted}" does not exist; assigned the default role "${defaultRole}"`,
    };
  }
  if (match.isAdmin) {
    return {
      slug: defaultRole,
      notice: `Role "${match.slug}" can manage the site and is never assigned by a webhook; assigned "${defaultRole}"`,
    };
  }
  return { slug: match.slug };
}

/** True when `slug` names a role that can manage the site (webhooks never touch such users' access). */
export function isAdminRole(slug: string, roles: readonly Role[]): boolean {
  return roles.some((role) => role.slug === slug && role.isAdmin);
}
