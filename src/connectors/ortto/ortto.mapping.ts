/**
 * Ortto person fields: typed ids such as `str::first` (built in) and
 * `str:cm:plan` (custom), values that may be objects (phone, geo, date), and
 * the `tags` pseudo-field that reads a person's tag names.
 */
import { parseTagList } from '../tag-list.js';
import type { ContactData, CrmField } from '../types.js';
import type { CustomFields, Person } from './ortto.schemas.js';

/** Built-in fields Ortto does not list through `person/custom-field/get`. */
export const BUILT_IN_FIELDS: readonly CrmField[] = [
  { id: 'str::email', label: 'Email', type: 'email' },
  { id: 'str::first', label: 'First name', type: 'text' },
  { id: 'str::last', label: 'Last name', type: 'text' },
  { id: 'phn::phone', label: 'Phone', type: 'phone' },
  { id: 'geo::city', label: 'City', type: 'geo' },
  { id: 'geo::region', label: 'Region', type: 'geo' },
  { id: 'geo::country', label: 'Country', type: 'geo' },
  { id: 'str::postal', label: 'Postal code', type: 'text' },
];

/** Requested alongside fields to read the person's tags (an array of names). */
export const TAGS_PSEUDO_FIELD = 'tags';

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const pad = (value: unknown, width: number) => String(value).padStart(width, '0');

/**
 * A field value as text for the field mapping: phone `{c, n}` → `+cn`, geo
 * `{name}` → the name, date `{year, month, day}` → `YYYY-MM-DD`, lists joined
 * with commas. Undefined for no value, as Ortto omits unset fields.
 */
function fieldText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    return value
      .map(fieldText)
      .filter((item): item is string => item !== undefined)
      .join(',');
  }
  if (isRecord(value)) {
    if (typeof value.n === 'string' || typeof value.n === 'number') {
      // The country code may be missing, empty or null (no code known): the number alone then.
      const code =
        typeof value.c === 'string' || typeof value.c === 'number' ? String(value.c) : '';
      return `${code === '' ? '' : `+${code}`}${value.n}`;
    }
    if (typeof value.name === 'string') return value.name;
    if (value.year !== undefined && value.month !== undefined && value.day !== undefined) {
      return `${pad(value.year, 4)}-${pad(value.month, 2)}-${pad(value.day, 2)}`;
    }
  }
  return JSON.stringify(value);
}

/**
 * A value to write: text, except numbers for `int:` fields and booleans for
 * `bol:` fields when the text reads as one (Ortto validates field types).
 */
export function mergeValue(fieldId: string, text: string): string | number | boolean {
  if (fieldId.startsWith('int:')) {
    const number = Number(text);
    if (text.trim() !== '' && Number.isFinite(number)) return number;
  }
  if (fieldId.startsWith('bol:')) {
    const lowered = text.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
    if (['false', '0', 'no', 'off', ''].includes(lowered)) return false;
  }
  return text;
}

/** A person's tag names, each once. */
export function tagsOf(person: Person): string[] {
  return [...new Set(parseTagList(person.fields[TAGS_PSEUDO_FIELD]) ?? [])];
}

/** A contact from a loaded person; tags are names, each its own id and label. */
export function contactFromPerson(contactId: string, person: Person): ContactData {
  const fields: Record<string, string> = {};
  for (const [fieldId, value] of Object.entries(person.fields)) {
    if (fieldId === TAGS_PSEUDO_FIELD) continue;
    const text = fieldText(value);
    if (text !== undefined) fields[fieldId] = text;
  }
  const tags = tagsOf(person);
  return {
    id: contactId,
    email: fields['str::email']?.trim() || undefined,
    fields,
    tags,
    tagLabels: Object.fromEntries(tags.map((name) => [name, name])),
  };
}

/** Custom fields for the mapping, by id with their name as label. */
export function customFieldList(answer: CustomFields): CrmField[] {
  return (answer.fields ?? []).map(({ field }) => ({
    id: field.id,
    label: field.name || field.id,
    type: field.display_type ?? undefined,
  }));
}
