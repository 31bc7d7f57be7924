/**
 * CRM credentials at rest: a connector's secret settings (API keys, app
 * passwords) are stored sealed, so a database dump alone opens no CRM.
 * Rows written in clear (by an earlier version, or straight into the table)
 * still work and are sealed when a process with the sealing key opens them.
 */
import type { Kysely } from 'kysely';
import { connectorDefinition } from '../connectors/index.js';
import type { ConnectorDefinition } from '../connectors/types.js';
import { AppError } from '../errors.js';
import { isSealed, type Sealer } from '../lib/seal.js';
import type { DB } from '../storage/schema.js';

type Settings = Record<string, unknown>;

/** The settings with every secret setting that is text sealed. */
export function sealCredentials(
  definition: ConnectorDefinition,
  settings: Readonly<Settings>,
  sealer: Sealer,
): Settings {
  const result: Settings = { ...settings };
  for (const name of definition.secretSettings) {
    const value = result[name];
    if (typeof value === 'string' && value !== '' && !isSealed(value))
      result[name] = sealer.seal(value);
  }
  return result;
}

/** The settings with sealed secret settings opened, for the connector. */
export function openCredentials(
  connectionId: string,
  definition: ConnectorDefinition,
  settings: Readonly<Settings>,
  sealer: Sealer,
): Settings {
  const result: Settings = { ...settings };
  for (const name of definition.secretSettings) {
    const value = result[name];
    if (typeof value !== 'string' || !isSealed(value)) continue;
    try {
      result[name] = sealer.open(value);
    } catch {
      throw new AppError(
        'INVALID_CONFIG',
        `connection "${connectionId}": ${name} was sealed with another encryption key; restore that key or set ${name} again`,
      );
    }
  }
  return result;
}

/** Seals credentials stored in clear; returns how many connections changed. */
export async function sealStoredCredentials(db: Kysely<DB>, sealer: Sealer): Promise<number> {
  const rows = await db.selectFrom('connections').select(['id', 'type', 'settings']).execute();
  let changed = 0;
  for (const row of rows) {
    const definition = connectorDefinition(row.type);
    if (!definition) continue;
    const settings = JSON.parse(row.settings) as Settings;
    const sealed = sealCredentials(definition, settings, sealer);
    if (definition.secretSettings.every((name) => sealed[name] === settings[name])) continue;
    await db
      .updateTable('connections')
      .set({ settings: JSON.stringify(sealed) })
      .where('id', '=', row.id)
      .execute();
    changed += 1;
  }
  return changed;
}
