/**
 * Settings live in the database (editable from the CLI); environment
 * variables `CRM_BRIDGE_SETTING_<NAME>` override them. One registry holds
 * each setting's validation, default and meaning.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { isValidEmail } from '../lib/email.js';
import type { DB } from '../storage/schema.js';
import { preparedQuery } from '../storage/prepared-query.js';
import { DEFAULT_TEMPLATES, unknownPlaceholders } from './template-defaults.js';

const booleanSetting = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const template = (what: string) =>
  z
    .string()
    .refine((value) => value.trim() !== '', `the ${what} cannot be empty`)
    .refine((value) => unknownPlaceholders(value).length === 0, {
      error: (issue) =>
        `unknown placeholder ${unknownPlaceholders(String(issue.input))
          .map((name) => `{${name}}`)
          .join(', ')}`,
    });

/**
 * How the username of a new user without a mapped user_login is made: WP Fusion's
 * names, then this service's earlier names for the same formats (the user directory
 * makes the names; `directory/username.ts`).
 */
export const USERNAME_FORMAT_NAMES = [
  'email',
  'flname',
  'fnamenum',
  'first_last',
  'first_number',
] as const;
export type UsernameFormatName = (typeof USERNAME_FORMAT_NAMES)[number];

const count = (max: number) => z.coerce.number().int().min(1).max(max);
/** Whole days to keep something; 0 keeps it forever. */
const days = z.coerce.number().int().min(0).max(36_500);

export const SETTINGS = {
  username_format: {
    schema: z.enum(USERNAME_FORMAT_NAMES),
    default: 'email',
    doc: 'Username of new users without a mapped user_login, as WP Fusion names them: email (the e-mail address), flname (first and last name: JaneDoe) or fnamenum (first name and a number: Jane4711); a name in use gets random digits appended. first_last and first_number are the same as flname and fnamenum.',
  },
  default_role: {
    schema: z.string().trim().min(1),
    default: 'subscriber',
    doc: 'Role of new users when none is given.',
  },
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
    schema: z.coerce
      .number()
      .min(0)
      .max(24 * 90),
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
  retention_done_days: {
    schema: days,
    default: '30',
    doc: 'Days a done or skipped webhook (and a test webhook) is kept after it finished; 0 keeps them forever.',
  },
  retention_failed_days: {
    schema: days,
    default: '90',
    doc: 'Days a failed or rejected webhook is kept after it finished; 0 keeps them forever.',
  },
  retention_activity_days: {
    schema: days,
    default: '30',
    doc: 'Days an activity log line is kept; 0 keeps them forever.',
  },
  retention_mail_days: {
    schema: days,
    default: '30',
    doc: 'Days a sent e-mail stays in the mail queue after it was sent; 0 keeps them forever.',
  },
  site_name: {
    schema: z.string().trim().min(1),
    default: 'crm-bridge',
    doc: 'Site name used in e-mails and pages.',
  },
  site_url: {
    schema: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
    default: '',
    doc: 'The site users go to after logging in (empty: their account page here).',
  },
  mail_from_name: {
    schema: z.string().trim(),
    default: '',
    doc: 'Sender name of e-mails (empty: the site name).',
  },
  mail_from_address: {
    schema: z
      .string()
      .trim()
      .refine((value) => value === '' || isValidEmail(value), 'must be an e-mail address'),
    default: '',
    doc: 'Sender address of e-mails (empty: no-reply@ the host of PUBLIC_URL).',
  },
  mail_retry_max_attempts: {
    schema: count(100),
    default: '15',
    doc: 'Delivery attempts of one e-mail before it is marked failed (the delay doubles from retry_base_delay_ms up to 30 minutes).',
  },
  password_link_hours: {
    schema: z.coerce
      .number()
      .min(0.1)
      .max(24 * 30),
    default: '24',
    doc: 'How long a set-password or reset link stays valid.',
  },
  password_min_length: {
    schema: z.coerce.number().int().min(8).max(128),
    default: '10',
    doc: 'Shortest password a user may choose.',
  },
  session_hours: {
    schema: z.coerce
      .number()
      .min(0.1)
      .max(24 * 365),
    default: '336',
    doc: 'How long a login lasts.',
  },
  login_limit_per_ip: {
    schema: count(10_000),
    default: '30',
    doc: 'Login attempts per client address in 15 minutes.',
  },
  login_limit_per_account: {
    schema: count(1_000),
    default: '5',
    doc: 'Failed logins per account in 15 minutes before further tries are refused for the rest of the window.',
  },
  reset_limit_per_ip: {
    schema: count(10_000),
    default: '10',
    doc: 'Password-reset requests per client address in an hour.',
  },
  reset_limit_per_account: {
    schema: count(100),
    default: '3',
    doc: 'Password-reset e-mails per account in an hour.',
  },
  welcome_email_subject: {
    schema: template('subject'),
    default: DEFAULT_TEMPLATES.welcome_email_subject,
    doc: 'Subject of the welcome e-mail (placeholders: see docs/mail.md).',
  },
  welcome_email_text: {
    schema: template('text body'),
    default: DEFAULT_TEMPLATES.welcome_email_text,
    doc: 'Plain-text body of the welcome e-mail.',
  },
  welcome_email_html: {
    schema: template('HTML body'),
    default: DEFAULT_TEMPLATES.welcome_email_html,
    doc: 'HTML body of the welcome e-mail; placeholder values are HTML-escaped.',
  },
  reset_email_subject: {
    schema: template('subject'),
    default: DEFAULT_TEMPLATES.reset_email_subject,
    doc: 'Subject of the password-reset e-mail.',
  },
  reset_email_text: {
    schema: template('text body'),
    default: DEFAULT_TEMPLATES.reset_email_text,
    doc: 'Plain-text body of the password-reset e-mail.',
  },
  reset_email_html: {
    schema: template('HTML body'),
    default: DEFAULT_TEMPLATES.reset_email_html,
    doc: 'HTML body of the password-reset e-mail.',
  },
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
    throw new AppError(
      'INVALID_SETTING',
      `${name}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data as Settings[K];
}

/** Where each value came from, for `settings get`. */
export interface SettingValue {
  name: SettingName;
  value: string;
  source: 'default' | 'database' | 'environment';
}

const storedSettings = preparedQuery((db) => db.selectFrom('settings').selectAll());

export async function readSettingValues(
  db: Kysely<DB>,
  overrides: Readonly<Record<string, string>>,
): Promise<SettingValue[]> {
  const stored = new Map((await storedSettings(db, {})).rows.map((row) => [row.key, row.value]));
  return SETTING_NAMES.map((name) => {
    const override = overrides[name];
    if (override !== undefined) return { name, value: override, source: 'environment' as const };
    const value = stored.get(name);
    if (value !== undefined) return { name, value, source: 'database' as const };
    return { name, value: SETTINGS[name].default, source: 'default' as const };
  });
}

/** One setting's raw value (environment, database, or default), unvalidated. */
export async function readSettingValue(
  db: Kysely<DB>,
  overrides: Readonly<Record<string, string>>,
  name: SettingName,
): Promise<string> {
  const override = overrides[name];
  if (override !== undefined) return override;
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', name)
    .executeTakeFirst();
  return row?.value ?? SETTINGS[name].default;
}

/** Reads and validates every setting. */
export async function loadSettings(
  db: Kysely<DB>,
  overrides: Readonly<Record<string, string>>,
): Promise<Settings> {
  const values = await readSettingValues(db, overrides);
  const settings: Record<string, unknown> = {};
  for (const { name, value } of values) settings[name] = parseSetting(name, value);
  return Object.freeze(settings) as Settings;
}

/** Checks a setting needs beyond its schema (a layer above provides them, e.g. the default role's). */
export type SettingChecks = Partial<Record<SettingName, (value: string) => Promise<void>>>;

export async function saveSetting(
  db: Kysely<DB>,
  name: string,
  value: string,
  at: string,
  checks: SettingChecks = {},
): Promise<void> {
  if (!isSettingName(name)) {
    throw new AppError(
      'INVALID_SETTING',
      `unknown setting "${name}"; known: ${SETTING_NAMES.join(', ')}`,
    );
  }
  parseSetting(name, value);
  await checks[name]?.(value);
  await db
    .insertInto('settings')
    .values({ key: name, value, updated_at: at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: at }))
    .execute();
}
