/**
 * The rules of the webhook actions as plain functions over data: no
 * database, no network. The run (run-contact.ts) does the I/O around them.
 */
import type { ContactData, FieldMap } from '../connectors/types.js';
import type { Role } from '../directory/role.repository.js';
import { isSecretName, MASK } from '../lib/secrets.js';

export const ACTIONS = ['update_tags', 'update', 'add'] as const;
export type Action = (typeof ACTIONS)[number];
export const WEBHOOK_ACTIONS = [...ACTIONS, 'test'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

/** `add` > `update` > `update_tags`: one run does what the strongest pending webhook asks. */
const PRECEDENCE: Record<Action, number> = { update_tags: 1, update: 2, add: 3 };

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

export function strongestAction(actions: readonly Action[]): Action {
  return actions.reduce<Action>(
    (best, action) => (PRECEDENCE[action] > PRECEDENCE[best] ? action : best),
    'update_tags',
  );
}

/** `true`, `1`, `yes`, `on` are true; the string `false` (and anything else) is false. */
export function parseBoolean(value: string | undefined | null): boolean {
  if (value === undefined || value === null) return false;
  return ['true', '1', 'yes', 'on'].includes(value.trim().toLowerCase());
}

export interface MappedContact {
  email?: string | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  display_name?: string | undefined;
  user_login?: string | undefined;
  user_pass?: string | undefined;
  role?: string | undefined;
  meta: Record<string, string>;
}

const CORE_TARGETS = new Set([
  'email',
  'first_name',
  'last_name',
  'display_name',
  'user_login',
  'user_pass',
  'role',
]);

/**
 * Applies a field mapping to a contact. The contact's own e-mail is used when
 * no field maps to `email`. With `unmappedAsMeta`, every other field is meta,
 * but for secret-looking ones (a stray `password` or `api_token` must never be
 * stored where the API and the account pages read it).
 */
export function mapContact(
  contact: ContactData,
  fieldMap: FieldMap,
  unmappedAsMeta: boolean,
): MappedContact {
  const mapped: MappedContact = { meta: {} };
  for (const [crmField, value] of Object.entries(contact.fields)) {
    // Own entries only: a CRM field named `constructor` must not find Object's.
    const target = Object.hasOwn(fieldMap, crmField)
      ? fieldMap[crmField]
      : unmappedAsMeta && !isSecretName(crmField)
        ? crmField
        : undefined;
    if (!target) continue;
    if (CORE_TARGETS.has(target)) {
      (mapped as unknown as Record<string, string>)[target] = value;
    } else {
      mapped.meta[target] = value;
    }
  }
  if (!mapped.email && contact.email) mapped.email = contact.email;
  mapped.email = mapped.email?.trim() || undefined;
  return mapped;
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL_PATTERN.test(email);
}

export function slugify(text: string): string {
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

export const USERNAME_FORMATS = ['email', 'first_last', 'first_number'] as const;
export type UsernameFormat = (typeof USERNAME_FORMATS)[number];

/** Keeps what a login may hold: letters, digits, space and `_ . - @`. */
export function sanitizeLogin(login: string): string {
  return login
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9 _.\-@]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 60);
}

/** The username a new user would get before making it unique. */
export function usernameBase(
  format: UsernameFormat,
  person: { email: string; first_name?: string; last_name?: string },
): string {
  const first = sanitizeLogin(person.first_name ?? '')
    .toLowerCase()
    .replace(/ /g, '');
  const last = sanitizeLogin(person.last_name ?? '')
    .toLowerCase()
    .replace(/ /g, '');
  if (format === 'first_last' && (first || last)) return [first, last].filter(Boolean).join('.');
  if (format === 'first_number' && first) return first;
  return sanitizeLogin(person.email.toLowerCase());
}

/** A candidate for the `attempt`-th try: the base itself first, then with a random suffix. */
export function usernameCandidate(
  base: string,
  attempt: number,
  random: () => number,
  format: UsernameFormat,
): string {
  if (attempt === 0 && format !== 'first_number') return base;
  const digits = attempt < 3 ? 4 : 6;
  const suffix = Math.floor(random() * 10 ** digits)
    .toString()
    .padStart(digits, '0');
  return `${base}${format === 'first_number' ? '' : '-'}${suffix}`;
}

export interface TagDiff {
  added: string[];
  removed: string[];
}

export function diffTags(current: readonly string[], next: readonly string[]): TagDiff {
  const have = new Set(current);
  const want = new Set(next);
  return {
    added: [...want].filter((tag) => !have.has(tag)),
    removed: [...have].filter((tag) => !want.has(tag)),
  };
}

/**
 * The contact's fields as answers and stored results show them: the fields the
 * run uses (mapped ones, and with `unmappedAsMeta` the ones that become meta),
 * with secrets (secret-looking names, fields mapped to `user_pass`, and
 * `extraSecrets` such as the Return Password field) masked.
 */
export function shownFields(
  fields: Readonly<Record<string, string>>,
  fieldMap: FieldMap,
  options: { unmappedAsMeta: boolean; extraSecrets?: readonly string[] },
): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    const mapped = Object.hasOwn(fieldMap, key);
    if (!mapped && (!options.unmappedAsMeta || isSecretName(key))) continue;
    const secret =
      isSecretName(key) ||
      (mapped && fieldMap[key] === 'user_pass') ||
      options.extraSecrets?.includes(key) === true;
    shown[key] = secret && value !== '' ? MASK : value;
  }
  return shown;
}
