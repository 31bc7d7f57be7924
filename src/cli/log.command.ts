/** `crm-bridge log`: the activity log, optionally followed as it grows. */
import { Option, type Command } from 'commander';
import { queryActivity } from '../activity/activity.repository.js';
import { sleep } from '../clock.js';
import { LOG_LEVELS, type ActivityLogRow, type LogLevel } from '../storage/schema.js';
import { formatActivity } from './activity-output.js';
import type { CliDeps } from './deps.js';

export function registerLogCommand(program: Command, { io, withDb, untilSignal }: CliDeps): void {
  program
    .command('log')
    .description('the activity log, newest last')
    .option('--contact <id>', 'one contact')
    .option('--user <id>', 'one user')
    .option('--event <id>', 'one webhook event')
    .addOption(new Option('--level <level>', 'this level and above').choices([...LOG_LEVELS]))
    .option('--action <action>', 'one action')
    .option('--limit <n>', 'how many', '50')
    .option('-f, --follow', 'keep printing new entries')
    .option('--json', 'one JSON object per line')
    .action(
      (
        options: {
          contact?: string;
          user?: string;
          event?: string;
          level?: LogLevel;
          action?: string;
          limit: string;
          follow?: boolean;
          json?: boolean;
        },
        command: Command,
      ) =>
        withDb(command, async ({ db }) => {
          const filter = {
            contactId: options.contact,
            userId: options.user === undefined ? undefined : Number(options.user),
            eventId: options.event === undefined ? undefined : Number(options.event),
            minLevel: options.level,
            action: options.action,
          };
          const show = (row: ActivityLogRow) =>
            io.out(options.json ? JSON.stringify(row) : formatActivity(row));
          const recent = (
            await queryActivity(db, { ...filter, limit: Number(options.limit) })
          ).reverse();
          recent.forEach(show);
          if (!options.follow) return;
          let lastId = recent.at(-1)?.id ?? (await queryActivity(db, { limit: 1 }))[0]?.id ?? 0;
          let stop = false;
          void untilSignal().then(() => (stop = true));
          while (!stop) {
            await sleep(1_000);
            const rows = await queryActivity(db, { ...filter, afterId: lastId, limit: 500 });
            rows.forEach(show);
            lastId = rows.at(-1)?.id ?? lastId;
          }
        }),
    );
}
