/**
 * Ontraport's shapes read into ours, pure: everything arrives as text, tags
 * and multi-select values as `*\/*id*\/*id*\/*` lists, dropdowns as option
 * ids that the field meta turns into labels.
 */
import type { CrmField } from '../types.js';
import { CONTACT_OBJECT_ID, RecordSchema, type FieldMeta, type Meta } from './ontraport.schemas.js';

/** The separator Ontraport wraps around each id in `contact_cat` and "list" fields. */
const ID_LIST_SEPARATOR = '*/*';

/** Splits `*\/*3*\/*7*\/*` into `['3', '7']`; `""` and `"*\/*"` are empty lists. */
export function decodeIdList(value: string): string[] {
  return value
    .split(ID_LIST_SEPARATOR)
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** A JSON value as the text a contact field holds (Ontraport sends text; be lenient anyway). */
function asFieldText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value);
}

/** A contact's fields as text, exactly as Ontraport holds them. */
export function fieldTexts(record: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).map(([key, value]) => [key, asFieldText(value)]),
  );
}

/** Option id → label for one field whose values are option ids. */
export interface OptionField {
  /** `drop` holds one option id; `list` holds several, `*\/*`-encoded. */
  readonly kind: 'drop' | 'list';
  readonly options: Readonly<Record<string, string>>;
}

/**
 * Replaces option ids with their labels in dropdown and multi-select fields.
 * An id without a known label is kept, so nothing is lost when the meta is
 * older than the contact; several labels are joined with ", ".
 */
export function labelOptions(
  fields: Readonly<Record<string, string>>,
  optionFields: ReadonlyMap<string, OptionField>,
): Record<string, string> {
  const labelled: Record<string, string> = { ...fields };
  for (const [key, field] of optionFields) {
    const value = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (value === undefined || value.trim() === '') continue;
    const ids = field.kind === 'list' ? decodeIdList(value) : [value.trim()];
    labelled[key] = ids
      .map((id) => (Object.hasOwn(field.options, id) ? field.options[id] : undefined) ?? id)
      .join(', ');
  }
  return labelled;
}

/** The contact object's fields from a `format=byId` meta answer. */
export function contactFieldsOf(meta: Meta): Record<string, FieldMeta> {
  return (meta[CONTACT_OBJECT_ID] ?? Object.values(meta)[0])?.fields ?? {};
}

/** Dropdown (`drop`) and multi-select (`list`) fields with their option labels. */
export function optionFieldsOf(
  fields: Readonly<Record<string, FieldMeta>>,
): Map<string, OptionField> {
  const result = new Map<string, OptionField>();
  for (const [key, meta] of Object.entries(fields)) {
    if (meta.type !== 'drop' && meta.type !== 'list') continue;
    const options = RecordSchema.safeParse(meta.options);
    if (!options.success) continue;
    result.set(key, {
      kind: meta.type,
      options: Object.fromEntries(
        Object.entries(options.data).map(([id, label]) => [id, asFieldText(label)]),
      ),
    });
  }
  return result;
}

/** Contact fields for the mapping, by key with their alias as label. */
export function fieldList(fields: Readonly<Record<string, FieldMeta>>): CrmField[] {
  return Object.entries(fields).map(([id, meta]) => ({
    id,
    label: meta.alias?.trim() || id,
    type: meta.type,
  }));
}

/** The contact id in a getByEmail `data`: `{id}` normally, `[]` or `{}` when there is none. */
export function idOf(data: unknown): string | null {
  const first: unknown = Array.isArray(data) ? data[0] : data;
  if (first === null || typeof first !== 'object' || !('id' in first)) return null;
  const id = asFieldText(first.id).trim();
  return id === '' || id === '0' ? null : id;
}
