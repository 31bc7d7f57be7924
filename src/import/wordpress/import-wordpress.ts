/**
 * `crm-bridge import wordpress`: brings a WordPress site's users, roles and
 * WP Fusion data over. The site-wide part (roles, settings, the connection's
 * field map, tag labels, the access key) is one step; then each user is its
 * own step, committed as it goes (in batches), so an interrupted import is
 * resumed by running it again. A dry run does every step in one transaction
 * that is rolled back at the end, so it reports exactly what a real run would do.
 */
import type { Kysely } from 'kysely';
import { writeActivity } from '../../activity/activity.repository.js';
import { isoNow } from '../../clock.js';
import { findConnection, listConnections } from '../../connections/connection.repository.js';
import { generatePassword, hashPassword } from '../../directory/passwords.js';
import { listRoles } from '../../directory/role.repository.js';
import { AppError } from '../../errors.js';
import { loadSettings } from '../../settings/settings.js';
import type { ConnectionRow, DB } from '../../storage/schema.js';
import { openSteps, type Steps } from './import-steps.js';
import {
  emptySummary,
  type ImportDeps,
  type ImportOptions,
  type ImportSummary,
} from './import-summary.js';
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
import { importSite } from './wordpress.site.js';
import { writeImportedUser, type WriteTarget } from './wordpress.writer.js';

export type { ImportDeps, ImportOptions, ImportSummary } from './import-summary.js';

const PAGE_SIZE = 500;

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
    const summary = emptySummary(
      source.shown,
      options.dryRun,
      connection ? { id: connection.id, type: connection.type } : null,
      await source.countUsers(),
    );
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
