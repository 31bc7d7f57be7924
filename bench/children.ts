/**
 * What the benchmarks share: servers in child processes that are always
 * stopped (even on Ctrl-C), clean-up steps, free ports and start-up checks,
 * the databases they run on and `crm-bridge serve` started on one of them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { maskDatabaseUrl } from '../src/storage/database.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------
// Child processes and clean-up

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  /** The last few kilobytes the child wrote, for error messages. */
  output(): string;
}

const children = new Set<Child>();
export const cleanups: Array<() => Promise<void>> = [];
let cleanedUp: Promise<void> | undefined;

/**
 * Starts `node <args>` in a process group of its own, so stopping it stops whatever it started
 * too; `ipc` opens a message channel to it.
 */
export function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { ipc?: boolean } = {},
): Child {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    detached: true,
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8_192);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  const child: Child = { name, process: proc, exited, output: () => tail };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

const hasExited = (child: Child) =>
  child.process.exitCode !== null || child.process.signalCode !== null;

/** Sends `signal` to the child's whole process group. */
function signalGroup(child: Child, signal: NodeJS.Signals): void {
  const pid = child.process.pid;
  try {
    if (pid !== undefined) process.kill(-pid, signal);
    else child.process.kill(signal);
  } catch {
    child.process.kill(signal); // the group is gone already
  }
}

export async function stopChild(child: Child, signal: NodeJS.Signals): Promise<void> {
  if (hasExited(child)) return;
  signalGroup(child, signal);
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 10_000);
  await child.exited;
  clearTimeout(timer);
}

export function cleanUp(): Promise<void> {
  cleanedUp ??= (async () => {
    await Promise.all([...children].map((child) => stopChild(child, 'SIGKILL')));
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`clean-up failed: ${describe(error)}`);
      }
    }
  })();
  return cleanedUp;
}

// Last resort: never leave a server running behind us.
process.on('exit', () => {
  for (const child of children) signalGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping servers and cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/** The environment of a child: ours without CRM_BRIDGE_* settings, plus the given ones. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('CRM_BRIDGE_')) env[name] = value;
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------
// Helpers

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago (the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Polls `url` until it answers 200, failing early if the child dies. */
export async function waitUntilUp(child: Child, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (hasExited(child))
      throw new Error(`${child.name} exited during start-up:\n${child.output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = describe(error);
    }
    await sleep(100);
  }
  throw new Error(
    `${child.name} did not answer 200 on ${url} within ${timeoutMs} ms (${last}):\n${child.output()}`,
  );
}

/** Seconds of CPU a process has used so far, from /proc (undefined elsewhere). */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is the 3rd field overall, utime the 14th and stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
/** USER_HZ; 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The commit measured, for the report. */
export async function gitCommit(options: { short?: boolean } = {}): Promise<string | undefined> {
  const args = ['rev-parse', ...(options.short ? ['--short'] : []), 'HEAD'];
  try {
    return (await execFileAsync('git', args, { cwd: ROOT })).stdout.trim();
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Databases and the service

const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface DatabaseTarget {
  name: 'sqlite' | 'postgres';
  url: string;
  dataDir: string;
}

/** A fresh data directory with a SQLite database, removed at clean-up. */
export function sqliteTarget(): DatabaseTarget {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bridge-bench-'));
  cleanups.push(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  return { name: 'sqlite', url: path.join(dataDir, 'bench.sqlite'), dataDir };
}

/** A fresh schema on the PostgreSQL server, dropped at clean-up, or the reason there is none. */
export async function postgresTarget(): Promise<DatabaseTarget | string> {
  const serverUrl = process.env.CRM_BRIDGE_BENCH_PG_URL || DEFAULT_PG_URL;
  const admin = () =>
    new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 3_000 });
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const client = admin();
  try {
    await client.connect();
  } catch (error) {
    return `PostgreSQL skipped: cannot connect to ${maskDatabaseUrl(serverUrl)} (${describe(error)}); set CRM_BRIDGE_BENCH_PG_URL`;
  }
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bridge-bench-pg-'));
  cleanups.push(async () => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    const dropper = admin();
    await dropper.connect();
    try {
      await dropper.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await dropper.end();
    }
  });
  const url = new URL(serverUrl);
  url.searchParams.set('schema', schema);
  return { name: 'postgres', url: url.toString(), dataDir };
}

/** The global flags that point `crm-bridge` at a target's data directory and database. */
export const databaseFlags = (target: DatabaseTarget): string[] => [
  '--data-dir',
  target.dataDir,
  '--database-url',
  target.url,
];

/** Runs one `crm-bridge` command to its end; resolves to what it printed. */
export async function crmBridge(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [path.join('bin', 'crm-bridge.js'), ...args],
    { cwd: ROOT, env },
  );
  return stdout;
}

/**
 * Starts `crm-bridge serve` (with `nodeArgs` for node, `flags` for the
 * command) on a free port and waits until its /healthz answers.
 */
export async function startServe(
  name: string,
  flags: string[],
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<{ child: Child; baseUrl: string }> {
  const port = await freePort();
  const child = startChild(
    name,
    [
      ...nodeArgs,
      path.join('bin', 'crm-bridge.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      ...flags,
    ],
    env,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilUp(child, `${baseUrl}/healthz`);
  return { child, baseUrl };
}
