/** `crm-bridge access-key show|rotate|set`: the key CRMs send with their webhooks. */
import type { Command } from 'commander';
import {
  currentAccessKey,
  rotateAccessKey,
  setAccessKey,
  weakAccessKeyWarning,
} from '../settings/access-keys.js';
import { loadSettings, type Settings } from '../settings/settings.js';
import type { CliDeps } from './deps.js';

/** The grace period from `--grace-hours`, else the setting. */
function graceHours(option: string | undefined, settings: Settings): number {
  const hours = option === undefined ? settings.access_key_grace_hours : Number(option);
  if (!Number.isFinite(hours) || hours < 0)
    throw new Error('--grace-hours must be a number of hours');
  return hours;
}

export function registerAccessKeyCommands(program: Command, { io, clock, withDb }: CliDeps): void {
  const accessKey = program.command('access-key').description('show, rotate or set the access key');
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
        const hours = graceHours(options.graceHours, settings);
        const key = await rotateAccessKey(db, clock, sealer, hours * 3_600_000);
        io.out(key.secret);
        io.err(`the previous key stays valid for ${hours} hour(s)`);
      }),
    );
  accessKey
    .command('set [key]')
    .description(
      'make an existing key (such as the WP Fusion access key the CRM automations send) the current one; read from standard input when left out, so it stays out of the shell history',
    )
    .option('--grace-hours <hours>', 'grace period (default: the access_key_grace_hours setting)')
    .action(
      async (given: string | undefined, options: { graceHours?: string }, command: Command) => {
        const key = given ?? firstLine(await (io.readInput?.() ?? Promise.resolve('')));
        await withDb(command, async ({ db }, config, sealer) => {
          const settings = await loadSettings(db, config.settingOverrides);
          const hours = graceHours(options.graceHours, settings);
          const result = await setAccessKey(db, clock, sealer, key, hours * 3_600_000);
          if (!result.changed) {
            io.err(
              `this key is already the current access key (fingerprint ${result.fingerprint})`,
            );
          } else {
            io.err(
              `access key set (fingerprint ${result.fingerprint}); the previous key stays valid for ${hours} hour(s)`,
            );
          }
          const weak = weakAccessKeyWarning(key, 'this key');
          if (weak) io.err(`warning: ${weak}`);
        });
      },
    );
}

/** The key as piped in: the first line, without its line ending. */
function firstLine(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim();
}
