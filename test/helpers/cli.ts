/**
 * The built `crm-bridge` binary as scripts use it: one-off commands, and
 * `serve` as a long-running child process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestDatabase } from './databases.js';
import { trackOpen } from './open-resources.js';

export const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'crm-bridge.js');
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command against the test database; never throws for a non-zero exit. */
export function runCli(database: TestDatabase, ...args: string[]): Promise<CliResult> {
  return runCliWithEnv(database, {}, ...args);
}

/** Runs one command with extra environment variables. */
export async function runCliWithEnv(
  database: TestDatabase,
  env: Record<string, string>,
  ...args: string[]
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [BIN, ...args, '--data-dir', database.dataDir, '--database-url', database.url],
      {
        env: { ...process.env, CRM_BRIDGE_LOG_LEVEL: 'silent', ...env },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as CliResult;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Runs one command with `input` on its standard input. */
export async function runCliWithInput(
  database: TestDatabase,
  input: string,
  ...args: string[]
): Promise<CliResult> {
  const running = run(
    process.execPath,
    [BIN, ...args, '--data-dir', database.dataDir, '--database-url', database.url],
    { env: { ...process.env, CRM_BRIDGE_LOG_LEVEL: 'silent' } },
  );
  running.child.stdin?.end(input);
  try {
    const { stdout, stderr } = await running;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as CliResult;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** A `crm-bridge worker` process, in a process group of its own. */
export interface WorkerProcess {
  process: ChildProcess;
  /** Kills it (SIGKILL, as a crash would) and waits until it has exited. */
  kill(): Promise<void>;
}

/** Starts `crm-bridge worker` on the test database (polling every 50 ms) with `env` added. */
export function spawnWorker(
  database: TestDatabase,
  env: Record<string, string> = {},
): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: {
      ...process.env,
      CRM_BRIDGE_DATA_DIR: database.dataDir,
      CRM_BRIDGE_DATABASE_URL: database.url,
      CRM_BRIDGE_POLL_MS: '50',
      CRM_BRIDGE_LOG_LEVEL: 'silent',
      ...env,
    },
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', trackOpen('a `crm-bridge worker` process'));
  return {
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null)
        process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

export interface ServeProcess {
  process: ChildProcess;
  /** What `serve` printed on start. */
  banner: string;
  baseUrl: string;
  accessKey: string;
  stop(): Promise<void>;
}

/** Starts `crm-bridge serve` and waits for its start-up banner. */
export async function startServe(
  database: TestDatabase,
  options: { port?: number; env?: Record<string, string>; args?: string[] } = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--port',
      String(options.port ?? 0),
      '--host',
      '127.0.0.1',
      '--data-dir',
      database.dataDir,
      '--database-url',
      database.url,
      ...(options.args ?? []),
    ],
    {
      env: {
        ...process.env,
        CRM_BRIDGE_LOG_LEVEL: 'silent',
        CRM_BRIDGE_POLL_MS: '50',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  child.once('exit', trackOpen('a `crm-bridge serve` process'));
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) =>
      child.exitCode === null && child.signalCode === null
        ? child.once('exit', resolve)
        : resolve(undefined),
    );
  };
  try {
    const banner = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('Try it:')) resolve(text);
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
    });
    return {
      process: child,
      banner,
      baseUrl: /Webhook base URL: (\S+?)\/?\n/.exec(banner)?.[1] ?? '',
      accessKey: /Access key: +(\S+)/.exec(banner)?.[1] ?? '',
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
