/** The test CRM's contact as ours: field values as text, tags already ids. */
import { isJsonScalar } from '../../lib/json.js';
import type { ContactData } from '../types.js';
import type { TestCrmContact } from './testcrm.schemas.js';

export function contactFromAnswer(contact: TestCrmContact): ContactData {
  const fields = Object.fromEntries(
    Object.entries(contact.fields).map(([key, value]) => [
      key,
      isJsonScalar(value) ? String(value) : value === null ? '' : JSON.stringify(value),
    ]),
  );
  return { id: contact.id, email: contact.email ?? undefined, fields, tags: contact.tags };
}
