/**
 * Pure readings of what WordPress and WP Fusion store into what crm-bridge
 * keeps: PHP-serialized options, roles, capabilities, tags, and one user.
 * No I/O here; the reader fetches, the writer stores.
 */
import { unserialize } from 'php-serialize';
import { isValidEmail } from '../../lib/email.js';
import type { UsernameFormatName as UsernameFormat } from '../../settings/settings.js';
import type { Role } from '../../directory/role.repository.js';
import { isWordPressHash } from '../../directory/wordpress-passwords.js';
import type { WordPressUserRecord } from './wordpress.reader.js';

/** A PHP-serialized value as plain data; undefined when it is not one. */
function readPhpValue(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  try {
    // Not strict: a serialized object of an unknown class reads as a plain object, never code.
    return unserialize(raw, {}, { strict: false });
  } catch {
    return undefined;
  }
}

type PhpArray = Record<string, unknown>;

function isPhpArray(value: unknown): value is PhpArray {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The values of a PHP array (a list or keyed from 1, as WP Fusion writes them). */
function phpValues(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isPhpArray(value)) return Object.values(value);
  return [];
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/** PHP's truthiness of what a checkbox setting holds: true, 1, "1", "on", "yes". */
function phpTruthy(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return !['', '0', 'false', 'off', 'no'].includes(value.trim());
  return false;
}

/**
 * WP Fusion's CRM slugs where they differ from ours. FunnelKit Automations
 * was called Autonami when WP Fusion added it, and kept that slug.
 */
const WPF_CRM_TYPES: Readonly<Record<string, string>> = { autonami: 'funnelkit' };

/** Our connector type for a WP Fusion CRM slug. */
export function connectorTypeForWpfCrm(slug: string): string {
  return Object.hasOwn(WPF_CRM_TYPES, slug) ? (WPF_CRM_TYPES[slug] ?? slug) : slug;
}

/** WP Fusion's username formats, which our setting takes under the same names. */
const WPF_USERNAME_FORMATS: readonly UsernameFormat[] = ['email', 'flname', 'fnamenum'];

/** WordPress user fields our users have; any other WordPress key is a meta key. */
const USER_FIELD_TARGETS: Readonly<Record<string, string>> = {
  user_email: 'email',
  first_name: 'first_name',
  last_name: 'last_name',
  display_name: 'display_name',
  user_login: 'user_login',
  user_pass: 'user_pass',
  role: 'role',
};
/** Keys WordPress sets itself: a CRM field never writes them, and they are not copied as meta. */
const NOT_MAPPED = new Set(['ID', 'user_id', 'user_registered', 'user_nicename']);

export interface WpFusionSettings {
  readonly accessKey: string | undefined;
  readonly crm: string | undefined;
  readonly usernameFormat: UsernameFormat | undefined;
  /** The WP Fusion value when it has no equivalent here. */
  readonly unknownUsernameFormat: string | undefined;
  readonly returnPassword: boolean | undefined;
  readonly returnPasswordField: string | undefined;
  readonly sendWelcomeEmail: boolean | undefined;
  /** CRM field → user field or meta key, from the active entries of `contact_fields`. */
  readonly fieldMap: Readonly<Record<string, string>>;
  /** WordPress meta keys the field map names, copied as meta. */
  readonly metaKeys: readonly string[];
}

/** Reads the `wpf_options` option (absent on a site without WP Fusion: everything undefined). */
export function readWpFusionOptions(raw: string | undefined): WpFusionSettings {
  const options = readPhpValue(raw);
  const get = (key: string): unknown =>
    isPhpArray(options) && Object.hasOwn(options, key) ? options[key] : undefined;
  const has = (key: string) => get(key) !== undefined;

  const format = text(get('username_format'))?.trim();
  const mappedFormat = WPF_USERNAME_FORMATS.find((known) => known === format);
  // Older versions store the field's id; newer ones an array with `crm_field`.
  const passwordField = get('return_password_field');
  const returnPasswordField = isPhpArray(passwordField)
    ? text(passwordField.crm_field)
    : text(passwordField);

  const fieldMap: Record<string, string> = {};
  const metaKeys: string[] = [];
  const contactFields = get('contact_fields');
  if (isPhpArray(contactFields)) {
    for (const [wpKey, entry] of Object.entries(contactFields)) {
      if (!isPhpArray(entry) || !phpTruthy(entry.active) || NOT_MAPPED.has(wpKey)) continue;
      const crmField = text(entry.crm_field)?.trim();
      if (!crmField) continue;
      const target = Object.hasOwn(USER_FIELD_TARGETS, wpKey) ? USER_FIELD_TARGETS[wpKey] : wpKey;
      if (!Object.hasOwn(fieldMap, crmField)) fieldMap[crmField] = target ?? wpKey;
      if (!Object.hasOwn(USER_FIELD_TARGETS, wpKey)) metaKeys.push(wpKey);
    }
  }
  return {
    accessKey: text(get('access_key'))?.trim() || undefined,
    crm: text(get('crm'))?.trim() || undefined,
    usernameFormat: mappedFormat,
    unknownUsernameFormat: format && !mappedFormat ? format : undefined,
    returnPassword: has('return_password') ? phpTruthy(get('return_password')) : undefined,
    returnPasswordField: returnPasswordField?.trim() || undefined,
    sendWelcomeEmail: has('send_welcome_email') ? phpTruthy(get('send_welcome_email')) : undefined,
    fieldMap,
    metaKeys: [...new Set(metaKeys)],
  };
}

/** `wpf_available_tags`: tag id → label (some CRMs store `{label, category}` instead of the label). */
export function readTagLabels(raw: string | undefined): Map<string, string> {
  const value = readPhpValue(raw);
  const labels = new Map<string, string>();
  if (!isPhpArray(value) && !Array.isArray(value)) return labels;
  for (const [id, entry] of Object.entries(value)) {
    const label = isPhpArray(entry) ? text(entry.label) : text(entry);
    if (label !== undefined) labels.set(id, label);
  }
  return labels;
}

/** Capabilities that let a role manage the site: such a role is an admin role here. */
const ADMIN_CAPABILITIES = ['manage_options', 'edit_users', 'promote_users', 'create_users'];

/** `wp_user_roles`: slug → {name, capabilities}. */
export function readWordPressRoles(raw: string | undefined): Role[] {
  const value = readPhpValue(raw);
  if (!isPhpArray(value)) return [];
  return Object.entries(value).flatMap(([slug, entry]) => {
    if (!isPhpArray(entry)) return [];
    const capabilities = isPhpArray(entry.capabilities) ? entry.capabilities : {};
    const isAdmin =
      slug === 'administrator' ||
      ADMIN_CAPABILITIES.some(
        (cap) => Object.hasOwn(capabilities, cap) && phpTruthy(capabilities[cap]),
      );
    return [{ slug, name: text(entry.name)?.trim() || slug, isAdmin }];
  });
}

/** The role slugs a `{prefix}capabilities` value grants (slug → true), in stored order. */
export function readCapabilities(raw: string | undefined): string[] {
  const value = readPhpValue(raw);
  if (!isPhpArray(value)) return [];
  return Object.entries(value)
    .filter(([, granted]) => phpTruthy(granted))
    .map(([slug]) => slug);
}

/** `{crm}_tags`: a PHP array of tag-id strings; `a:0:{}` (or nothing) is no tags. */
export function readTagIds(raw: string | undefined): string[] {
  const ids = phpValues(readPhpValue(raw))
    .map(text)
    .filter((id): id is string => id !== undefined && id.trim() !== '')
    .map((id) => id.trim());
  return [...new Set(ids)];
}

/** WordPress keeps `user_registered` as `YYYY-MM-DD HH:MM:SS` in UTC; zero dates are unknown. */
export function registeredAt(value: string | undefined): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value ?? '');
  if (!match || match[1] === '0000') return undefined;
  const date = new Date(
    `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}.000Z`,
  );
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export interface ImportedUser {
  readonly wpId: string;
  readonly login: string;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly displayName: string;
  readonly registeredAt: string | undefined;
  /** The WordPress hash, when it is one that verifies here. */
  readonly passwordHash: string | undefined;
  /** Role slugs from capabilities, in stored order. */
  readonly roles: readonly string[];
  readonly contactId: string | undefined;
  readonly tagIds: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
}

export interface MapContext {
  readonly capabilitiesKey: string;
  readonly contactIdKey: string | undefined;
  readonly tagsKey: string | undefined;
  readonly metaKeys: readonly string[];
}

/** The usermeta keys the import reads for each user. */
export function metaKeysToRead(context: MapContext): string[] {
  return [
    ...new Set(
      [
        'first_name',
        'last_name',
        context.capabilitiesKey,
        context.contactIdKey,
        context.tagsKey,
        ...context.metaKeys,
      ].filter((key): key is string => key !== undefined),
    ),
  ];
}

/** One WordPress user as crm-bridge will hold it, or why it cannot come over. */
export function mapWordPressUser(
  record: WordPressUserRecord,
  context: MapContext,
): { user: ImportedUser } | { skip: string } {
  const email = (record.user_email ?? '').trim();
  if (!isValidEmail(email)) return { skip: 'no valid e-mail address' };
  const login = (record.user_login ?? '').trim();
  if (!login) return { skip: 'no username' };
  const meta: Record<string, string> = {};
  for (const key of context.metaKeys) {
    const value = record.meta.get(key);
    if (value !== undefined && value !== '') meta[key] = value;
  }
  const hash = (record.user_pass ?? '').trim();
  const contactId = context.contactIdKey
    ? record.meta.get(context.contactIdKey)?.trim()
    : undefined;
  return {
    user: {
      wpId: record.ID,
      login,
      email,
      firstName: record.meta.get('first_name')?.trim() ?? '',
      lastName: record.meta.get('last_name')?.trim() ?? '',
      displayName: (record.display_name ?? '').trim(),
      registeredAt: registeredAt(record.user_registered),
      passwordHash: isWordPressHash(hash) ? hash : undefined,
      roles: readCapabilities(record.meta.get(context.capabilitiesKey)),
      contactId: contactId || undefined,
      tagIds: context.tagsKey ? readTagIds(record.meta.get(context.tagsKey)) : [],
      meta,
    },
  };
}
