/**
 * Process configuration: the one module that reads `process.env`.
 * Everything is validated once, frozen and passed down.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.js';

const ENV_PREFIX = 'CRM_BRIDGE_';

/** Every environment variable the service reads, with its default and meaning (the README lists the same). */
export const ENV_VARIABLES = {
  DATA_DIR: { default: './data', doc: 'Directory for the embedded SQLite database.' },
  DATABASE_URL: {
    default: '<data dir>/crm-bridge.sqlite',
    doc: 'SQLite file path (or sqlite:PATH) or a postgres:// URL.',
  },
  HOST: {
    default: '127.0.0.1',
    doc: 'Address the HTTP server binds to (0.0.0.0 to accept outside traffic).',
  },
  PORT: { default: '8787', doc: 'HTTP port.' },
  PUBLIC_URL: {
    default: 'http://<host>:<port>',
    doc: 'Base URL the CRM calls and e-mailed links point to; an https URL also marks login cookies Secure.',
  },
  LOG_LEVEL: {
    default: 'info',
    doc: 'pino log level: fatal, error, warn, info, debug, trace or silent.',
  },
  TRUST_PROXY: {
    default: 'false',
    doc: "Behind a reverse proxy: how many proxies (1, 2) or which proxy addresses/CIDRs (comma-separated) to trust for X-Forwarded-For/-Proto. `true` is refused: it would trust any client's X-Forwarded-For.",
  },
  BODY_LIMIT: {
    default: '1048576',
    doc: 'Largest accepted webhook body in bytes; larger ones get 413.',
  },
  SYNC_WAIT_MS: {
    default: '15000',
    doc: 'How long a webhook without async=true waits for its result before answering 202.',
  },
  WORKER_CONCURRENCY: {
    default: '4',
    doc: 'Contacts one worker process handles at the same time.',
  },
  LEASE_MS: {
    default: '30000',
    doc: 'How long a claimed contact stays locked without a heartbeat before another worker may take it.',
  },
  POLL_MS: { default: '1000', doc: 'How often an idle worker looks for due webhooks.' },
  CACHE_MS: {
    default: '2000',
    doc: 'How long the active access keys, resolved connections and verified API tokens are reused before they are read again (a key rotation or connection change is seen within it).',
  },
  KEY_FAILURE_LIMIT: {
    default: '20',
    doc: 'Failed access-key attempts per client address in 10 minutes before answering 429.',
  },
  SMTP_URL: {
    default: '(none)',
    doc: 'Mail server, as smtp://user:pass@host:587 (STARTTLS required; ?requireTLS=false allows clear text) or smtps://user:pass@host:465. Without it, e-mails are written as .eml files to <data dir>/outbox.',
  },
  WORKER: {
    default: 'true',
    doc: 'Run the worker inside `serve` (false for HTTP-only processes).',
  },
  ENCRYPTION_KEY: {
    default: '<data dir>/encryption.key',
    doc: 'Key (32 bytes, base64 or hex) that seals the access key and secret webhook values at rest. Unset: an owner-only key file made in the data dir. Give every process on one PostgreSQL the same key.',
  },
  METRICS_TOKEN: {
    default: '(none)',
    doc: 'Bearer token that may read /metrics (at least 16 characters). Without it, only API tokens may; /metrics is never open to anyone.',
  },
} as const;

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const positiveInt = z.coerce.number().int().positive();

/** Names proxy-addr (Fastify's trustProxy) knows for whole private ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * `false`, a hop count, or the proxies' addresses. `true` would take the
 * leftmost X-Forwarded-For, which any client writes: refused, never guessed.
 */
const trustProxySetting = z.string().transform((value, ctx): false | number | string[] => {
  const text = value.trim().toLowerCase();
  if (['false', '0', 'no'].includes(text)) return false;
  if (/^\d+$/.test(text)) return Number(text);
  if (['true', 'yes'].includes(text) || !text) {
    ctx.addIssue({
      code: 'custom',
      message:
        'give the number of proxies in front of crm-bridge (e.g. 1) or their addresses (e.g. 10.0.0.0/8,127.0.0.1), not true',
    });
    return z.NEVER;
  }
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const bad = entries.filter((entry) => !isProxyAddress(entry));
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `not a hop count nor IP addresses/CIDRs: ${bad.join(', ')}`,
    });
    return z.NEVER;
  }
  return entries;
});

const ConfigSchema = z.object({
  dataDir: z.string().min(1),
  databaseUrl: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  publicUrl: z.url().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  trustProxy: trustProxySetting,
  bodyLimit: positiveInt,
  syncWaitMs: z.coerce.number().int().min(0),
  workerConcurrency: positiveInt,
  leaseMs: positiveInt,
  pollMs: positiveInt,
  keyFailureLimit: positiveInt,
  cacheMs: z.coerce.number().int().min(0).max(3_600_000),
  runWorker: booleanString,
  smtpUrl: z
    .string()
    .refine((value) => /^smtps?:\/\/[^/]+/i.test(value), 'must be an smtp:// or smtps:// URL')
    .optional(),
  metricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>> & {
  /** Setting overrides from `CRM_BRIDGE_SETTING_<KEY>` variables, keyed by setting name. */
  readonly settingOverrides: Readonly<Record<string, string>>;
  /** Connection credentials from `CRM_BRIDGE_SECRET_<CONNECTION>_<SETTING>` variables, keyed `<connection>_<setting>` in lower case. */
  readonly secretOverrides: Readonly<Record<string, string>>;
  /** The sealing key as given in the environment, if it is. */
  readonly encryptionKey: string | undefined;
};

/** Values given on the command line win over the environment. */
export interface ConfigFlags {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
}

/** Reads and validates configuration; throws one error listing every problem. */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const read = (name: keyof typeof ENV_VARIABLES): string | undefined => {
    const value = env[ENV_PREFIX + name];
    return value === undefined || value === '' ? undefined : value;
  };
  const dataDir = path.resolve(flags.dataDir ?? read('DATA_DIR') ?? ENV_VARIABLES.DATA_DIR.default);
  const raw = {
    dataDir,
    databaseUrl:
      flags.databaseUrl ?? read('DATABASE_URL') ?? path.join(dataDir, 'crm-bridge.sqlite'),
    host: flags.host ?? read('HOST') ?? ENV_VARIABLES.HOST.default,
    port: flags.port ?? read('PORT') ?? ENV_VARIABLES.PORT.default,
    publicUrl: read('PUBLIC_URL'),
    logLevel: read('LOG_LEVEL') ?? ENV_VARIABLES.LOG_LEVEL.default,
    trustProxy: read('TRUST_PROXY') ?? ENV_VARIABLES.TRUST_PROXY.default,
    bodyLimit: read('BODY_LIMIT') ?? ENV_VARIABLES.BODY_LIMIT.default,
    syncWaitMs: read('SYNC_WAIT_MS') ?? ENV_VARIABLES.SYNC_WAIT_MS.default,
    workerConcurrency: read('WORKER_CONCURRENCY') ?? ENV_VARIABLES.WORKER_CONCURRENCY.default,
    leaseMs: read('LEASE_MS') ?? ENV_VARIABLES.LEASE_MS.default,
    pollMs: read('POLL_MS') ?? ENV_VARIABLES.POLL_MS.default,
    keyFailureLimit: read('KEY_FAILURE_LIMIT') ?? ENV_VARIABLES.KEY_FAILURE_LIMIT.default,
    cacheMs: read('CACHE_MS') ?? ENV_VARIABLES.CACHE_MS.default,
    runWorker: read('WORKER') ?? ENV_VARIABLES.WORKER.default,
    smtpUrl: read('SMTP_URL'),
    metricsToken: read('METRICS_TOKEN'),
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new AppError('INVALID_CONFIG', problems.join('; '));
  }
  const settingOverrides = prefixedVariables(env, `${ENV_PREFIX}SETTING_`);
  const secretOverrides = prefixedVariables(env, `${ENV_PREFIX}SECRET_`);
  return Object.freeze({
    ...parsed.data,
    settingOverrides: Object.freeze(settingOverrides),
    secretOverrides: Object.freeze(secretOverrides),
    encryptionKey: read('ENCRYPTION_KEY'),
  });
}

/** Variables named `<prefix><NAME>`, keyed by NAME in lower case. */
function prefixedVariables(env: NodeJS.ProcessEnv, prefix: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(prefix) && value !== undefined)
      found[name.slice(prefix.length).toLowerCase()] = value;
  }
  return found;
}

/** The URL a CRM should call, derived from the config when no public URL is set. */
export function publicBaseUrl(config: Config, boundPort?: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host}:${boundPort ?? config.port}`;
}
