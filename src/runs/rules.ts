/**
 * The rules of the webhook actions as plain functions over data: no
 * database, no network. The run (run-contact.ts) does the I/O around them.
 */
import type { ContactData, FieldMap } from '../connectors/types.js';
import type { MappedContact } from '../directory/user-upsert.js';
import { isSecretName, MASK } from '../lib/secrets.js';

/** User fields a CRM field can fill; any other target is a meta key. */
export const USER_FIELDS = [
  'email',
  'first_name',
  'last_name',
  'display_name',
  'user_login',
  'user_pass',
  'role',
] as const;

const CORE_TARGETS: ReadonlySet<string> = new Set(USER_FIELDS);

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
