/** `crm-bridge migrate`: create or update the database schema. */
import type { Command } from 'commander';
import type { CliDeps } from './deps.js';

export function registerMigrateCommand(program: Command, { io, withDb }: CliDeps): void {
  program
    .command('migrate')
    .description('create or update the database schema')
    .action((_options: unknown, command: Command) =>
      withDb(command, (database) => {
        io.out(`schema is up to date (${database.dialect}: ${database.displayUrl})`);
      }),
    );
}
