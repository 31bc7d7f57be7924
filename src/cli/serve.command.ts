/**
 * `crm-bridge serve`: the HTTP server and the worker in one process, or with
 * `--workers N` (PostgreSQL) the server here and the worker in N child processes.
 */
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { createService } from '../service.js';
import { dialectOf } from '../storage/database.js';
import { CliExit, type CliDeps } from './deps.js';
import { startWorkerChildren, type WorkerChildren } from './worker-children.js';

const MAX_WORKER_PROCESSES = 64;

/** `--workers`: a whole number of child processes, 0 (the default) for none. */
function workerCount(option: string | undefined): number {
  if (option === undefined) return 0;
  const count = Number(option);
  if (!/^\d+$/.test(option.trim()) || count > MAX_WORKER_PROCESSES) {
    throw new CliExit(
      2,
      `--workers takes a whole number from 0 to ${MAX_WORKER_PROCESSES}, not "${option}"`,
    );
  }
  return count;
}

export function registerServeCommand(
  program: Command,
  { io, clock, configFor, untilSignal }: CliDeps,
): void {
  program
    .command('serve')
    .description('run the HTTP server and the worker')
    .option('--port <port>', 'port (env CRM_BRIDGE_PORT, default 8787)')
    .option('--host <host>', 'bind address (env CRM_BRIDGE_HOST, default 127.0.0.1)')
    .option(
      '--workers <n>',
      'run the worker in <n> child processes (PostgreSQL only); this process then only serves (default 0: the worker runs here)',
    )
    .action(
      async (options: { port?: string; host?: string; workers?: string }, command: Command) => {
        const config = configFor(command, { port: options.port, host: options.host });
        const workers = workerCount(options.workers);
        if (workers > 0 && dialectOf(config.databaseUrl) !== 'postgres') {
          throw new CliExit(
            2,
            '--workers needs PostgreSQL (CRM_BRIDGE_DATABASE_URL=postgres://…): on SQLite the worker runs in the serve process',
          );
        }
        const logger = createLogger(config.logLevel);
        const service = await createService(config, {
          clock,
          logger,
          ...(workers > 0 ? { runWorker: false } : {}),
        });
        const base = await service.listen();
        let children: WorkerChildren | undefined;
        if (workers > 0) {
          children = startWorkerChildren({
            count: workers,
            env: {
              ...process.env,
              ...io.env,
              CRM_BRIDGE_DATA_DIR: config.dataDir,
              CRM_BRIDGE_DATABASE_URL: config.databaseUrl,
            },
            log: (line) => logger.warn(line),
          });
        }
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
        io.out(
          `  E-mail:           ${service.mailer.kind === 'smtp' ? service.mailer.target : `written to ${service.mailer.target} (no CRM_BRIDGE_SMTP_URL)`}`,
        );
        if (children)
          io.out(`  Worker:           ${workers} process(es), ids ${children.pids.join(', ')}`);
        io.out(`  Try it:           curl '${base}/?wpf_action=test&access_key=${shownKey}'`);
        await untilSignal();
        await service.close();
        await children?.stop();
      },
    );
}
