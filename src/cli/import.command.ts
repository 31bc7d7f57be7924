/**
 * `crm-bridge import`: imports a CRM's contacts as users (every contact, or
 * those with a tag) as a background job. `import crm` follows the job to its
 * end with a progress bar and a summary; stopped early, the job resumes in
 * any `serve` or `worker` process. `import cancel` stops a job for good.
 */
import type { Command } from 'commander';
import { sleep } from '../clock.js';
import {
  cancelImport,
  getImportJob,
  importSummary,
  listImportJobs,
  startImport,
  type ImportJobView,
  type ImportSummary,
} from '../import/import-jobs.js';
import { createLogger } from '../logger.js';
import { createService } from '../service.js';
import { CliExit, type CliDeps } from './deps.js';
import { registerWordPressImport } from './import-wordpress.js';
import { formatTable } from './output.js';
import { createProgressReporter, renderProgressLine, type ProgressFigures } from './progress.js';

const POLL_MS = 200;
const FINAL = new Set(['done', 'failed', 'cancelled']);

const figuresOf = (job: ImportJobView): ProgressFigures => ({
  done: job.done,
  total: job.total,
  errors: job.errors,
  counting: job.status === 'listing',
});

const whatOf = (job: ImportJobView) =>
  job.tag === null ? 'every contact' : `contacts tagged "${job.tag.label}"`;

function formatSummary(job: ImportJobView, summary: ImportSummary): string {
  const lines = [
    `Import #${job.id} ${job.status}: ${job.total} contact(s) from "${job.connectionId}" (${whatOf(job)})`,
    `  created:   ${summary.created}`,
    `  updated:   ${summary.updated}`,
    `  unchanged: ${summary.unchanged}`,
  ];
  const section = (title: string, reasons: Readonly<Record<string, number>>) => {
    const count = Object.values(reasons).reduce((sum, n) => sum + n, 0);
    lines.push(`  ${title.padEnd(10)} ${count}`);
    for (const [reason, n] of Object.entries(reasons).sort((a, b) => b[1] - a[1]))
      lines.push(`    ${n} × ${reason}`);
  };
  section('skipped:', summary.skipped);
  section('failed:', summary.failed);
  if ((job.status === 'failed' || job.status === 'cancelled') && job.error)
    lines.push(`  stopped: ${job.error.message}`);
  return lines.join('\n');
}

export function registerImportCommands(program: Command, deps: CliDeps): void {
  const { io, clock, withDb, print } = deps;
  const group = program
    .command('import')
    .description("import users: a CRM's contacts, or a WordPress site with WP Fusion's data");
  registerWordPressImport(group, deps);

  group
    .command('crm')
    .description('import every contact with a tag (or all contacts) from a connection')
    .requiredOption('--connection <id>', 'the CRM connection')
    .option('--tag <label>', 'only contacts with this tag (its label, or its id in the CRM)')
    .option('--all', 'every contact of the connection')
    .option('--send-welcome', 'send each imported user the welcome e-mail')
    .option('--detach', 'queue the job and return; a running serve or worker process does it')
    .action(
      async (
        options: {
          connection: string;
          tag?: string;
          all?: boolean;
          sendWelcome?: boolean;
          detach?: boolean;
        },
        command: Command,
      ) => {
        if ((options.tag === undefined) === (options.all !== true))
          throw new CliExit(2, 'error: give either --tag <label> or --all');
        const config = deps.configFor(command);
        const service = await createService(config, {
          clock,
          logger: createLogger(config.logLevel),
          runWorker: true,
        });
        const { worker, mail, imports } = service;
        const db = service.database.db;
        let stopped = false;
        try {
          const started = await startImport(db, service.registry, clock, {
            connectionId: options.connection,
            tag: options.tag,
            sendWelcome: options.sendWelcome === true,
            startedBy: 'cli',
          });
          io.out(
            `Import #${started.id} started: ${whatOf(started)} from "${started.connectionId}"`,
          );
          if (options.detach) {
            io.out(
              `It runs in any serve or worker process; follow it with: crm-bridge import show ${started.id}`,
            );
            return;
          }
          worker?.start();
          mail?.start();
          imports?.start();
          const signal = deps.untilSignal().then(() => {
            stopped = true;
          });
          void signal;
          const progress = createProgressReporter(io.out, io.terminal);
          let job = started;
          for (;;) {
            job = (await getImportJob(db, started.id)) ?? job;
            progress.update(figuresOf(job));
            if (FINAL.has(job.status) || stopped) break;
            await sleep(POLL_MS);
          }
          progress.end();
          if (stopped && !FINAL.has(job.status)) {
            io.out(
              `Stopped; import #${job.id} resumes in the next serve or worker process (crm-bridge import show ${job.id}).`,
            );
            return;
          }
          await imports?.finishListedJobs();
          io.out(formatSummary(job, await importSummary(db, job.id)));
          if (job.status === 'failed') throw new CliExit(1);
        } finally {
          await service.close();
        }
      },
    );

  group
    .command('list')
    .description('recent imports with their progress')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withDb(command, async ({ db }) => {
        const jobs = await listImportJobs(db);
        print(jobs, options.json, () =>
          formatTable(
            ['id', 'connection', 'contacts', 'status', 'done', 'errors', 'started'],
            jobs.map((job) => [
              String(job.id),
              job.connectionId,
              whatOf(job),
              job.status,
              `${job.done}/${job.total}`,
              String(job.errors),
              job.createdAt,
            ]),
          ),
        );
      });
    });

  group
    .command('cancel <id>')
    .description(
      'cancel a running import: no further contacts are listed; those queued stay queued',
    )
    .action(async (id: string, _options: unknown, command: Command) => {
      await withDb(command, async ({ db }) => {
        if (!/^\d{1,12}$/.test(id)) throw new CliExit(2, `error: no import #${id}`);
        const job = await cancelImport(db, clock, Number(id), 'cli');
        io.out(
          `Import #${job.id} cancelled: ${job.total} contact(s) were queued and stay queued (${job.done} run so far).`,
        );
      });
    });

  group
    .command('show <id>')
    .description("one import's progress and summary")
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      await withDb(command, async ({ db }) => {
        const job = /^\d+$/.test(id) ? await getImportJob(db, Number(id)) : undefined;
        if (!job) throw new CliExit(2, `error: no import #${id}`);
        const summary = await importSummary(db, job.id);
        print({ ...job, summary }, options.json, () =>
          [renderProgressLine(figuresOf(job)), formatSummary(job, summary)].join('\n'),
        );
      });
    });
}
