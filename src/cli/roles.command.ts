/** `crm-bridge roles list|add`: the roles users can hold. */
import type { Command } from 'commander';
import { addRole } from '../directory/role-admin.js';
import { listRoles } from '../directory/role.repository.js';
import type { CliDeps } from './deps.js';
import { formatTable } from './output.js';

export function registerRoleCommands(program: Command, { io, withDb, print }: CliDeps): void {
  const roles = program.command('roles').description('roles users can hold');
  roles
    .command('list')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const rows = await listRoles(db);
        print(rows, options.json, () =>
          formatTable(
            ['slug', 'name', 'admin'],
            rows.map((r) => [r.slug, r.name, r.isAdmin ? 'yes' : '']),
          ),
        );
      }),
    );
  roles
    .command('add <slug> <name>')
    .description('register a role (e.g. customer "Customer")')
    .option('--admin', 'the role can manage the site (never assigned by webhooks)')
    .action((slug: string, name: string, options: { admin?: boolean }, command: Command) =>
      withDb(command, async ({ db }, config) => {
        await addRole(
          db,
          config.settingOverrides,
          { slug, name, isAdmin: options.admin === true },
          { replace: true },
        );
        io.out(`role ${slug} saved`);
      }),
    );
}
