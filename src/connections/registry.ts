/**
 * Turns connection rows into ready connectors: settings validated, field
 * mapping merged with the connector's defaults, and every API call passed
 * through the connection's rate limiter. Resolved connections are cached
 * briefly so the webhook hot path does not query for them.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { connectorDefinition } from '../connectors/index.js';
import { createHttpClient } from '../connectors/http-client.js';
import type {
  ConnectorDefinition,
  CrmConnector,
  FieldMap,
  RateLimit,
  WebhookInput,
} from '../connectors/types.js';
import { AppError, isAppError } from '../errors.js';
import type { ConnectionRow, DB } from '../storage/schema.js';
import { createRateLimiter, type RateLimiter } from './rate-limiter.js';
import type { Metrics } from '../lib/metrics.js';
import { createSharedRateLimiter } from './shared-rate-limiter.js';
import type { Sealer } from '../lib/seal.js';
import { readSettingValue } from '../settings/settings.js';
import { findConnection, listConnections } from './connection.repository.js';
import { openCredentials } from './credentials.js';

/** Settings every connection has, whatever its CRM. */
export const CommonSettingsSchema = z
  .object({
    field_map: z.record(z.string(), z.string()).default({}),
    return_password: z.boolean().default(false),
    return_password_field: z.string().default(''),
    /** Overrides the connector's default rate limit (requests per minute). */
    rate_limit_per_minute: z.number().int().positive().optional(),
    /** Finer control: requests allowed per window of `rate_limit_window_ms`. */
    rate_limit_requests: z.number().int().positive().optional(),
    rate_limit_window_ms: z.number().int().positive().optional(),
    /** Overrides the connector's timeout for one API call, in milliseconds. */
    timeout_ms: z.number().int().positive().optional(),
    /** Sends credentials over plain http to a host other than this machine (a trusted private network). */
    allow_insecure_http: z.boolean().default(false),
  })
  .loose();

export interface Connection {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly definition: ConnectorDefinition;
  readonly connector: CrmConnector;
  readonly fieldMap: FieldMap;
  readonly rateLimit: RateLimit;
  readonly returnPasswordField: string | undefined;
}

/** The connection used when none is configured: contacts come in the webhook payload. */
export const BUILT_IN_PAYLOAD_ID = 'payload';

export interface ConnectionRegistry {
  /**
   * The connection for an id, or the default connection when `id` is undefined.
   * With several connections and no default, the one whose connector recognises
   * `webhook`'s payload shape, if exactly one does; else AMBIGUOUS_CONNECTION
   * naming them.
   */
  resolve(id?: string, webhook?: WebhookInput): Promise<Connection>;
  /** Forget cached connections (after the CLI or a test changed them). */
  invalidate(): void;
  /** Each connection's rate-limit use in this process, for the dashboard and `/metrics`. */
  rateLimitUse(): RateLimitUse[];
}

interface RateLimitUse {
  readonly connectionId: string;
  /** Calls counted against the limit right now (in flight or finished within the window). */
  readonly used: number;
  readonly requests: number;
  readonly windowMs: number;
}

export interface RegistryOptions {
  cacheMs?: number;
  /** Setting overrides from the environment (default_connection may be set there). */
  settingOverrides?: Readonly<Record<string, string>>;
  /** Credentials from `CRM_BRIDGE_SECRET_<CONNECTION>_<SETTING>` variables (see withSecretOverrides). */
  secretOverrides?: Readonly<Record<string, string>>;
  /** Opens the credentials stored sealed. */
  sealer: Sealer;
  /** Counts CRM calls for `/metrics`. */
  metrics?: Pick<Metrics, 'crmCall'> | undefined;
  /** Share each connection's CRM rate limit with every process on the database (PostgreSQL). */
  sharedRateLimits?: boolean | undefined;
}

/**
 * A connection's stored settings with credentials from the environment on
 * top: `CRM_BRIDGE_SECRET_<CONNECTION>_<SETTING>` (the connection id and the
 * setting name in upper case, other characters as `_`), e.g.
 * `CRM_BRIDGE_SECRET_ONTRAPORT_API_KEY`, so a key need not be stored at all.
 */
export function withSecretOverrides(
  id: string,
  definition: ConnectorDefinition,
  settings: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const result = { ...settings };
  for (const name of definition.secretSettings) {
    const value = overrides[`${id}_${name}`.toLowerCase().replace(/[^a-z0-9]+/g, '_')];
    if (value !== undefined && value !== '') result[name] = value;
  }
  return result;
}

export function createConnectionRegistry(
  db: Kysely<DB>,
  clock: Clock,
  options: RegistryOptions,
): ConnectionRegistry {
  const cacheMs = options.cacheMs ?? 2_000;
  const cache = new Map<string, { until: number; connection: Promise<Connection> }>();
  // Limiters outlive cache entries: a refreshed connection must not get a fresh budget, and a
  // changed limit applies at once to the calls already counted and waiting.
  const limiters = new Map<string, RateLimiter>();

  const limiterFor = (id: string, limit: RateLimit): RateLimiter => {
    const existing = limiters.get(id);
    if (existing) {
      existing.setLimit(limit);
      return existing;
    }
    const local = createRateLimiter(limit);
    const limiter = options.sharedRateLimits ? createSharedRateLimiter(db, id, local) : local;
    limiters.set(id, limiter);
    return limiter;
  };

  // Connectors keep what they read from their CRM for a while (Ortto's custom fields, Ontraport's
  // option labels). A connection is rebuilt only when its row changed, so re-reading it every
  // `cacheMs` keeps those answers for their own lifetime instead of fetching them again.
  const built = new Map<string, { row: string; connection: Connection }>();

  const build = (row: ConnectionRow): Connection => {
    const key = JSON.stringify([row.type, row.name, row.api_url, row.settings]);
    const previous = built.get(row.id);
    if (previous?.row === key) return previous.connection;
    const connection = buildFresh(row);
    built.set(row.id, { row: key, connection });
    return connection;
  };

  const buildFresh = (row: ConnectionRow): Connection => {
    const definition = connectorDefinition(row.type);
    if (!definition)
      throw new AppError(
        'UNKNOWN_CONNECTION',
        `connection "${row.id}" has unknown type "${row.type}"`,
      );
    const opened = openCredentials(
      row.id,
      definition,
      JSON.parse(row.settings) as Record<string, unknown>,
      options.sealer,
    );
    const stored = withSecretOverrides(row.id, definition, opened, options.secretOverrides);
    const common = CommonSettingsSchema.safeParse(stored);
    const specific = definition.settingsSchema.safeParse(stored);
    const problems = [...(common.error?.issues ?? []), ...(specific.error?.issues ?? [])];
    if (!common.success || !specific.success) {
      const text = problems
        .map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`)
        .join('; ');
      throw new AppError('INVALID_CONFIG', `connection "${row.id}": ${text}`);
    }
    const rateLimit = rateLimitOf(common.data, definition.defaultRateLimit);
    const limiter = limiterFor(row.id, rateLimit);
    const http = createHttpClient({
      timeoutMs: common.data.timeout_ms ?? definition.timeoutMs,
      allowInsecureHttp: common.data.allow_insecure_http,
      beforeRequest: () => {
        options.metrics?.crmCall(row.id);
        return limiter.acquire();
      },
    });
    const connector = definition.create(
      { id: row.id, apiUrl: row.api_url ?? definition.defaultApiUrl, settings: specific.data },
      { http, clock },
    );
    return {
      id: row.id,
      type: row.type,
      name: row.name,
      definition,
      connector,
      fieldMap: mergeFieldMap(definition.defaultFieldMap, common.data.field_map),
      rateLimit,
      returnPasswordField: common.data.return_password
        ? common.data.return_password_field || undefined
        : undefined,
    };
  };

  const builtInPayload = (): ConnectionRow => {
    const now = clock.now().toISOString();
    return {
      id: BUILT_IN_PAYLOAD_ID,
      type: 'payload',
      name: 'Webhook payload (built in)',
      api_url: null,
      settings: '{}',
      is_default: 0,
      created_at: now,
      updated_at: now,
    };
  };

  const load = async (id: string | undefined): Promise<Connection> => {
    if (id !== undefined) {
      const row = await findConnection(db, id);
      if (row) return build(row);
      // The built-in payload connection stands in only while no CRM is configured. Once one is, a
      // webhook that brings its own contact data (and e-mail, and password) must be set up on purpose
      // (`connections add payload`), or any key holder could link and update users that CRM owns.
      if (id === BUILT_IN_PAYLOAD_ID && (await listConnections(db)).length === 0)
        return build(builtInPayload());
      throw new AppError('UNKNOWN_CONNECTION', `"${id}"`);
    }
    const rows = await listConnections(db);
    const preferred = await readSettingValue(
      db,
      options.settingOverrides ?? {},
      'default_connection',
    );
    const chosen =
      rows.find((row) => preferred && row.id === preferred) ??
      rows.find((row) => row.is_default === 1) ??
      (rows.length === 1 ? rows[0] : undefined);
    if (chosen) return build(chosen);
    if (rows.length === 0) return build(builtInPayload());
    throw new AppError(
      'AMBIGUOUS_CONNECTION',
      `${rows.map((row) => row.id).join(', ')}; send to /webhooks/<connection>, or make one the default (crm-bridge settings set default_connection <id>)`,
    );
  };

  /** The one connection recognising the webhook's payload shape, or undefined. */
  const recognising = async (webhook: WebhookInput): Promise<Connection | undefined> => {
    const matches: Connection[] = [];
    for (const row of await listConnections(db)) {
      const connection = await cached(row.id).catch(() => undefined);
      if (connection?.connector.recognizesWebhook?.(webhook) === true) matches.push(connection);
    }
    return matches.length === 1 ? matches[0] : undefined;
  };

  const cached = (id: string | undefined): Promise<Connection> => {
    const key = id ?? '';
    const now = clock.now().getTime();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.connection;
    const connection = load(id);
    cache.set(key, { until: now + cacheMs, connection });
    connection.catch(() => cache.delete(key));
    return connection;
  };

  return {
    async resolve(id, webhook) {
      try {
        return await cached(id);
      } catch (error) {
        if (
          id !== undefined ||
          !webhook ||
          !isAppError(error) ||
          error.code !== 'AMBIGUOUS_CONNECTION'
        )
          throw error;
        return (await recognising(webhook)) ?? Promise.reject(error);
      }
    },
    invalidate() {
      cache.clear();
    },
    rateLimitUse() {
      return [...limiters].map(([connectionId, limiter]) => ({
        connectionId,
        used: limiter.used(),
        requests: limiter.limit.requests,
        windowMs: limiter.limit.windowMs,
      }));
    },
  };
}

function rateLimitOf(
  settings: z.infer<typeof CommonSettingsSchema>,
  fallback: RateLimit,
): RateLimit {
  if (settings.rate_limit_requests || settings.rate_limit_window_ms) {
    return {
      requests: settings.rate_limit_requests ?? fallback.requests,
      windowMs: settings.rate_limit_window_ms ?? fallback.windowMs,
    };
  }
  return settings.rate_limit_per_minute
    ? { requests: settings.rate_limit_per_minute, windowMs: 60_000 }
    : fallback;
}

/** The connector's default mapping with the connection's own entries on top; an empty target removes one. */
export function mergeFieldMap(
  defaults: FieldMap,
  overrides: Readonly<Record<string, string>>,
): FieldMap {
  const merged: Record<string, string> = { ...defaults, ...overrides };
  for (const [field, target] of Object.entries(merged))
    if (target.trim() === '') delete merged[field];
  return Object.freeze(merged);
}
