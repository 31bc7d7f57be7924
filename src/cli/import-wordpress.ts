/** `crm-bridge import wordpress`: brings a WordPress / WP Fusion site's users and settings over. */
import type { Command } from 'commander';
import { importWordPress, type ImportSummary } from '../import/wordpress/import-wordpress.js';
import { CliExit, type CliDeps } from './deps.js';
import { createProgressReporter } from './progress.js';

/** Notices shown in the text summary; --json has them all. */
const MAX_NOTICES = 25;

interface ImportWordPressOptions {
  from: string;
  prefix: string;
  connection?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** True when the run changed nothing at all (a second run of the same import). */
function changedNothing(summary: ImportSummary): boolean {
  return (
    summary.created === 0 &&
    summary.updated === 0 &&
    summary.rolesCreated.length === 0 &&
    summary.settingsChanged.length === 0 &&
    summary.tagLabelsSaved === 0 &&
    summary.accessKey !== 'imported'
  );
}

function formatSummary(summary: ImportSummary): string {
  const skipped = Object.entries(summary.skipped);
  const skippedCount = skipped.reduce((sum, [, n]) => sum + n, 0);
  const lines = [
    summary.dryRun ? 'Dry run: nothing was written. A real run would do this:' : '',
    `WordPress import from ${summary.source}${summary.connection ? ` into connection "${summary.connection.id}" (${summary.connection.type})` : ' (no CRM connection: contact ids and tags are not imported)'}`,
    `Users in WordPress: ${summary.total}`,
    `  created:   ${summary.created}`,
    `  updated:   ${summary.updated}`,
    `  unchanged: ${summary.unchanged}`,
    `  skipped:   ${skippedCount}`,
    ...skipped.map(([reason, n]) => `    ${n} × ${reason}`),
    `  errors:    ${summary.errors.length}`,
    ...summary.errors.map((error) => `    #${error.wordpressId}: ${error.message}`),
    `Passwords carried: ${summary.passwordsCarried}`,
    `Contacts linked: ${summary.contactsLinked}`,
    `Tags added: ${summary.tagsAdded} (tag labels saved: ${summary.tagLabelsSaved})`,
    `Roles created: ${summary.rolesCreated.join(', ') || 'none'}`,
    `Settings changed: ${summary.settingsChanged.join(', ') || 'none'}`,
    `Access key: ${summary.accessKey === 'imported' ? "WP Fusion's key imported" : summary.accessKey === 'unchanged' ? "WP Fusion's key already in use" : 'none in WP Fusion'}`,
  ];
  if (summary.notices.length > 0) {
    lines.push(
      'Notices:',
      ...summary.notices.slice(0, MAX_NOTICES).map((notice) => `  - ${notice}`),
    );
    if (summary.notices.length > MAX_NOTICES)
      lines.push(`  … and ${summary.notices.length - MAX_NOTICES} more (all of them with --json)`);
  }
  if (summary.warnings.length > 0)
    lines.push('Warnings:', ...summary.warnings.map((warning) => `  - ${warning}`));
  if (changedNothing(summary))
    lines.push(
      summary.dryRun
        ? 'Nothing would change: everything is already imported.'
        : 'Nothing changed: everything was already imported.',
    );
  return lines.filter((line) => line !== '').join('\n');
}

/** `import wordpress`, under the `import` group. */
export function registerWordPressImport(importCommand: Command, deps: CliDeps): void {
  const { io, clock, withDb } = deps;
  importCommand
    .command('wordpress')
    .description(
      'import a WordPress site: users with their passwords, roles, WP Fusion contact ids, tags, access key and settings (run again to resume; it never duplicates)',
    )
    .requiredOption('--from <url>', 'the WordPress database: mysql://user:password@host:3306/name')
    .option('--prefix <prefix>', 'WordPress table prefix', 'wp_')
    .option(
      '--connection <id>',
      "connection for WP Fusion's contact ids and tags (default: the one of its CRM)",
    )
    .option('--dry-run', 'report what would change without writing anything')
    .option('--json', 'print the summary as JSON')
    .action((options: ImportWordPressOptions, command: Command) =>
      withDb(command, async ({ db }, config, sealer) => {
        const progress = createProgressReporter(io.err, options.json ? undefined : io.terminal);
        const summary = await importWordPress(
          {
            from: options.from,
            prefix: options.prefix,
            connectionId: options.connection,
            dryRun: options.dryRun === true,
          },
          {
            db,
            clock,
            sealer,
            settingOverrides: config.settingOverrides,
            onProgress: (counts) => progress.update(counts),
          },
        );
        progress.end();
        deps.print(summary, options.json, () => formatSummary(summary));
        if (summary.errors.length > 0)
          throw new CliExit(1, `${summary.errors.length} user(s) could not be imported; see above`);
      }),
    );
}
