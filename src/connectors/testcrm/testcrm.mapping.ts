/** The test CRM's contact as ours: field values as text, tags already ids. */
import type { ContactData } from '../types.js';
import type { TestCrmContact } from './testcrm.schemas.js';

export function contactFromAnswer(contact: TestCrmContact): ContactData {
  const fields = Object.fromEntries(
    Object.entries(contact.fields).map(([key, value]) => [
      key,
      value === null ? '' : String(value),
    ]),
  );
  return { id: contact.id, email: contact.email ?? undefined, fields, tags: contact.tags };
}
