/**
 * Adding and changing CRM connections, shared by `crm-bridge connections`
 * and the admin pages: settings checked against the connector's schema and
 * the common one, credentials never sent over plain http by accident, and
 * secret settings sealed before they are stored.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { isInsecureHttpUrl } from '../connectors/http-client.js';
import { connectorDefinition } from '../connectors/index.js';
import type { ConnectorDefinition } from '../connectors/types.js';
import { AppError } from '../errors.js';
import type { Sealer } from '../lib/seal.js';
import { isSecretName, MASK } from '../lib/secrets.js';
import { saveTagLabels } from '../directory/tag.repository.js';
import type { ConnectionRow, DB } from '../storage/schema.js';
import {
  findConnection,
  insertConnection,
  setDefaultConnection,
  updateConnection,
} from './connection.repository.js';
import { openCredentials, sealCredentials } from './credentials.js';
import { CommonSettingsSchema, withSecretOverrides } from './registry.js';

export interface ConnectionAdminDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly sealer: Sealer;
  /** `CRM_BRIDGE_SECRET_*` credentials, which count when the settings are checked. */
  readonly secretOverrides: Readonly<Record<string, string>>;
}

const CONNECTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

type Settings = Record<string, unknown>;

/** True for a setting of this connector that holds a secret. */
export function isSecretSetting(definition: ConnectorDefinition, key: string): boolean {
  return definition.secretSettings.includes(key) || isSecretName(key);
}

/** The definition of a known type, or INVALID_CONFIG naming the known ones. */
function requireDefinition(type: string): ConnectorDefinition {
  const definition = connectorDefinition(type);
  if (!definition) throw new AppError('INVALID_CONFIG', `unknown CRM type "${type}"`);
  return definition;
}

/** Refuses an API URL that would send the credentials unencrypted over a network, unless the connection allows it. */
function checkTransport(apiUrl: string | null | undefined, settings: Settings): void {
  if (!apiUrl || settings.allow_insecure_http === true || !isInsecureHttpUrl(apiUrl.trim())) return;
  throw new AppError(
    'INVALID_CONFIG',
    `the API URL ${apiUrl} is plain http to a host other than this machine, so the CRM credentials would travel unencrypted; ` +
      'use https, or add allow_insecure_http=true if the network between here and the CRM is trusted',
  );
}

function validate(definition: ConnectorDefinition, settings: Settings): void {
  const problems = [
    ...(CommonSettingsSchema.safeParse(settings).error?.issues ?? []),
    ...(definition.settingsSchema.safeParse(settings).error?.issues ?? []),
  ];
  if (problems.length > 0) {
    throw new AppError(
      'INVALID_CONFIG',
      problems.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`).join('; '),
    );
  }
}

/** The stored settings of a connection with its credentials opened. */
export function openConnectionSettings(sealer: Sealer, row: ConnectionRow): Settings {
  return openCredentials(
    row.id,
    requireDefinition(row.type),
    JSON.parse(row.settings) as Settings,
    sealer,
  );
}

/** Settings for display: every secret masked. */
export function maskConnectionSettings(type: string, settings: Settings): Settings {
  const definition = connectorDefinition(type);
  return Object.fromEntries(
    Object.entries(settings).map(([key, value]) => [
      key,
      (definition ? isSecretSetting(definition, key) : isSecretName(key)) && value ? MASK : value,
    ]),
  );
}

export interface NewConnection {
  id: string;
  type: string;
  name?: string | undefined;
  apiUrl?: string | null | undefined;
  settings: Settings;
  makeDefault?: boolean | undefined;
}

export async function createConnection(
  deps: ConnectionAdminDeps,
  input: NewConnection,
): Promise<void> {
  const definition = requireDefinition(input.type);
  if (!CONNECTION_ID_PATTERN.test(input.id))
    throw new AppError('INVALID_CONFIG', 'a connection id uses letters, digits, _ and -');
  if (await findConnection(deps.db, input.id))
    throw new AppError('INVALID_CONFIG', `connection "${input.id}" exists; change it instead`);
  validate(
    definition,
    withSecretOverrides(input.id, definition, input.settings, deps.secretOverrides),
  );
  const apiUrl = input.apiUrl?.trim() || null;
  checkTransport(apiUrl ?? definition.defaultApiUrl, input.settings);
  const now = deps.clock.now().toISOString();
  await insertConnection(deps.db, {
    id: input.id,
    type: input.type,
    name: input.name?.trim() || definition.label,
    api_url: apiUrl,
    settings: JSON.stringify(sealCredentials(definition, input.settings, deps.sealer)),
    is_default: 0,
    created_at: now,
    updated_at: now,
  });
  if (input.makeDefault) await setDefaultConnection(deps.db, input.id, now);
}

export interface ConnectionChange {
  /** The new settings, made from the current ones (credentials opened). */
  settings?: ((current: Settings) => Settings) | undefined;
  /** Undefined keeps the URL; null or '' returns to the connector's default. */
  apiUrl?: string | null | undefined;
  name?: string | undefined;
  makeDefault?: boolean | undefined;
}

export async function changeConnection(
  deps: ConnectionAdminDeps,
  id: string,
  change: ConnectionChange,
): Promise<void> {
  const row = await findConnection(deps.db, id);
  if (!row) throw new AppError('UNKNOWN_CONNECTION', `"${id}"`);
  const definition = requireDefinition(row.type);
  const current = openConnectionSettings(deps.sealer, row);
  const settings = change.settings ? change.settings(current) : current;
  validate(definition, withSecretOverrides(id, definition, settings, deps.secretOverrides));
  const apiUrl = change.apiUrl === undefined ? row.api_url : change.apiUrl?.trim() || null;
  checkTransport(apiUrl || definition.defaultApiUrl, settings);
  const now = deps.clock.now().toISOString();
  await updateConnection(
    deps.db,
    id,
    {
      settings: JSON.stringify(sealCredentials(definition, settings, deps.sealer)),
      api_url: apiUrl,
      ...(change.name?.trim() ? { name: change.name.trim() } : {}),
    },
    now,
  );
  if (change.makeDefault) await setDefaultConnection(deps.db, id, now);
}

/** Reads the CRM's tag list and stores its labels, so users' tags show by name. */
export async function refreshTagLabels(
  deps: Pick<ConnectionAdminDeps, 'db' | 'clock'>,
  connection: {
    id: string;
    connector: { listTags(): Promise<Array<{ id: string; label: string }>> };
  },
): Promise<Array<{ id: string; label: string }>> {
  const tags = await connection.connector.listTags();
  await saveTagLabels(deps.db, connection.id, tags, deps.clock.now().toISOString());
  return tags;
}
