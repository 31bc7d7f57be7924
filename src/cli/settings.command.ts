/** `crm-bridge settings list|get|set`: settings stored in the database, and where each value comes from. */
import type { Command } from 'commander';
import { isoNow } from '../clock.js';
import { checkDefaultRole } from '../directory/default-role.js';
import { readSettingValues, saveSetting, isSettingName } from '../settings/settings.js';
import type { CliDeps } from './deps.js';
import { formatTable } from './output.js';

export function registerSettingsCommands(
  program: Command,
  { io, clock, withDb, print }: CliDeps,
): void {
  const settings = program.command('settings').description('read and change settings');
  settings
    .command('list')
    .description('every setting with its value and where it comes from')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }, config) => {
        const values = await readSettingValues(db, config.settingOverrides);
        print(values, options.json, () =>
          formatTable(
            ['setting', 'value', 'source'],
            values.map((v) => [v.name, v.value, v.source]),
          ),
        );
      }),
    );
  settings
    .command('get <name>')
    .description('print one setting')
    .action((name: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }, config) => {
        if (!isSettingName(name)) throw new Error(`unknown setting "${name}"`);
        const value = (await readSettingValues(db, config.settingOverrides)).find(
          (v) => v.name === name,
        );
        io.out(value?.value ?? '');
      }),
    );
  settings
    .command('set <name> <value>')
    .description('store a setting (an environment override still wins)')
    .action((name: string, value: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }, config) => {
        await saveSetting(db, name, value, isoNow(clock), {
          default_role: (role) => checkDefaultRole(db, role),
        });
        if (config.settingOverrides[name] !== undefined)
          io.err(`note: CRM_BRIDGE_SETTING_${name.toUpperCase()} overrides this value`);
        io.out(`${name} = ${value}`);
      }),
    );
}
