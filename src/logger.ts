/**
 * The process log (pino). Request URLs carry the access key and may carry a
 * password, so every URL passes through redactUrl before it is written.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { MASK, redactUrl } from './lib/secrets.js';

/** The subset we call, plus `trace` and `silent`, which Fastify's logger instance needs. */
export type Logger = Pick<
  PinoLogger,
  'info' | 'warn' | 'error' | 'debug' | 'fatal' | 'trace' | 'silent' | 'child' | 'level'
>;

/** The process logger; `destination` defaults to stdout (tests pass their own). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    serializers: {
      // Fastify's request log lines: the URL carries the access key, so only a redacted copy is written.
      req: (request: { method?: string; url?: string; ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url ?? ''),
        remoteAddress: request.ip,
      }),
    },
    redact: {
      paths: [
        'req.headers["x-access-key"]',
        'req.headers.authorization',
        'req.headers.cookie',
        '*.password',
        '*.access_key',
      ],
      censor: MASK,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
