/** `crm-bridge serve`: the HTTP server and the worker in one process. */
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { createService } from '../service.js';
import type { CliDeps } from './deps.js';

export function registerServeCommand(
  program: Command,
  { io, clock, configFor, untilSignal }: CliDeps,
): void {
  program
    .command('serve')
    .description('run the HTTP server and the worker')
    .option('--port <port>', 'port (env CRM_BRIDGE_PORT, default 8787)')
    .option('--host <host>', 'bind address (env CRM_BRIDGE_HOST, default 127.0.0.1)')
    .action(async (options: { port?: string; host?: string }, command: Command) => {
      const config = configFor(command, { port: options.port, host: options.host });
      const service = await createService(config, { clock, logger: createLogger(config.logLevel) });
      const base = await service.listen();
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
      io.out(`  Try it:           curl '${base}/?wpf_action=test&access_key=${shownKey}'`);
      await untilSignal();
      await service.close();
    });
}
