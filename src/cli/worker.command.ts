/** `crm-bridge worker`: only the worker, processing stored webhooks and queued mail. */
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { createService } from '../service.js';
import type { CliDeps } from './deps.js';

export function registerWorkerCommand(
  program: Command,
  { io, clock, configFor, untilSignal }: CliDeps,
): void {
  program
    .command('worker')
    .description('run only the worker (processes stored webhooks, queued mail and imports)')
    .option('--once', 'process what is due now, then exit')
    .action(async (options: { once?: boolean }, command: Command) => {
      const config = configFor(command);
      const service = await createService(config, {
        clock,
        logger: createLogger(config.logLevel),
        runWorker: true,
      });
      const { worker, mail, imports } = service;
      if (!worker || !mail || !imports) throw new Error('worker not created');
      if (options.once) {
        const pages = await imports.drain();
        const runs = await worker.drain();
        await imports.finishListedJobs();
        const sent = await mail.drain();
        io.out(
          `processed ${runs} contact run(s) and ${sent} e-mail(s)${pages > 0 ? `; listed ${pages} page(s) of contacts to import` : ''}`,
        );
      } else {
        worker.start();
        mail.start();
        imports.start();
        await untilSignal();
      }
      await service.close();
    });
}
