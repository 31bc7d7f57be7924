/**
 * What the benchmarks share: servers in child processes that are always
 * stopped (even on Ctrl-C), clean-up steps, free ports and start-up checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

export function startChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

export async function stopChild(child: Child, signal: NodeJS.Signals): Promise<void> {
  if (hasExited(child)) return;
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 10_000);
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
  for (const child of children) child.process.kill('SIGKILL');
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
