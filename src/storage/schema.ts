/**
 * Row types of every table. Timestamps are ISO-8601 UTC strings on both
 * dialects (fixed width, so they sort and compare as text); flags are 0/1.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface AccessKeysTable {
  id: Generated<number>;
  /** Kept so `access-key show` can print it, as the CRM must be given it. */
  secret: string;
  fingerprint: string;
  created_at: string;
  /** Null for the current key; set when a rotation leaves it valid for a grace period. */
  expires_at: string | null;
}

export interface RolesTable {
  slug: string;
  name: string;
  /** Admin-capable roles are never assigned by a webhook, and their holders are never re-roled. */
  is_admin: number;
}

export interface UsersTable {
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

export interface UserMetaTable {
  user_id: number;
  meta_key: string;
  meta_value: string;
}

export interface TagsTable {
  connection_id: string;
  tag_id: string;
  label: string;
  updated_at: string;
}

export interface UserTagsTable {
  user_id: number;
  connection_id: string;
  tag_id: string;
  added_at: string;
}

export interface ContactLinksTable {
  connection_id: string;
  contact_id: string;
  user_id: number;
  created_at: string;
}

export interface ConnectionsTable {
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

export const EVENT_STATUSES = ['pending', 'running', 'done', 'skipped', 'failed', 'rejected'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface WebhookEventsTable {
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
}

export interface ContactLeasesTable {
  connection_id: string;
  contact_id: string;
  owner: string;
  expires_at: string;
}

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ActivityLogTable {
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
  activity_log: ActivityLogTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type NewWebhookEventRow = Insertable<WebhookEventsTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type ActivityLogRow = Selectable<ActivityLogTable>;
