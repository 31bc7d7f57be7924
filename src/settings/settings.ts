/**
 * Settings live in the database (editable from the CLI); environment
 * variables `CRM_BRIDGE_SETTING_<NAME>` override them. One registry holds
 * each setting's validation, default and meaning.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { USERNAME_FORMATS } from '../actions/rules.js';
import { AppError } from '../errors.js';
import type { DB } from '../storage/schema.js';

const booleanSetting = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

export const SETTINGS = {
  username_format: {
    schema: z.enum(USERNAME_FORMATS),
    default: 'email',
    doc: 'Username of new users without a mapped user_login: email, first_last (jane.doe) or first_number (jane1234).',
  },
  default_role: { schema: z.string().trim().min(1), default: 'subscriber', doc: 'Role of new users when none is given.' },
  send_welcome_email: {
    schema: booleanSetting,
    default: 'false',
    doc: 'Send the welcome e-mail on every add, as if send_notification=true.',
  },
  default_connection: {
    schema: z.string().trim(),
    default: '',
    doc: 'Connection that webhooks to / use when several exist (empty: the only one, or the one marked default).',
  },
  access_key_grace_hours: {
    schema: z.coerce.number().min(0).max(24 * 90),
    default: '24',
    doc: 'How long the previous access key keeps working after a rotation.',
  },
  retry_max_attempts: {
    schema: z.coerce.number().int().min(1).max(100),
    default: '10',
    doc: 'Attempts (first one included) before a webhook failing with transient errors is marked failed.',
  },
  retry_base_delay_ms: {
    schema: z.coerce.number().int().min(10).max(3_600_000),
    default: '2000',
    doc: 'First retry delay; it doubles on every attempt (with jitter) up to 30 minutes.',
  },
  site_name: { schema: z.string().trim().min(1), default: 'crm-bridge', doc: 'Site name used in e-mails and pages.' },
} as const;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];
export type Settings = { readonly [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}

function parseSetting<K extends SettingName>(name: K, raw: string): Settings[K] {
  const parsed = SETTINGS[name].schema.safeParse(raw);
  if (!parsed.success) {
    throw new AppError('INVALID_SETTING', `${name}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data as Settings[K];
}

/** Where each value came from, for `settings get`. */
export interface SettingValue {
  name: SettingName;
  value: string;
  source: 'default' | 'database' | 'environment';
}

export async function readSettingValues(
  db: Kysely<DB>,
  overrides: Readonly<Record<string, string>>,
): Promise<SettingValue[]> {
  const stored = new Map((await db.selectFrom('settings').selectAll().execute()).map((row) => [row.key, row.value]));
  return SETTING_NAMES.map((name) => {
    const override = overrides[name];
    if (override !== undefined) return { name, value: override, source: 'environment' as const };
    const value = stored.get(name);
    if (value !== undefined) return { name, value, source: 'database' as const };
    return { name, value: SETTINGS[name].default, source: 'default' as const };
  });
}

/** Reads and validates every setting. */
export async function loadSettings(db: Kysely<DB>, overrides: Readonly<Record<string, string>>): Promise<Settings> {
  const values = await readSettingValues(db, overrides);
  const settings: Record<string, unknown> = {};
  for (const { name, value } of values) settings[name] = parseSetting(name, value);
  return Object.freeze(settings) as Settings;
}

export async function saveSetting(db: Kysely<DB>, name: string, value: string, at: string): Promise<void> {
  if (!isSettingName(name)) {
    throw new AppError('INVALID_SETTING', `unknown setting "${name}"; known: ${SETTING_NAMES.join(', ')}`);
  }
  parseSetting(name, value);
  await db
    .insertInto('settings')
    .values({ key: name, value, updated_at: at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: at }))
    .execute();
}
