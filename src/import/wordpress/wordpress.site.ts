/**
 * The site-wide part of a WordPress import, one step: roles, settings, the
 * connection's field map and Return Password, tag labels, the access key.
 * What is here already and equal is left alone, so a second run changes nothing.
 */
import type { Kysely } from 'kysely';
import { isAdminRole } from '../../directory/roles.js';
import { isoNow } from '../../clock.js';
import { updateConnection } from '../../connections/connection.repository.js';
import { listRoles, saveRole, type Role } from '../../directory/role.repository.js';
import { setAccessKey, weakAccessKeyWarning } from '../../settings/access-keys.js';
import {
  loadSettings,
  readSettingValues,
  saveSetting,
  type SettingName,
} from '../../settings/settings.js';
import type { ConnectionRow, DB } from '../../storage/schema.js';
import type { ImportDeps, ImportSummary } from './import-summary.js';
import type { WpFusionSettings } from './wordpress.mapper.js';

/** The site-wide part: roles, settings, the connection's mapping, tag labels and the access key. */
export async function importSite(
  db: Kysely<DB>,
  deps: ImportDeps,
  input: {
    wpf: WpFusionSettings;
    wpRoles: Role[];
    defaultRole: string | undefined;
    tagLabels: Map<string, string>;
    connection: ConnectionRow | null;
  },
  summary: ImportSummary,
): Promise<void> {
  const at = isoNow(deps.clock);
  const existing = await listRoles(db);
  for (const role of input.wpRoles) {
    if (existing.some((have) => have.slug === role.slug)) continue;
    await saveRole(db, role);
    summary.rolesCreated.push(role.isAdmin ? `${role.slug} (admin)` : role.slug);
  }
  const roles = await listRoles(db);

  const stored = new Map(
    (await readSettingValues(db, {})).map((value) => [value.name, value.value]),
  );
  const wanted: Array<[SettingName, string | undefined]> = [
    ['username_format', input.wpf.usernameFormat],
    ['send_welcome_email', input.wpf.sendWelcomeEmail?.toString()],
    ['default_role', input.defaultRole],
  ];
  for (const [name, value] of wanted) {
    if (value === undefined || stored.get(name) === value) continue;
    if (name === 'default_role' && isAdminRole(value, roles)) {
      summary.warnings.push(
        `WordPress's default role "${value}" can manage the site; default_role is left as it is`,
      );
      continue;
    }
    await saveSetting(db, name, value, at);
    summary.settingsChanged.push(`${name}=${value}`);
    if (deps.settingOverrides[name] !== undefined)
      summary.warnings.push(`${name} is overridden by the environment, which still wins`);
  }
  if (input.wpf.unknownUsernameFormat)
    summary.warnings.push(
      `WP Fusion's username format "${input.wpf.unknownUsernameFormat}" has no equivalent here; username_format is left as it is`,
    );

  if (input.connection) {
    await importConnectionSettings(db, input.connection, input.wpf, summary, at);
    summary.tagLabelsSaved = await saveTagLabels(db, input.connection.id, input.tagLabels, at);
  }

  if (input.wpf.accessKey) {
    const settings = await loadSettings(db, deps.settingOverrides);
    const key = await setAccessKey(
      db,
      deps.clock,
      deps.sealer,
      input.wpf.accessKey,
      settings.access_key_grace_hours * 3_600_000,
    );
    summary.accessKey = key.changed ? 'imported' : 'unchanged';
    const weak = weakAccessKeyWarning(input.wpf.accessKey, 'the imported access key');
    if (weak) summary.warnings.push(weak);
    if (key.changed)
      summary.warnings.push(
        `the access key crm-bridge had before stays valid for ${settings.access_key_grace_hours} hour(s)`,
      );
  }
}

async function importConnectionSettings(
  db: Kysely<DB>,
  connection: ConnectionRow,
  wpf: WpFusionSettings,
  summary: ImportSummary,
  at: string,
): Promise<void> {
  const settings = JSON.parse(connection.settings) as Record<string, unknown>;
  const fieldMap = { ...((settings.field_map as Record<string, string> | undefined) ?? {}) };
  const changed: string[] = [];
  // A mapping already made here is the site owner's choice: only new CRM fields are added.
  for (const [crmField, target] of Object.entries(wpf.fieldMap)) {
    if (Object.hasOwn(fieldMap, crmField)) continue;
    fieldMap[crmField] = target;
    changed.push(`${connection.id}.map.${crmField}=${target}`);
  }
  const next: Record<string, unknown> = { ...settings, field_map: fieldMap };
  if (wpf.returnPassword !== undefined && settings.return_password !== wpf.returnPassword) {
    next.return_password = wpf.returnPassword;
    changed.push(`${connection.id}.return_password=${wpf.returnPassword}`);
  }
  if (wpf.returnPasswordField && settings.return_password_field !== wpf.returnPasswordField) {
    next.return_password_field = wpf.returnPasswordField;
    changed.push(`${connection.id}.return_password_field=${wpf.returnPasswordField}`);
  }
  if (changed.length === 0) return;
  await updateConnection(db, connection.id, { settings: JSON.stringify(next) }, at);
  summary.settingsChanged.push(...changed);
}

async function saveTagLabels(
  db: Kysely<DB>,
  connectionId: string,
  labels: Map<string, string>,
  at: string,
): Promise<number> {
  const have = new Map(
    (
      await db
        .selectFrom('tags')
        .select(['tag_id', 'label'])
        .where('connection_id', '=', connectionId)
        .execute()
    ).map((row) => [row.tag_id, row.label]),
  );
  let saved = 0;
  for (const [tagId, label] of labels) {
    if (have.get(tagId) === label) continue;
    await db
      .insertInto('tags')
      .values({ connection_id: connectionId, tag_id: tagId, label, updated_at: at })
      .onConflict((oc) =>
        oc.columns(['connection_id', 'tag_id']).doUpdateSet({ label, updated_at: at }),
      )
      .execute();
    saved += 1;
  }
  return saved;
}
