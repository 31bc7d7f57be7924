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
    .description('run only the worker (processes stored webhooks)')
    .option('--once', 'process what is due now, then exit')
    .action(async (options: { once?: boolean }, command: Command) => {
      const config = configFor(command);
      const service = await createService(config, {
        clock,
        logger: createLogger(config.logLevel),
        runWorker: true,
      });
      const { worker, mail } = service;
      if (!worker || !mail) throw new Error('worker not created');
      if (options.once) {
        const runs = await worker.drain();
        const sent = await mail.drain();
        io.out(`processed ${runs} contact run(s) and ${sent} e-mail(s)`);
      } else {
        worker.start();
        mail.start();
        await untilSignal();
      }
      await service.close();
    });
}
