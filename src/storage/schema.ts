/**
 * Row types of every table. Timestamps are ISO-8601 UTC strings on both
 * dialects (fixed width, so they sort and compare as text); flags are 0/1.
 */
import type { Generated, Insertable, Kysely, Selectable, Updateable } from 'kysely';

interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface AccessKeysTable {
  id: Generated<number>;
  /** Sealed (see lib/seal.ts), so `access-key show` can print it, as the CRM must be given it. */
  secret: string;
  /** Keyed digest the webhook's key is checked against; null only before the row is first sealed. */
  secret_hash: string | null;
  fingerprint: string;
  created_at: string;
  /** Null for the current key; set when a rotation leaves it valid for a grace period. */
  expires_at: string | null;
}

interface RolesTable {
  slug: string;
  name: string;
  /** Admin-capable roles are never assigned by a webhook, and their holders are never re-roled. */
  is_admin: number;
}

interface UsersTable {
  id: Generated<number>;
  login: string;
  email: string;
  email_lower: string;
  password_hash: string;
  password_generated: number;
  role: string;
  first_name: string;
  last_name: string;
  display_name: string;
  created_at: string;
  updated_at: string;
}

interface UserMetaTable {
  user_id: number;
  meta_key: string;
  meta_value: string;
}

interface TagsTable {
  connection_id: string;
  tag_id: string;
  label: string;
  updated_at: string;
}

interface UserTagsTable {
  user_id: number;
  connection_id: string;
  tag_id: string;
  added_at: string;
}

interface ContactLinksTable {
  connection_id: string;
  contact_id: string;
  user_id: number;
  created_at: string;
}

interface ConnectionsTable {
  id: string;
  type: string;
  name: string;
  api_url: string | null;
  /** JSON object of connector settings (credentials, field mapping, options). */
  settings: string;
  is_default: number;
  created_at: string;
  updated_at: string;
}

export const EVENT_STATUSES = [
  'pending',
  'running',
  'done',
  'skipped',
  'failed',
  'rejected',
] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

interface WebhookEventsTable {
  id: Generated<number>;
  received_at: string;
  connection_id: string;
  action: string;
  contact_id: string | null;
  email: string | null;
  status: EventStatus;
  attempts: number;
  /** When a pending event may next be tried. */
  available_at: string;
  /** Worker holding the event while it runs, and until when. */
  locked_by: string | null;
  locked_until: string | null;
  /** JSON: the parsed webhook parameters, without the access key. */
  params: string;
  /** JSON: the raw request (method, URL, content type, body) for inspection and replay. */
  request: string;
  /** JSON: the outcome shown to the caller. */
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  finished_at: string | null;
  replay_of: number | null;
  client_ip: string | null;
  /** The import job that queued this webhook (source "import"); null for webhooks from outside. */
  import_job_id?: number | null;
}

interface ContactLeasesTable {
  connection_id: string;
  contact_id: string;
  owner: string;
  expires_at: string;
  /** Raised each time a worker takes the lease: the fencing token its run checks before writing. */
  generation: Generated<number>;
}

/** One row per contact with pending or running webhooks: what a claim reads. */
interface DueContactsTable {
  connection_id: string;
  contact_id: string;
  /** When the contact's next run may start (a retry holds the whole contact until it is due). */
  due_at: string;
  /** Raised by every webhook stored for the contact; the row is deleted only at the version read. */
  version: number;
}

type CrmWriteStatus = 'pending' | 'done' | 'failed';

/** The outbox of write-backs to a CRM, committed with the user change they belong to. */
interface CrmWritesTable {
  id: Generated<number>;
  connection_id: string;
  contact_id: string;
  user_id: number | null;
  /** The webhook whose run queued it. */
  event_id: number | null;
  /** What is written: `return_password`. */
  kind: string;
  /** The CRM field the write is for (Return Password); others may go with it. */
  field: string;
  /** The fields written (JSON: the password and what goes with it), sealed; emptied once final. */
  value: string;
  status: CrmWriteStatus;
  attempts: number;
  available_at: string;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  finished_at: string | null;
}
export type CrmWriteRow = Selectable<CrmWritesTable>;

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface ActivityLogTable {
  id: Generated<number>;
  at: string;
  level: LogLevel;
  event_id: number | null;
  connection_id: string | null;
  contact_id: string | null;
  user_id: number | null;
  action: string | null;
  message: string;
  /** JSON with details (loaded fields, changes); secrets already redacted. */
  data: string | null;
}

export type MailKind = 'welcome' | 'password_reset';
export const MAIL_STATUSES = ['pending', 'sent', 'failed'] as const;
export type MailStatus = (typeof MAIL_STATUSES)[number];

/**
 * Messages waiting to be sent, and a record of those sent. The body is rendered
 * when the message is sent, so a set-password link exists only in the message.
 */
interface MailQueueTable {
  id: Generated<number>;
  kind: MailKind;
  user_id: number | null;
  to_address: string;
  status: MailStatus;
  attempts: number;
  available_at: string;
  locked_by: string | null;
  locked_until: string | null;
  /** The webhook event whose run queued the message, if any. */
  event_id: number | null;
  subject: string | null;
  /** Where it went: the SMTP server's answer, or the outbox file. */
  delivered_to: string | null;
  error_message: string | null;
  created_at: string;
  sent_at: string | null;
}

export type TokenPurpose = 'welcome' | 'password_reset';

/** Single-use set-password links; only a SHA-256 of the token is kept. */
interface PasswordTokensTable {
  token_hash: string;
  user_id: number;
  purpose: TokenPurpose;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** Login sessions; the cookie holds the secret, the table its SHA-256. */
interface SessionsTable {
  id_hash: string;
  user_id: number;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
}

/** Tokens for the REST API; only a SHA-256 is kept, plus a prefix to recognise them by. */
interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Fixed-window counters shared by every process (login and reset limits). */
interface RateLimitsTable {
  key: string;
  count: number;
  window_ends_at: string;
}

/** The database, or a transaction on it: what every repository function takes. */
export type Db = Kysely<DB>;

type ImportStatus = 'running' | 'done' | 'failed' | 'cancelled';

/**
 * Contact imports: each lists the CRM's contacts page by page (resuming at
 * `cursor`) and queues one `add` webhook per contact, marked with the job id.
 */
interface ImportJobsTable {
  id: Generated<number>;
  connection_id: string;
  /** The CRM's tag id; null imports every contact. */
  tag_id: string | null;
  tag_label: string | null;
  status: ImportStatus;
  /** Contacts queued so far; final once `listed_all` is 1. */
  total: number;
  listed_all: number;
  /** Where listing resumes (the connector's page cursor); null before the first page. */
  cursor: string | null;
  /** 1: every imported contact is sent the welcome e-mail (as `send_notification=true`). */
  send_welcome: number;
  /** The process listing the job, and until when its claim holds. */
  locked_by: string | null;
  locked_until: string | null;
  error_code: string | null;
  error_message: string | null;
  /** Who started it (an admin's e-mail, or "cli"). */
  started_by: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** CRM call slots shared by every process on PostgreSQL (see migration 0007). */
interface CrmCallSlotsTable {
  connection_id: string;
  slot: number;
  /** When the slot may be taken again, in milliseconds since 1970 on the database's clock. */
  free_at: string | number;
}

export interface DB {
  settings: SettingsTable;
  access_keys: AccessKeysTable;
  roles: RolesTable;
  users: UsersTable;
  user_meta: UserMetaTable;
  tags: TagsTable;
  user_tags: UserTagsTable;
  contact_links: ContactLinksTable;
  connections: ConnectionsTable;
  webhook_events: WebhookEventsTable;
  contact_leases: ContactLeasesTable;
  due_contacts: DueContactsTable;
  crm_writes: CrmWritesTable;
  activity_log: ActivityLogTable;
  mail_queue: MailQueueTable;
  password_tokens: PasswordTokensTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  rate_limits: RateLimitsTable;
  import_jobs: ImportJobsTable;
  crm_call_slots: CrmCallSlotsTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type NewWebhookEventRow = Insertable<WebhookEventsTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type ActivityLogRow = Selectable<ActivityLogTable>;
export type MailRow = Selectable<MailQueueTable>;
export type ImportJobRow = Selectable<ImportJobsTable>;
