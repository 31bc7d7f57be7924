/** What the HTTP app, its account pages and the API are built from. */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { ConnectionRegistry } from '../connections/registry.js';
import type { Sealer } from '../lib/seal.js';
import type { Logger } from '../logger.js';
import type { DB } from '../storage/schema.js';
import type { Intake } from '../webhook/intake.js';
import type { Metrics } from '../lib/metrics.js';

export interface AppDeps extends HealthDeps {
  db: Kysely<DB>;
  intake: Intake;
  logger: Logger | false;
  bodyLimit: number;
  /** Fastify's trustProxy: false, a hop count, or the trusted proxies' addresses. */
  trustProxy: false | number | string[];
  clock: Clock;
  /** `CRM_BRIDGE_SETTING_*` overrides, for loadSettings. */
  settingOverrides: Readonly<Record<string, string>>;
  /** This service's base URL as users reach it (known once it listens). */
  publicUrl: () => string;
  /** Derives the cookie signing key (and seals what the pages keep). */
  sealer: Sealer;
  /** How long a verified API token is reused before it is checked again. */
  cacheMs?: number | undefined;
  /** Wakes the mail sender after a message is queued (absent in HTTP-only processes). */
  mail?: MailNotifier | undefined;
  /** Resolves CRM connections (the admin pages test them and read their fields). */
  registry: ConnectionRegistry;
  /** `CRM_BRIDGE_SECRET_*` credentials, which count when a connection's settings are checked. */
  secretOverrides: Readonly<Record<string, string>>;
}

interface MailNotifier {
  notify(): void;
}

interface HealthDeps {
  /** Counters of this process; without them `/metrics` answers 404. */
  metrics?: Metrics | undefined;
  /** Rate-limit use of the connections this process called. */
  rateLimitUse?:
    | (() => ReadonlyArray<{
        connectionId: string;
        used: number;
        requests: number;
        windowMs: number;
      }>)
    | undefined;
  /** A token that may read `/metrics` besides API tokens (CRM_BRIDGE_METRICS_TOKEN). */
  metricsToken?: string | undefined;
}
