/** `crm-bridge admin create`: an administrator for the admin area, with a one-time set-password link. */
import type { Command } from 'commander';
import { createAdminAccount } from '../accounts/admin-account.js';
import { publicBaseUrl } from '../config.js';
import { loadSettings } from '../settings/settings.js';
import type { CliDeps } from './deps.js';

export function registerAdminCommands(program: Command, { io, clock, withDb }: CliDeps): void {
  const admin = program.command('admin').description('administrators of the admin area (/admin)');
  admin
    .command('create')
    .description(
      'make an administrator (or give an existing user an admin role); prints a one-time set-password link',
    )
    .requiredOption('--email <email>', 'their e-mail address')
    .option('--login <login>', 'their username (default: the e-mail address)')
    .action((options: { email: string; login?: string }, command: Command) =>
      withDb(command, async ({ db }, config) => {
        const settings = await loadSettings(db, config.settingOverrides);
        const account = await createAdminAccount(
          { db, clock },
          {
            email: options.email,
            login: options.login,
            linkTtlMs: settings.password_link_hours * 3_600_000,
          },
        );
        const link = `${publicBaseUrl(config)}/set-password?token=${encodeURIComponent(account.token)}`;
        // Only the link on stdout, so it can be piped; the rest goes to stderr.
        io.out(link);
        io.err(
          `${account.promoted ? 'existing user' : 'administrator'} ${account.user.login} <${account.user.email}> holds the ${account.user.role} role; ` +
            `the link above works once, until ${account.expiresAt.toISOString()}; then log in at ${publicBaseUrl(config)}/admin`,
        );
      }),
    );
}
