/** `crm-bridge events list|show|replay`: the stored webhooks, and sending one through intake again. */
import type { Command } from 'commander';
import { queryActivity } from '../activity/activity.repository.js';
import { sleep } from '../clock.js';
import { describeEvent } from '../inbox/event-view.js';
import { findEvent, listEvents } from '../inbox/inbox.repository.js';
import { replayEvent } from '../inbox/replay.js';
import { createLogger } from '../logger.js';
import { createService } from '../service.js';
import { formatActivity } from './activity-output.js';
import { CliExit, type CliDeps } from './deps.js';
import { formatTable } from './output.js';

/** How long `events replay` waits for a run another worker took. */
const REPLAY_WAIT_MS = 30_000;

export function registerEventCommands(
  program: Command,
  { io, clock, withDb, print, configFor }: CliDeps,
): void {
  const events = program.command('events').description('stored webhooks');
  events
    .command('list')
    .option('--status <status>', 'pending, running, done, skipped, failed or rejected')
    .option('--contact <id>', 'one contact')
    .option('--connection <id>', 'one connection')
    .option('--action <action>', 'one action')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      (
        options: {
          status?: string;
          contact?: string;
          connection?: string;
          action?: string;
          limit: string;
          json?: boolean;
        },
        command: Command,
      ) =>
        withDb(command, async ({ db }) => {
          const rows = await listEvents(db, {
            status: options.status,
            contactId: options.contact,
            connectionId: options.connection,
            action: options.action,
            limit: Number(options.limit),
          });
          const views = rows.map(describeEvent);
          print(views, options.json, () =>
            formatTable(
              ['id', 'received', 'connection', 'action', 'contact', 'status', 'tries', 'error'],
              views.map((e) => [
                String(e.id),
                e.receivedAt,
                e.connection,
                e.action,
                e.contactId ?? '',
                e.status,
                String(e.attempts),
                e.error?.message ?? '',
              ]),
            ),
          );
        }),
    );
  events
    .command('show <id>')
    .option('--json', 'print JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const row = await findEvent(db, Number(id));
        if (!row) throw new CliExit(3, `no event #${id}`);
        const view = describeEvent(row);
        const activity = await queryActivity(db, { eventId: row.id, afterId: 0, limit: 200 });
        print({ ...view, activity }, options.json, () =>
          [JSON.stringify(view, null, 2), '', ...activity.map(formatActivity)].join('\n'),
        );
      }),
    );
  events
    .command('replay <id>')
    .description('send a stored webhook through intake again (after fixing what made it fail)')
    .option('--no-process', 'only store it; a running worker picks it up')
    .action(async (id: string, options: { process: boolean }, command: Command) => {
      const config = { ...configFor(command), syncWaitMs: 0 };
      const service = await createService(config, {
        clock,
        logger: createLogger('warn'),
        runWorker: true,
      });
      try {
        const outcome = await replayEvent(service, Number(id));
        if (outcome.eventId === undefined) {
          io.out(JSON.stringify(outcome.body, null, 2));
          return;
        }
        if (options.process) await service.worker?.drain();
        let row = await findEvent(service.database.db, outcome.eventId);
        // Another running worker may have taken the event first: wait a while for its outcome.
        for (
          let waited = 0;
          options.process &&
          waited < REPLAY_WAIT_MS &&
          (row?.status === 'pending' || row?.status === 'running');
          waited += 100
        ) {
          await sleep(100);
          row = await findEvent(service.database.db, outcome.eventId);
        }
        io.out(
          `replayed #${id} as #${outcome.eventId}: ${row?.status ?? 'unknown'}${row?.error_message ? ` (${row.error_message})` : ''}`,
        );
        if (row?.status === 'failed' || row?.status === 'rejected') throw new CliExit(4);
      } finally {
        await service.close();
      }
    });
}
