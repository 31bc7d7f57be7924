/**
 * What every `crm-bridge` command group gets from the program: output, the
 * configuration, the database, the clock. Command files import this module,
 * never main.ts, so the CLI has no import cycle.
 */
import type { Command } from 'commander';
import type { Clock } from '../clock.js';
import { loadConfig, type Config, type ConfigFlags } from '../config.js';
import type { Sealer } from '../lib/seal.js';
import { loadSealer, openMigratedDatabase } from '../service.js';
import type { Database } from '../storage/database.js';
import { terminalSafe, type Output } from './output.js';
import type { Terminal } from './progress.js';

export interface CliIo {
  out: Output;
  err: Output;
  env: NodeJS.ProcessEnv;
  /** Reads standard input to its end (a secret piped in rather than typed on the command line). */
  readInput?: () => Promise<string>;
  /** Standard error when it is a terminal, where progress bars are drawn; absent otherwise. */
  terminal?: Terminal | undefined;
}

/** Plain functions (command files destructure them), not methods. */
export interface CliDeps {
  io: CliIo;
  clock: Clock;
  /** The configuration for one command: global flags, then the environment. */
  configFor: (command: Command, extra?: ConfigFlags) => Config;
  /** Opens the database for one command and always closes it. */
  withDb: <T>(
    command: Command,
    work: (database: Database, config: Config, sealer: Sealer) => T | Promise<T>,
  ) => Promise<T>;
  /** Prints `value` as JSON with `--json`, else the text. */
  print: (value: unknown, json: boolean | undefined, text: () => string) => void;
  /** Resolves at the first SIGINT or SIGTERM. */
  untilSignal: () => Promise<void>;
}

/**
 * Ends a command with a non-zero exit code; main prints the message (if any)
 * to stderr as it is, without the `error:` prefix of other failures.
 */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
    this.name = 'CliExit';
  }
}

interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

export function createCliDeps(rawIo: CliIo, clock: Clock): CliDeps {
  // Everything printed may hold text from webhooks: control characters never reach the terminal.
  const io: CliIo = { ...rawIo, out: terminalSafe(rawIo.out), err: terminalSafe(rawIo.err) };
  const configFor = (command: Command, extra: ConfigFlags = {}): Config => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    return loadConfig(
      { dataDir: globals.dataDir, databaseUrl: globals.databaseUrl, ...extra },
      io.env,
    );
  };
  return {
    io,
    clock,
    configFor,
    async withDb(command, work) {
      const config = configFor(command);
      const sealer = loadSealer(config);
      const database = await openMigratedDatabase(config, sealer, 2);
      try {
        return await work(database, config, sealer);
      } finally {
        await database.destroy();
      }
    },
    print: (value, json, text) => io.out(json ? JSON.stringify(value, null, 2) : text()),
    untilSignal: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }),
  };
}
