/** `crm-bridge users list|show`: the users webhooks made. */
import type { Command } from 'commander';
import { describeUser } from '../directory/user-view.js';
import { findUserByReference, listUsers } from '../directory/user.repository.js';
import { CliExit, type CliDeps } from './deps.js';
import { escapeControls, formatTable } from './output.js';

export function registerUserCommands(program: Command, { withDb, print }: CliDeps): void {
  const users = program.command('users').description('look at users');
  users
    .command('list')
    .option('--search <text>', 'part of an e-mail or login')
    .option('--role <role>', 'only this role')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      (
        options: { search?: string; role?: string; limit: string; json?: boolean },
        command: Command,
      ) =>
        withDb(command, async ({ db }) => {
          const rows = await listUsers(db, {
            search: options.search,
            role: options.role,
            limit: Number(options.limit),
          });
          const views = await Promise.all(rows.map((row) => describeUser(db, row)));
          print(views, options.json, () =>
            formatTable(
              ['id', 'login', 'email', 'role', 'tags'],
              views.map((u) => [
                String(u.id),
                u.login,
                u.email,
                u.role,
                u.tags.map((t) => t.label).join(', '),
              ]),
            ),
          );
        }),
    );
  users
    .command('show <user>')
    .description('one user by id, e-mail or login')
    .option('--json', 'print JSON')
    .action((reference: string, options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const row = await findUserByReference(db, reference);
        if (!row) throw new CliExit(3, `no user matches "${reference}"`);
        const view = await describeUser(db, row);
        print(view, options.json, () =>
          [
            `#${view.id} ${view.login} <${view.email}>`,
            `role:     ${view.role}`,
            `name:     ${[view.firstName, view.lastName].filter(Boolean).join(' ')}`,
            `tags:     ${view.tags.map((t) => `${t.label} (${t.connection}:${t.id})`).join(', ') || 'none'}`,
            `contacts: ${view.contacts.map((c) => `${c.connection}:${c.contactId}`).join(', ') || 'none'}`,
            ...Object.entries(view.meta).map(
              ([key, value]) => `meta ${escapeControls(key)}: ${escapeControls(value)}`,
            ),
          ].join('\n'),
        );
      }),
    );
}
