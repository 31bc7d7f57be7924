/**
 * The `crm-bridge` command line. Every command accepts --data-dir and
 * --database-url (or CRM_BRIDGE_DATA_DIR / CRM_BRIDGE_DATABASE_URL).
 */
import { Command, CommanderError, Option } from 'commander';
import { queryActivity } from '../activity/activity.repository.js';
import { systemClock, sleep } from '../clock.js';
import { loadConfig, type Config, type ConfigFlags } from '../config.js';
import { CONNECTOR_TYPES } from '../connectors/index.js';
import { saveRole, listRoles } from '../directory/role.repository.js';
import { describeUser } from '../directory/user-view.js';
import { findUserByReference, listUsers } from '../directory/user.repository.js';
import { isAppError } from '../errors.js';
import { describeEvent } from '../inbox/event-view.js';
import { findEvent, listEvents } from '../inbox/inbox.repository.js';
import { replayEvent } from '../inbox/replay.js';
import { createLogger } from '../logger.js';
import { createService, loadSealer, openMigratedDatabase } from '../service.js';
import type { Sealer } from '../lib/seal.js';
import { currentAccessKey, rotateAccessKey } from '../settings/access-keys.js';
import { loadSettings, readSettingValues, saveSetting, isSettingName } from '../settings/settings.js';
import { LOG_LEVELS, type ActivityLogRow, type LogLevel } from '../storage/schema.js';
import type { Database } from '../storage/database.js';
import { registerApiTokenCommands } from './api-tokens.command.js';
import { registerConnectionCommands } from './connections.command.js';
import { registerMailCommands } from './mail.command.js';
import { escapeControls, formatTable, terminalSafe, type Output } from './output.js';

/** How long `events replay` waits for a run another worker took. */
const REPLAY_WAIT_MS = 30_000;

interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

export interface CliIo {
  out: Output;
  err: Output;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    io.err(`error: ${isAppError(error) ? error.message : error instanceof Error ? error.message : String(error)}`);
    return isAppError(error) && error.status < 500 ? 2 : 1;
  }
}

export function buildProgram(rawIo: CliIo): Command {
  // Everything printed may hold text from webhooks: control characters never reach the terminal.
  const io: CliIo = { ...rawIo, out: terminalSafe(rawIo.out), err: terminalSafe(rawIo.err) };
  const program = new Command('crm-bridge')
    .description('Turns CRM webhooks into site users.')
    .option('--data-dir <dir>', 'data directory (env CRM_BRIDGE_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'SQLite path or postgres:// URL (env CRM_BRIDGE_DATABASE_URL)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
    .showHelpAfterError();

  const configFor = (command: Command, extra: ConfigFlags = {}): Config => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    return loadConfig({ dataDir: globals.dataDir, databaseUrl: globals.databaseUrl, ...extra }, io.env);
  };
  /** Opens the database for one command and always closes it. */
  const withDb = async <T>(command: Command, work: (database: Database, config: Config, sealer: Sealer) => Promise<T>): Promise<T> => {
    const config = configFor(command);
    const sealer = loadSealer(config);
    const database = await openMigratedDatabase(config, sealer, 2);
    try {
      return await work(database, config, sealer);
    } finally {
      await database.destroy();
    }
  };
  const print = (value: unknown, json: boolean | undefined, text: () => string) => io.out(json ? JSON.stringify(value, null, 2) : text());

  program
    .command('serve')
    .description('run the HTTP server and the worker')
    .option('--port <port>', 'port (env CRM_BRIDGE_PORT, default 8787)')
    .option('--host <host>', 'bind address (env CRM_BRIDGE_HOST, default 127.0.0.1)')
    .action(async (options: { port?: string; host?: string }, command: Command) => {
      const config = configFor(command, { port: options.port, host: options.host });
      const service = await createService(config, { logger: createLogger(config.logLevel) });
      const base = await service.listen();
      const key = service.accessKey;
      // The key is printed once, when it is made; after that it stays out of terminals and process logs.
      const shownKey = key.created ? key.secret : 'YOUR_ACCESS_KEY';
      io.out(`crm-bridge is listening.`);
      io.out(`  Webhook base URL: ${base}/`);
      io.out(
        key.created
          ? `  Access key:       ${key.secret}  (shown this once; \`crm-bridge access-key show\` prints it again)`
          : `  Access key:       fingerprint ${key.fingerprint}; \`crm-bridge access-key show\` prints it`,
      );
      io.out(`  Database:         ${service.database.displayUrl}`);
      io.out(`  E-mail:           ${service.mailer.kind === 'smtp' ? service.mailer.target : `written to ${service.mailer.target} (no CRM_BRIDGE_SMTP_URL)`}`);
      io.out(`  Try it:           curl '${base}/?wpf_action=test&access_key=${shownKey}'`);
      await waitForSignal();
      await service.close();
    });

  program
    .command('worker')
    .description('run only the worker (processes stored webhooks)')
    .option('--once', 'process what is due now, then exit')
    .action(async (options: { once?: boolean }, command: Command) => {
      const config = configFor(command);
      const service = await createService(config, { logger: createLogger(config.logLevel), runWorker: true });
      const { worker, mail } = service;
      if (!worker || !mail) throw new Error('worker not created');
      if (options.once) {
        const runs = await worker.drain();
        const sent = await mail.drain();
        io.out(`processed ${runs} contact run(s) and ${sent} e-mail(s)`);
      } else {
        worker.start();
        mail.start();
        await waitForSignal();
      }
      await service.close();
    });

  program
    .command('migrate')
    .description('create or update the database schema')
    .action((_options: unknown, command: Command) =>
      withDb(command, async (database) => {
        io.out(`schema is up to date (${database.dialect}: ${database.displayUrl})`);
      }),
    );

  const accessKey = program.command('access-key').description('show or rotate the access key');
  accessKey
    .command('show')
    .description('print the current access key')
    .action((_options: unknown, command: Command) =>
      withDb(command, async ({ db }, _config, sealer) => io.out((await currentAccessKey(db, systemClock, sealer)).secret)),
    );
  accessKey
    .command('rotate')
    .description('make a new key; the old one keeps working for the grace period')
    .option('--grace-hours <hours>', 'grace period (default: the access_key_grace_hours setting)')
    .action((options: { graceHours?: string }, command: Command) =>
      withDb(command, async ({ db }, config, sealer) => {
        const settings = await loadSettings(db, config.settingOverrides);
        const hours = options.graceHours === undefined ? settings.access_key_grace_hours : Number(options.graceHours);
        if (!Number.isFinite(hours) || hours < 0) throw new Error('--grace-hours must be a number of hours');
        const key = await rotateAccessKey(db, systemClock, sealer, hours * 3_600_000);
        io.out(key.secret);
        io.err(`the previous key stays valid for ${hours} hour(s)`);
      }),
    );

  const settings = program.command('settings').description('read and change settings');
  settings
    .command('list')
    .description('every setting with its value and where it comes from')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }, config) => {
        const values = await readSettingValues(db, config.settingOverrides);
        print(values, options.json, () => formatTable(['setting', 'value', 'source'], values.map((v) => [v.name, v.value, v.source])));
      }),
    );
  settings
    .command('get <name>')
    .description('print one setting')
    .action((name: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }, config) => {
        if (!isSettingName(name)) throw new Error(`unknown setting "${name}"`);
        const value = (await readSettingValues(db, config.settingOverrides)).find((v) => v.name === name);
        io.out(value?.value ?? '');
      }),
    );
  settings
    .command('set <name> <value>')
    .description('store a setting (an environment override still wins)')
    .action((name: string, value: string, _options: unknown, command: Command) =>
      withDb(command, async ({ db }, config) => {
        await saveSetting(db, name, value, new Date().toISOString());
        if (config.settingOverrides[name] !== undefined) io.err(`note: CRM_BRIDGE_SETTING_${name.toUpperCase()} overrides this value`);
        io.out(`${name} = ${value}`);
      }),
    );

  const users = program.command('users').description('look at users');
  users
    .command('list')
    .option('--search <text>', 'part of an e-mail or login')
    .option('--role <role>', 'only this role')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action((options: { search?: string; role?: string; limit: string; json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const rows = await listUsers(db, { search: options.search, role: options.role, limit: Number(options.limit) });
        const views = await Promise.all(rows.map((row) => describeUser(db, row)));
        print(views, options.json, () =>
          formatTable(
            ['id', 'login', 'email', 'role', 'tags'],
            views.map((u) => [String(u.id), u.login, u.email, u.role, u.tags.map((t) => t.label).join(', ')]),
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
        if (!row) {
          io.err(`no user matches "${reference}"`);
          process.exitCode = 3;
          return;
        }
        const view = await describeUser(db, row);
        print(view, options.json, () =>
          [
            `#${view.id} ${view.login} <${view.email}>`,
            `role:     ${view.role}`,
            `name:     ${[view.firstName, view.lastName].filter(Boolean).join(' ')}`,
            `tags:     ${view.tags.map((t) => `${t.label} (${t.connection}:${t.id})`).join(', ') || 'none'}`,
            `contacts: ${view.contacts.map((c) => `${c.connection}:${c.contactId}`).join(', ') || 'none'}`,
            ...Object.entries(view.meta).map(([key, value]) => `meta ${escapeControls(key)}: ${escapeControls(value)}`),
          ].join('\n'),
        );
      }),
    );

  const roles = program.command('roles').description('roles users can hold');
  roles
    .command('list')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      withDb(command, async ({ db }) => {
        const rows = await listRoles(db);
        print(rows, options.json, () => formatTable(['slug', 'name', 'admin'], rows.map((r) => [r.slug, r.name, r.isAdmin ? 'yes' : ''])));
      }),
    );
  roles
    .command('add <slug> <name>')
    .description('register a role (e.g. customer "Customer")')
    .option('--admin', 'the role can manage the site (never assigned by webhooks)')
    .action((slug: string, name: string, options: { admin?: boolean }, command: Command) =>
      withDb(command, async ({ db }, config) => {
        if (!/^[a-z0-9_-]+$/.test(slug)) throw new Error('a role slug uses lower-case letters, digits, _ and -');
        if (options.admin === true && (await loadSettings(db, config.settingOverrides)).default_role.trim() === slug) {
          throw new Error(`"${slug}" is the default role of new users, which can never be an admin role; change default_role first`);
        }
        await saveRole(db, { slug, name, isAdmin: options.admin === true });
        io.out(`role ${slug} saved`);
      }),
    );

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
        options: { status?: string; contact?: string; connection?: string; action?: string; limit: string; json?: boolean },
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
              views.map((e) => [String(e.id), e.receivedAt, e.connection, e.action, e.contactId ?? '', e.status, String(e.attempts), e.error?.message ?? '']),
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
        if (!row) {
          io.err(`no event #${id}`);
          process.exitCode = 3;
          return;
        }
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
      const service = await createService(config, { logger: createLogger('warn'), runWorker: true });
      try {
        const outcome = await replayEvent(service, Number(id));
        if (outcome.eventId === undefined) {
          io.out(JSON.stringify(outcome.body, null, 2));
          return;
        }
        if (options.process) await service.worker?.drain();
        let row = await findEvent(service.database.db, outcome.eventId);
        // Another running worker may have taken the event first: wait a while for its outcome.
        for (let waited = 0; options.process && waited < REPLAY_WAIT_MS && (row?.status === 'pending' || row?.status === 'running'); waited += 100) {
          await sleep(100);
          row = await findEvent(service.database.db, outcome.eventId);
        }
        io.out(`replayed #${id} as #${outcome.eventId}: ${row?.status ?? 'unknown'}${row?.error_message ? ` (${row.error_message})` : ''}`);
        if (row?.status === 'failed' || row?.status === 'rejected') process.exitCode = 4;
      } finally {
        await service.close();
      }
    });

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
        options: { contact?: string; user?: string; event?: string; level?: LogLevel; action?: string; limit: string; follow?: boolean; json?: boolean },
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
          const show = (row: ActivityLogRow) => io.out(options.json ? JSON.stringify(row) : formatActivity(row));
          const recent = (await queryActivity(db, { ...filter, limit: Number(options.limit) })).reverse();
          recent.forEach(show);
          if (!options.follow) return;
          let lastId = recent.at(-1)?.id ?? (await queryActivity(db, { limit: 1 }))[0]?.id ?? 0;
          let stop = false;
          process.once('SIGINT', () => (stop = true));
          process.once('SIGTERM', () => (stop = true));
          while (!stop) {
            await sleep(1_000);
            const rows = await queryActivity(db, { ...filter, afterId: lastId, limit: 500 });
            rows.forEach(show);
            lastId = rows.at(-1)?.id ?? lastId;
          }
        }),
    );

  registerConnectionCommands(program, { io, withDb, print, connectorTypes: CONNECTOR_TYPES });
  registerApiTokenCommands(program, { io, withDb, print });
  registerMailCommands(program, { io, withDb, print });
  return program;
}

function formatActivity(row: ActivityLogRow): string {
  const where = [row.connection_id && `conn ${row.connection_id}`, row.contact_id && `contact ${row.contact_id}`, row.event_id && `#${row.event_id}`]
    .filter(Boolean)
    .join(' ');
  return escapeControls(`${row.at} ${row.level.toUpperCase().padEnd(7)} ${where ? `[${where}] ` : ''}${row.message}`);
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
