/** `crm-bridge api-tokens create|list|revoke`: tokens for the REST API. */
import type { Command } from 'commander';
import {
  createApiToken,
  displayPrefix,
  listApiTokens,
  revokeApiToken,
} from '../api/api-tokens.repository.js';
import type { CliDeps } from './deps.js';
import { formatTable } from './output.js';

export function registerApiTokenCommands(
  program: Command,
  { io, clock, withDb, print }: CliDeps,
): void {
  const tokens = program
    .command('api-tokens')
    .description('tokens the site uses for the REST API (/api/v1)');

  tokens
    .command('create')
    .description('make a token; it is printed once and cannot be shown again')
    .requiredOption('--name <name>', 'what the token is for, e.g. "main site"')
    .option('--json', 'print JSON')
    .action((options: { name: string; json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const name = options.name.trim();
        if (name === '' || name.length > 100) throw new Error('--name must be 1 to 100 characters');
        const created = await createApiToken(db, name, clock.now());
        // Only the token on stdout, so `TOKEN=$(crm-bridge api-tokens create --name site)` works.
        print(created, options.json, () => created.token);
        if (!options.json)
          io.err(
            `API token #${created.id} "${created.name}" created; it is shown only this once, so store it now`,
          );
      }),
    );

  tokens
    .command('list')
    .description('every token: id, name, prefix, created, last used, revoked')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const rows = await listApiTokens(db);
        print(rows, options.json, () =>
          formatTable(
            ['id', 'name', 'token', 'created', 'last used', 'revoked'],
            rows.map((row) => [
              String(row.id),
              row.name,
              displayPrefix(row.prefix),
              row.createdAt,
              row.lastUsedAt ?? 'never',
              row.revokedAt ?? '',
            ]),
          ),
        );
      }),
    );

  tokens
    .command('revoke <id>')
    .description('stop a token from working (running servers notice within seconds)')
    .action((id: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }) => {
        if (!/^\d{1,9}$/.test(id))
          throw new Error(`"${id}" is not a token id; see api-tokens list`);
        const outcome = await revokeApiToken(db, Number(id), clock.now());
        if (outcome === 'not_found') throw new Error(`no API token #${id}`);
        io.out(
          outcome === 'revoked'
            ? `API token #${id} revoked`
            : `API token #${id} was already revoked`,
        );
      }),
    );
}
