/**
 * `crm-bridge import wordpress`: brings a WordPress site's users, roles and
 * WP Fusion data over. The site-wide part (roles, settings, the connection's
 * field map, tag labels, the access key) is one step; then each user is its
 * own step, committed as it goes (in batches), so an interrupted import is
 * resumed by running it again. A dry run does every step in one transaction
 * that is rolled back at the end, so it reports exactly what a real run would do.
 */
import type { Kysely } from 'kysely';
import { isAdminRole } from '../../actions/rules.js';
import { writeActivity } from '../../activity/activity.repository.js';
import { isoNow, type Clock } from '../../clock.js';
import {
  findConnection,
  listConnections,
  updateConnection,
} from '../../connections/connection.repository.js';
import { generatePassword, hashPassword } from '../../directory/passwords.js';
import { listRoles, saveRole, type Role } from '../../directory/role.repository.js';
import { AppError } from '../../errors.js';
import type { Sealer } from '../../lib/seal.js';
import { isWeakAccessKey, setAccessKey } from '../../settings/access-keys.js';
import {
  loadSettings,
  readSettingValues,
  saveSetting,
  type SettingName,
} from '../../settings/settings.js';
import type { ConnectionRow, DB } from '../../storage/schema.js';
import {
  connectorTypeForWpfCrm,
  mapWordPressUser,
  metaKeysToRead,
  readTagLabels,
  readWordPressRoles,
  readWpFusionOptions,
  type MapContext,
  type WpFusionSettings,
} from './wordpress.mapper.js';
import { openWordPressSource, type WordPressSource } from './wordpress.reader.js';
import { writeImportedUser, type WriteTarget } from './wordpress.writer.js';

const PAGE_SIZE = 500;

export interface ImportOptions {
  /** mysql://user:password@host:3306/database */
  readonly from: string;
  readonly prefix: string;
  readonly connectionId?: string | undefined;
  readonly dryRun: boolean;
}

export interface ImportDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly sealer: Sealer;
  readonly settingOverrides: Readonly<Record<string, string>>;
  /** Called as users are done. */
  readonly onProgress?: ((progress: ImportProgress) => void) | undefined;
}

export interface ImportProgress {
  done: number;
  total: number;
  errors: number;
}

export interface ImportSummary {
  source: string;
  dryRun: boolean;
  connection: { id: string; type: string } | null;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Skipped users by reason. */
  skipped: Record<string, number>;
  errors: Array<{ wordpressId: string; message: string }>;
  passwordsCarried: number;
  contactsLinked: number;
  tagsAdded: number;
  tagLabelsSaved: number;
  rolesCreated: string[];
  /** Settings and connection settings changed, as `name=value`. */
  settingsChanged: string[];
  accessKey: 'imported' | 'unchanged' | 'none';
  /** Per-user notices, with the user's WordPress ID and login. */
  notices: string[];
  warnings: string[];
}

/** Users written per transaction: a commit per user would spend most of the time waiting for the disk. */
const USERS_PER_COMMIT = 100;

/**
 * Runs the import's steps inside a transaction, each under its own savepoint,
 * so a step that fails is undone alone. `checkpoint` commits every
 * USERS_PER_COMMIT steps (an interrupted import loses at most that many, and
 * running it again redoes them); a dry run never commits and rolls back at the end.
 */
interface Steps {
  run<T>(work: (db: Kysely<DB>) => Promise<T>): Promise<T>;
  checkpoint(): Promise<void>;
  finish(): Promise<void>;
  abandon(): Promise<void>;
}

async function openSteps(db: Kysely<DB>, dryRun: boolean): Promise<Steps> {
  let trx = await db.startTransaction().execute();
  let count = 0;
  let sinceCommit = 0;
  return {
    async run(work) {
      const name = `import_step_${(count += 1)}`;
      const step = await trx.savepoint(name).execute();
      try {
        const result = await work(step);
        await step.releaseSavepoint(name as never).execute();
        sinceCommit += 1;
        return result;
      } catch (error) {
        await step.rollbackToSavepoint(name as never).execute();
        throw error;
      }
    },
    async checkpoint() {
      if (dryRun || sinceCommit < USERS_PER_COMMIT) return;
      await trx.commit().execute();
      trx = await db.startTransaction().execute();
      sinceCommit = 0;
    },
    finish: () => (dryRun ? trx.rollback().execute() : trx.commit().execute()),
    abandon: () => trx.rollback().execute(),
  };
}

/** The connection contact ids and tags belong to: --connection, else the one of WP Fusion's CRM type. */
async function resolveConnection(
  db: Kysely<DB>,
  requested: string | undefined,
  wpf: WpFusionSettings,
): Promise<ConnectionRow | null> {
  const all = await listConnections(db);
  const names = all.map((row) => `${row.id} (${row.type})`).join(', ') || 'none';
  if (requested) {
    const row = await findConnection(db, requested);
    if (!row) throw new AppError('UNKNOWN_CONNECTION', `"${requested}"; connections: ${names}`);
    return row;
  }
  if (!wpf.crm) return null;
  const type = connectorTypeForWpfCrm(wpf.crm);
  const ofType = all.filter((row) => row.type === type);
  const chosen = ofType.length === 1 ? ofType[0] : ofType.find((row) => row.is_default === 1);
  if (chosen) return chosen;
  throw new AppError(
    'UNKNOWN_CONNECTION',
    ofType.length === 0
      ? `WP Fusion was connected to "${wpf.crm}", and no connection here is of type "${type}" (connections: ${names}); add it with \`crm-bridge connections add ${type}\` first, or name one with --connection`
      : `several connections are of type "${type}" (${ofType.map((row) => row.id).join(', ')}); name one with --connection`,
  );
}

/** The site-wide part: roles, settings, the connection's mapping, tag labels and the access key. */
async function importSite(
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
    if (isWeakAccessKey(input.wpf.accessKey))
      summary.warnings.push(
        `the imported access key is short (${input.wpf.accessKey.length} characters), so it is weak: once every automation works, rotate it (\`crm-bridge access-key rotate --grace-hours 72\`) and give the CRMs the new key during the grace period`,
      );
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

async function importUsers(
  source: WordPressSource,
  steps: Steps,
  deps: ImportDeps,
  context: MapContext,
  target: Omit<WriteTarget, 'roles' | 'defaultRole'>,
  summary: ImportSummary,
): Promise<void> {
  const roles = await steps.run((trx) => listRoles(trx));
  const defaultRole = await steps.run(
    async (trx) => (await loadSettings(trx, deps.settingOverrides)).default_role,
  );
  const writeTarget: WriteTarget = { ...target, roles, defaultRole };
  const metaKeys = metaKeysToRead(context);
  let afterId = '0';
  let done = 0;
  const skip = (reason: string) => {
    summary.skipped[reason] = (summary.skipped[reason] ?? 0) + 1;
  };
  for (;;) {
    const page = await source.readUsers(afterId, PAGE_SIZE, metaKeys);
    if (page.length === 0) break;
    for (const record of page) {
      afterId = record.ID;
      const mapped = mapWordPressUser(record, context);
      if ('skip' in mapped) {
        skip(mapped.skip);
      } else {
        try {
          const outcome = await steps.run((trx) =>
            writeImportedUser(trx, mapped.user, writeTarget),
          );
          if (outcome.status === 'skipped') skip(outcome.reason ?? 'skipped');
          else summary[outcome.status] += 1;
          if (outcome.passwordCarried) summary.passwordsCarried += 1;
          if (outcome.contactLinked) summary.contactsLinked += 1;
          summary.tagsAdded += outcome.tagsAdded;
          for (const notice of outcome.notices)
            summary.notices.push(`#${record.ID} ${mapped.user.login}: ${notice}`);
        } catch (error) {
          summary.errors.push({
            wordpressId: record.ID,
            message: error instanceof Error ? error.message : String(error),
          });
        }
      }
      done += 1;
      await steps.checkpoint();
      deps.onProgress?.({
        done,
        total: Math.max(summary.total, done),
        errors: summary.errors.length,
      });
    }
  }
}

/** Imports a WordPress site; see the module comment. */
export async function importWordPress(
  options: ImportOptions,
  deps: ImportDeps,
): Promise<ImportSummary> {
  try {
    return await runImport(options, deps);
  } catch (error) {
    // The message never holds the database password: the reader masks it.
    await writeActivity(
      deps.db,
      [
        {
          level: 'warning',
          action: 'import',
          message: `WordPress import ${options.dryRun ? 'dry run ' : ''}failed: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
      isoNow(deps.clock),
    );
    throw error;
  }
}

async function runImport(options: ImportOptions, deps: ImportDeps): Promise<ImportSummary> {
  const source = await openWordPressSource(options.from, options.prefix);
  try {
    const [wpfRaw, tagsRaw, defaultRole, rolesRaw] = await Promise.all([
      source.readOption('wpf_options'),
      source.readOption('wpf_available_tags'),
      source.readOption('default_role'),
      source.readOption(`${options.prefix}user_roles`),
    ]);
    const wpf = readWpFusionOptions(wpfRaw);
    const connection = await resolveConnection(deps.db, options.connectionId, wpf);
    const summary: ImportSummary = {
      source: source.shown,
      dryRun: options.dryRun,
      connection: connection ? { id: connection.id, type: connection.type } : null,
      total: await source.countUsers(),
      created: 0,
      updated: 0,
      unchanged: 0,
      skipped: {},
      errors: [],
      passwordsCarried: 0,
      contactsLinked: 0,
      tagsAdded: 0,
      tagLabelsSaved: 0,
      rolesCreated: [],
      settingsChanged: [],
      accessKey: 'none',
      notices: [],
      warnings: [],
    };
    if (wpfRaw === undefined)
      summary.warnings.push('no wpf_options: WP Fusion is not installed on this site; users only');
    const steps = await openSteps(deps.db, options.dryRun);
    try {
      await steps.run((trx) =>
        importSite(
          trx,
          deps,
          {
            wpf,
            wpRoles: readWordPressRoles(rolesRaw),
            defaultRole: defaultRole?.trim() || undefined,
            tagLabels: readTagLabels(tagsRaw),
            connection,
          },
          summary,
        ),
      );
      const crm = wpf.crm;
      await importUsers(
        source,
        steps,
        deps,
        {
          capabilitiesKey: `${options.prefix}capabilities`,
          contactIdKey: crm ? `${crm}_contact_id` : undefined,
          tagsKey: crm ? `${crm}_tags` : undefined,
          metaKeys: wpf.metaKeys,
        },
        {
          connectionId: connection?.id,
          unusableHash: await hashPassword(generatePassword(32)),
          at: isoNow(deps.clock),
        },
        summary,
      );
      await steps.finish();
    } catch (error) {
      await steps.abandon();
      throw error;
    }
    if (!options.dryRun) await recordImport(deps, summary);
    return summary;
  } finally {
    await source.close();
  }
}

async function recordImport(deps: ImportDeps, summary: ImportSummary): Promise<void> {
  const skipped = Object.values(summary.skipped).reduce((sum, n) => sum + n, 0);
  await writeActivity(
    deps.db,
    [
      {
        level: summary.errors.length > 0 ? 'warning' : 'notice',
        action: 'import',
        connectionId: summary.connection?.id ?? null,
        message: `WordPress import from ${summary.source}: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged, ${skipped} skipped, ${summary.errors.length} errors`,
        data: {
          passwordsCarried: summary.passwordsCarried,
          contactsLinked: summary.contactsLinked,
          tagsAdded: summary.tagsAdded,
          skipped: summary.skipped,
          settingsChanged: summary.settingsChanged,
          accessKey: summary.accessKey,
        },
      },
    ],
    isoNow(deps.clock),
  );
}
