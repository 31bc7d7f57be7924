/**
 * Return Password: a generated password written back to the contact (through
 * the crm_writes outbox, see crm-writes.ts), so the
 * CRM's own e-mails can include it. As WP Fusion does, the same write carries
 * the new user's login, id and registration date to the CRM fields mapped to
 * `user_login`, `user_id` and `user_registered`.
 */
import type { FieldMap } from '../connectors/types.js';

/** What the write says about the new user. */
export interface ReturnedUser {
  id: number;
  login: string;
  /** ISO time of creation. */
  createdAt: string;
}

/** The user fields WP Fusion sends back with the password, as the field mapping names them. */
const RETURNED_USER_FIELDS = ['user_login', 'user_id', 'user_registered'] as const;

/** WordPress's `user_registered` form: `2026-01-31 09:12:00`, in UTC. */
function wordpressDate(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * The CRM fields of the write: the password in the Return Password field, and
 * the login, id and registration date in the fields mapped to them (a field
 * mapped to one of them that is also the password field keeps the password).
 */
export function returnPasswordFields(
  passwordField: string,
  fieldMap: FieldMap,
  password: string,
  user: ReturnedUser,
): Record<string, string> {
  const values: Record<(typeof RETURNED_USER_FIELDS)[number], string> = {
    user_login: user.login,
    user_id: String(user.id),
    user_registered: wordpressDate(user.createdAt),
  };
  const fields: Record<string, string> = {};
  for (const [crmField, target] of Object.entries(fieldMap)) {
    if ((RETURNED_USER_FIELDS as readonly string[]).includes(target))
      fields[crmField] = values[target as keyof typeof values];
  }
  fields[passwordField] = password;
  return fields;
}
