/**
 * Pure readings of Ontraport's value formats: everything arrives as text,
 * tags and multi-select values as `*\/*id*\/*id*\/*` lists, dropdowns as
 * option ids that the field meta turns into labels.
 */

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
export function asFieldText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
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
    labelled[key] = ids.map((id) => (Object.hasOwn(field.options, id) ? field.options[id] : undefined) ?? id).join(', ');
  }
  return labelled;
}
