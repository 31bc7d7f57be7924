/** `crm-bridge access-key show|rotate`: the key CRMs send with their webhooks. */
import type { Command } from 'commander';
import { currentAccessKey, rotateAccessKey } from '../settings/access-keys.js';
import { loadSettings } from '../settings/settings.js';
import type { CliDeps } from './deps.js';

export function registerAccessKeyCommands(program: Command, { io, clock, withDb }: CliDeps): void {
  const accessKey = program.command('access-key').description('show or rotate the access key');
  accessKey
    .command('show')
    .description('print the current access key')
    .action((_options: unknown, command: Command) =>
      withDb(command, async ({ db }, _config, sealer) =>
        io.out((await currentAccessKey(db, clock, sealer)).secret),
      ),
    );
  accessKey
    .command('rotate')
    .description('make a new key; the old one keeps working for the grace period')
    .option('--grace-hours <hours>', 'grace period (default: the access_key_grace_hours setting)')
    .action((options: { graceHours?: string }, command: Command) =>
      withDb(command, async ({ db }, config, sealer) => {
        const settings = await loadSettings(db, config.settingOverrides);
        const hours =
          options.graceHours === undefined
            ? settings.access_key_grace_hours
            : Number(options.graceHours);
        if (!Number.isFinite(hours) || hours < 0)
          throw new Error('--grace-hours must be a number of hours');
        const key = await rotateAccessKey(db, clock, sealer, hours * 3_600_000);
        io.out(key.secret);
        io.err(`the previous key stays valid for ${hours} hour(s)`);
      }),
    );
}
