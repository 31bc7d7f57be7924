/**
 * The process log (pino). Request URLs carry the access key and may carry a
 * password, so every URL passes through redactUrl before it is written.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'fatal' | 'child' | 'level'>;

/** Query parameters whose values never reach a log. */
const SECRET_PARAM = /^(access_key|user_pass|password|pass|pwd|token|api_key|app_password|secret)$/i;

/** Replaces secret query values in a URL or path+query with ***. */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const params = new URLSearchParams(url.slice(queryStart + 1));
  let changed = false;
  for (const key of [...params.keys()]) {
    if (SECRET_PARAM.test(key) || /pass/i.test(key)) {
      params.set(key, '***');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, queryStart)}?${params.toString()}` : url;
}

export function isSecretParam(name: string): boolean {
  return SECRET_PARAM.test(name) || /pass/i.test(name);
}

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
      paths: ['req.headers["x-access-key"]', 'req.headers.authorization', 'req.headers.cookie', '*.password', '*.access_key'],
      censor: '***',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
