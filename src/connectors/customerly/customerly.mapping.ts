/**
 * Customerly users as crm-bridge contacts, and back. Pure functions, no I/O.
 *
 * Field ids a Customerly contact exposes:
 * - `email`, `name`, `user_id`: the user's own (top-level) properties;
 * - `first_name`, `last_name`: derived from `name` (Customerly keeps one name);
 * - every custom attribute under its plain key (`wp_password`, `plan`), except
 *   an attribute whose key is one of the ids above, which is `attributes.<key>`.
 * Writing a field id puts the value back where reading it found it.
 */
import type { ContactData } from '../types.js';
import type { CustomerlyUser } from './customerly.schemas.js';

/** Properties that live on the user itself, not under `attributes`. */
const USER_LEVEL_FIELDS = ['email', 'name', 'user_id'] as const;
/** Derived from `name`; written back by recomposing `name`. */
const NAME_PART_FIELDS = ['first_name', 'last_name'] as const;
export const BUILT_IN_FIELDS: readonly string[] = [...USER_LEVEL_FIELDS, ...NAME_PART_FIELDS];

const ATTRIBUTE_PREFIX = 'attributes.';

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function looksLikeEmail(value: string): boolean {
  return value.length <= 254 && EMAIL_PATTERN.test(value);
}

/** Splits Customerly's single name: the first word is the first name, the rest the last name. */
export function splitName(name: string): { first: string; last: string } {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return { first: words[0] ?? '', last: words.slice(1).join(' ') };
}

export function joinName(first: string, last: string): string {
  return [first.trim(), last.trim()].filter(Boolean).join(' ');
}

/** The field id under which an attribute is exposed. */
export function attributeFieldId(key: string): string {
  return BUILT_IN_FIELDS.includes(key) ? ATTRIBUTE_PREFIX + key : key;
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value);
}

/** Tag names from a list that should hold strings; objects with a `name` are read too. */
export function tagNames(list: readonly unknown[]): string[] {
  const names = list.map((item) => {
    if (typeof item === 'string' || typeof item === 'number') return String(item).trim();
    if (
      item !== null &&
      typeof item === 'object' &&
      'name' in item &&
      typeof item.name === 'string'
    )
      return item.name.trim();
    return '';
  });
  return [...new Set(names.filter((name) => name !== ''))];
}

/** The fields of a user, keyed by the field ids described above. */
function userFields(user: CustomerlyUser): Record<string, string> {
  const name = user.name?.trim() ?? '';
  const { first, last } = splitName(name);
  const fields: Record<string, string> = {
    email: user.email.trim(),
    name,
    first_name: first,
    last_name: last,
    user_id: asText(user.user_id),
  };
  for (const [key, value] of Object.entries(user.attributes ?? {}))
    fields[attributeFieldId(key)] = asText(value);
  return fields;
}

/** A contact from a loaded user; `id` is the id it was asked for (the e-mail). */
export function contactFromUser(id: string, user: CustomerlyUser): ContactData {
  const tags = user.tags ? tagNames(user.tags) : undefined;
  return {
    id,
    email: user.email.trim(),
    fields: userFields(user),
    tags,
    // Customerly tags are plain names: each is its own id and label.
    tagLabels: tags ? Object.fromEntries(tags.map((tag) => [tag, tag])) : undefined,
  };
}

/** What `POST /users` needs for one user: top-level properties and attributes, plus whether `name` must be recomposed. */
export interface UserWrite {
  readonly topLevel: Record<string, string>;
  readonly attributes: Record<string, string>;
  readonly nameParts: { first?: string | undefined; last?: string | undefined };
}

/** Sorts field ids into where Customerly keeps them. `email` is the key of the upsert and is not writable. */
export function planUserWrite(fields: Readonly<Record<string, string>>): UserWrite {
  const topLevel: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  const nameParts: { first?: string; last?: string } = {};
  for (const [id, value] of Object.entries(fields)) {
    if (id === 'first_name') nameParts.first = value;
    else if (id === 'last_name') nameParts.last = value;
    else if (id === 'name' || id === 'user_id') topLevel[id] = value;
    else if (id.startsWith(ATTRIBUTE_PREFIX) && id.length > ATTRIBUTE_PREFIX.length) {
      attributes[id.slice(ATTRIBUTE_PREFIX.length)] = value;
    } else attributes[id] = value;
  }
  return { topLevel, attributes, nameParts };
}

/** Users the upsert answer lists as not added; the answer's shape is otherwise undocumented, so nothing else is required of it. */
export function notAdded(answer: unknown): unknown[] {
  if (answer === null || typeof answer !== 'object' || !('not_added' in answer)) return [];
  return Array.isArray(answer.not_added) ? answer.not_added : [];
}

/** A reason Customerly may give for a `not_added` item, never the item itself. */
export function rejectionReason(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  for (const key of ['error', 'message', 'reason'] as const) {
    const value = (item as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.trim() !== '') return value.trim().slice(0, 200);
  }
  return undefined;
}
