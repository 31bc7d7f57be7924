/**
 * `serve --workers N`: the worker runs in N child processes (`crm-bridge worker`), so
 * the serving process spends its core on webhooks and the runs get their own. A child
 * that exits on its own is started again after a pause that grows while children keep
 * failing; stopping asks each child to finish (SIGTERM) and kills one that does not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createBackoff } from '../clock.js';

export interface WorkerChildren {
  /** Process ids of the children running now. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

export interface WorkerChildrenOptions {
  count: number;
  /** The children's environment: the parent's, with its database and data dir spelled out. */
  env: NodeJS.ProcessEnv;
  /** Told when a child exits on its own. */
  log: (line: string) => void;
  /** How long a child may take to finish after SIGTERM (default 15 s). */
  stopTimeoutMs?: number;
}

export function startWorkerChildren(options: WorkerChildrenOptions): WorkerChildren {
  const children = new Set<ChildProcess>();
  const backoff = createBackoff(1_000, 30_000);
  const restarts = new Set<NodeJS.Timeout>();
  let stopping = false;

  const start = (): void => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1] ?? 'crm-bridge', 'worker'],
      { env: options.env, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.add(child);
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      // A child that ran a while before it ended does not count as failing at start-up.
      if (Date.now() - startedAt > 60_000) backoff.succeeded();
      const delayMs = backoff.failed();
      options.log(
        `worker process ${child.pid ?? '?'} exited (${signal ?? `code ${code ?? '?'}`}); starting another in ${Math.round(delayMs / 1000)} s`,
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) start();
      }, delayMs);
      restarts.add(timer);
    });
  };

  for (let i = 0; i < options.count; i += 1) start();

  return {
    get pids() {
      return [...children].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
    },
    async stop() {
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      await Promise.all([...children].map((child) => stopChild(child, options.stopTimeoutMs)));
    },
  };
}

async function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
