/**
 * `crm-bridge mail …`: the mail queue — what was sent, what waits, what failed —
 * and sending a welcome or reset link to an existing user by hand.
 */
import type { Command } from 'commander';
import { isoNow } from '../clock.js';
import { findUserByReference } from '../directory/user.repository.js';
import { enqueueMail, listMail, requeueMail } from '../mail/mail.repository.js';
import { MAIL_STATUSES, type MailKind, type MailStatus } from '../storage/schema.js';
import { CliExit, type CliDeps } from './deps.js';
import { formatTable } from './output.js';

const NOT_FOUND_EXIT = 3;

export function registerMailCommands(
  program: Command,
  { io, clock, withDb, print }: CliDeps,
): void {
  const mail = program
    .command('mail')
    .description('the e-mail queue: welcome and password-reset messages');

  mail
    .command('list')
    .description('newest messages first')
    .option('--status <status>', `only ${MAIL_STATUSES.join(', ')}`)
    .option('--user <user>', 'only this user (id, e-mail or login)')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      (
        options: { status?: string; user?: string; limit: string; json?: boolean },
        command: Command,
      ) =>
        withDb(command, async ({ db }) => {
          if (
            options.status !== undefined &&
            !(MAIL_STATUSES as readonly string[]).includes(options.status)
          ) {
            throw new CliExit(2, `--status must be one of ${MAIL_STATUSES.join(', ')}`);
          }
          const user =
            options.user === undefined ? undefined : await findUserByReference(db, options.user);
          if (options.user !== undefined && !user)
            throw new CliExit(NOT_FOUND_EXIT, `no user matches "${options.user}"`);
          const rows = await listMail(db, {
            status: options.status as MailStatus | undefined,
            userId: user?.id,
            limit: Number(options.limit),
          });
          print(rows, options.json, () =>
            formatTable(
              ['id', 'kind', 'to', 'status', 'tries', 'queued', 'sent', 'note'],
              rows.map((row) => [
                String(row.id),
                row.kind,
                row.to_address,
                row.status,
                String(row.attempts),
                row.created_at,
                row.sent_at ?? '',
                row.status === 'sent' ? (row.delivered_to ?? '') : (row.error_message ?? ''),
              ]),
            ),
          );
        }),
    );

  mail
    .command('retry <id>')
    .description('send a failed message again (the worker picks it up at once)')
    .action((id: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }) => {
        if (!(await requeueMail(db, Number(id), isoNow(clock))))
          throw new CliExit(NOT_FOUND_EXIT, `no failed or pending message #${id}`);
        io.out(`message #${id} queued again`);
      }),
    );

  const queueFor = (kind: MailKind, what: string) =>
    mail
      .command(`send-${kind === 'welcome' ? 'welcome' : 'reset'} <user>`)
      .description(`e-mail a user (id, e-mail or login) ${what}`)
      .action((reference: string, _options: unknown, command: Command) =>
        withDb(command, async ({ db }) => {
          const user = await findUserByReference(db, reference);
          if (!user) throw new CliExit(NOT_FOUND_EXIT, `no user matches "${reference}"`);
          const id = await enqueueMail(
            db,
            { kind, userId: user.id, to: user.email },
            isoNow(clock),
          );
          io.out(`message #${id} queued for ${user.email}`);
        }),
      );
  queueFor('welcome', 'the welcome message with a set-password link');
  queueFor('password_reset', 'a password-reset link');
}
