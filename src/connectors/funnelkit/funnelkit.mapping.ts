/**
 * FunnelKit's shapes read into ours: a contact (`result` of `contacts/{id}`),
 * tags, and the group fields list. Pure functions; no I/O.
 */
import { isJsonScalar } from '../../lib/json.js';
import type { ContactData, CrmField, CrmTag } from '../types.js';
import {
  ContactSchema,
  GroupFieldsSchema,
  TagListSchema,
  type RawContact,
} from './funnelkit.schemas.js';

/** Contact columns FunnelKit keeps outside `fields`; they are mapped by these names. */
const STANDARD_FIELDS = [
  { id: 'email', label: 'Email' },
  { id: 'f_name', label: 'First Name' },
  { id: 'l_name', label: 'Last Name' },
  { id: 'contact_no', label: 'Phone' },
  { id: 'state', label: 'State' },
  { id: 'country', label: 'Country' },
  { id: 'timezone', label: 'Timezone' },
] as const;
const STANDARD_IDS = new Set<string>(STANDARD_FIELDS.map((field) => field.id));

const isStandardField = (id: string): boolean => STANDARD_IDS.has(id);

/**
 * A field value as text. FunnelKit keeps multi-value fields (checkboxes,
 * multi-selects) as JSON-encoded lists; those become `a, b`. Anything else is
 * kept as stored.
 */
function fieldText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return listText(value) ?? JSON.stringify(value);
  if (!isJsonScalar(value)) return JSON.stringify(value);
  const text = String(value);
  const trimmed = text.trim();
  if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
    try {
      const decoded: unknown = JSON.parse(trimmed);
      if (Array.isArray(decoded)) return listText(decoded) ?? text;
    } catch {
      // brackets but not JSON: an ordinary value
    }
  }
  return text;
}

function listText(items: readonly unknown[]): string | undefined {
  if (!items.every((item) => item === null || isJsonScalar(item))) return undefined;
  return items
    .map((item) => (item === null ? '' : String(item).trim()))
    .filter((item) => item !== '')
    .join(', ');
}

/** The stored value of one field, untouched, for checking what a write left behind. */
export function storedValue(contact: RawContact, fieldId: string): string | undefined {
  const raw = isStandardField(fieldId) ? contact[fieldId] : contact.fields[fieldId];
  if (raw === undefined) return isStandardField(fieldId) ? '' : undefined;
  return raw === null ? '' : isJsonScalar(raw) ? String(raw) : JSON.stringify(raw);
}

/** A contact from a search row, or undefined for a row that is not one (search is lenient). */
export function parseContact(result: unknown): RawContact | undefined {
  const parsed = ContactSchema.safeParse(result);
  return parsed.success ? parsed.data : undefined;
}

export function toContactData(contact: RawContact): ContactData {
  const fields: Record<string, string> = {};
  for (const { id } of STANDARD_FIELDS) fields[id] = fieldText(contact[id]);
  for (const [id, value] of Object.entries(contact.fields)) {
    if (!isStandardField(id)) fields[id] = fieldText(value);
  }
  const tags = (contact.tags ?? []).filter((tag) => tag.id !== '');
  const email = fields.email?.trim();
  return {
    id: contact.id,
    email: email || undefined,
    fields,
    tags: [...new Set(tags.map((tag) => tag.id))],
    tagLabels: Object.fromEntries(
      tags.filter((tag) => tag.label !== '').map((tag) => [tag.id, tag.label]),
    ),
  };
}

export function parseTags(result: unknown): CrmTag[] {
  const parsed = TagListSchema.safeParse(Array.isArray(result) ? result : []);
  if (!parsed.success) return [];
  return parsed.data
    .filter((tag) => tag.id !== '')
    .map((tag) => ({ id: tag.id, label: tag.label || tag.id }));
}

/**
 * The fields a mapping can use: the standard columns, then group fields and
 * address (`extra_fields`) fields by their numeric ids. The `address` pseudo
 * field is skipped, as it is not a value of its own.
 */
export function parseFields(result: unknown): CrmField[] {
  const fields: CrmField[] = STANDARD_FIELDS.map((field) => ({
    id: field.id,
    label: field.label,
    type: 'text',
  }));
  const parsed = GroupFieldsSchema.safeParse(result);
  if (!parsed.success) return fields;
  const seen = new Set(fields.map((field) => field.id));
  const custom = [
    ...(parsed.data.fields ?? []).flatMap((group) => group.fields ?? []),
    ...(parsed.data.extra_fields ?? []),
  ];
  for (const field of custom) {
    if (field.id === '' || field.id === 'address' || seen.has(field.id)) continue;
    seen.add(field.id);
    fields.push({ id: field.id, label: field.label || `Field ${field.id}` });
  }
  return fields;
}
