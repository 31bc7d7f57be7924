/**
 * The `crm-bridge` command line. Every command accepts --data-dir and
 * --database-url (or CRM_BRIDGE_DATA_DIR / CRM_BRIDGE_DATABASE_URL).
 */
import { Command, CommanderError } from 'commander';
import { systemClock, type Clock } from '../clock.js';
import { isAppError } from '../errors.js';
import { registerAccessKeyCommands } from './access-key.command.js';
import { registerAdminCommands } from './admin.command.js';
import { registerApiTokenCommands } from './api-tokens.command.js';
import { registerConnectionCommands } from './connections.command.js';
import { CliExit, createCliDeps, type CliDeps, type CliIo } from './deps.js';
import { registerEventCommands } from './events.command.js';
import { registerImportCommands } from './import.command.js';
import { registerLogCommand } from './log.command.js';
import { registerMailCommands } from './mail.command.js';
import { registerMigrateCommand } from './migrate.command.js';
import { registerRoleCommands } from './roles.command.js';
import { registerServeCommand } from './serve.command.js';
import { registerSettingsCommands } from './settings.command.js';
import { registerUserCommands } from './users.command.js';
import { registerWorkerCommand } from './worker.command.js';

export type { CliIo } from './deps.js';

/** The command groups, in the order `--help` lists them. */
const COMMAND_GROUPS: ReadonlyArray<(program: Command, deps: CliDeps) => void> = [
  registerServeCommand,
  registerWorkerCommand,
  registerMigrateCommand,
  registerAccessKeyCommands,
  registerSettingsCommands,
  registerUserCommands,
  registerAdminCommands,
  registerRoleCommands,
  registerEventCommands,
  registerLogCommand,
  registerConnectionCommands,
  registerApiTokenCommands,
  registerMailCommands,
  registerImportCommands,
];

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  readInput: async () => {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text;
  },
  terminal: process.stderr.isTTY
    ? { write: (raw) => process.stderr.write(raw), columns: () => process.stderr.columns || 80 }
    : undefined,
};

/** Runs the CLI; resolves to the exit code. */
export async function main(
  argv: string[],
  io: CliIo = defaultIo,
  clock: Clock = systemClock,
): Promise<number> {
  const deps = createCliDeps(io, clock);
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliExit) {
      if (error.message) deps.io.err(error.message);
      return error.exitCode;
    }
    // An error may quote outside data (a user reference, a CRM's answer): escaped like every other output.
    deps.io.err(
      `error: ${isAppError(error) ? error.message : error instanceof Error ? error.message : String(error)}`,
    );
    return isAppError(error) && error.status < 500 ? 2 : 1;
  }
}

export function buildProgram(deps: CliDeps): Command {
  const { io } = deps;
  const program = new Command('crm-bridge')
    .description('Turns CRM webhooks into site users.')
    .option('--data-dir <dir>', 'data directory (env CRM_BRIDGE_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'SQLite path or postgres:// URL (env CRM_BRIDGE_DATABASE_URL)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
    })
    .showHelpAfterError();
  for (const register of COMMAND_GROUPS) register(program, deps);
  return program;
}
