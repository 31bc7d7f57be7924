/**
 * Wires the parts into a running service: database, migrations, access key,
 * connections, inbox writer, worker, intake and HTTP app. Tests build the
 * same thing with their own config and clock.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from './clock.js';
import { publicBaseUrl, type Config } from './config.js';
import { sealStoredCredentials } from './connections/credentials.js';
import { createConnectionRegistry, type ConnectionRegistry } from './connections/registry.js';
import { buildApp } from './http/app.js';
import { createImportRunner, type ImportRunner } from './import/import-runner.js';
import { createInboxWriter } from './inbox/inbox-writer.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { createSealer, type Sealer } from './lib/seal.js';
import {
  createKeyChecker,
  currentAccessKey,
  sealStoredAccessKeys,
  type AccessKeyInfo,
} from './settings/access-keys.js';
import { checkDefaultRole } from './directory/default-role.js';
import { loadSettings } from './settings/settings.js';
import { openDatabase, type Database } from './storage/database.js';
import { createNotifications, type Notifications } from './storage/notifications.js';
import { migrateToLatest } from './storage/migrations/index.js';
import { loadSealingKey } from './storage/sealing-key.js';
import { createIntake, type Intake } from './webhook/intake.js';
import { sendCrmWrites } from './runs/crm-writes.js';
import { runEvents } from './runs/run-events.js';
import { createWorker, type Worker } from './worker/worker.js';
import { createRetentionJob } from './worker/retention.js';
import { pruneAccounts } from './accounts/housekeeping.js';
import { createMailSender, type MailSender } from './mail/mail-sender.js';
import type { Mailer } from './mail/mailer.js';
import { createOutboxMailer, createSmtpMailer } from './mail/nodemailer.adapter.js';

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Run the worker in this process (default: config.runWorker). */
  runWorker?: boolean;
  random?: (() => number) | undefined;
  /** Replaces the mailer chosen from the config. */
  mailer?: Mailer;
}

export interface Service {
  readonly config: Config;
  readonly clock: Clock;
  readonly database: Database;
  readonly registry: ConnectionRegistry;
  readonly worker: Worker | undefined;
  /** Lists and queues contact imports; runs wherever the worker runs. */
  readonly imports: ImportRunner | undefined;
  /** Sends queued e-mails; runs wherever the worker runs. */
  readonly mail: MailSender | undefined;
  readonly mailer: Mailer;
  readonly intake: Intake;
  /** Wake-ups between the processes sharing the database. */
  readonly notifications: Notifications;
  readonly app: FastifyInstance;
  readonly logger: Logger;
  /** Counters and histograms of this process, served at `/metrics`. */
  readonly metrics: Metrics;
  /** Seals and opens the secrets kept at rest. */
  readonly sealer: Sealer;
  /** The access key as it was when the service started; `created` on the very first start. */
  readonly accessKey: AccessKeyInfo & { created: boolean };
  /** Listens on the configured host and port (0 picks a free port); returns the webhook base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The sealer for this data directory (or the key in CRM_BRIDGE_ENCRYPTION_KEY). */
export function loadSealer(config: Config): Sealer {
  return createSealer(loadSealingKey(config.dataDir, config.encryptionKey));
}

/** Opens the database, brings its schema up to date and seals any secret an earlier version kept in clear. */
export async function openMigratedDatabase(
  config: Config,
  sealer: Sealer,
  maxConnections?: number,
  onConnectionError?: (error: Error) => void,
): Promise<Database> {
  const database = openDatabase(config.databaseUrl, {
    maxConnections: maxConnections ?? config.pgPoolSize,
    statementTimeoutMs: config.pgStatementTimeoutMs,
    applicationName: config.pgApplicationName,
    onConnectionError,
  });
  try {
    await migrateToLatest(database.db, database.dialect);
    await sealStoredAccessKeys(database.db, sealer);
    await sealStoredCredentials(database.db, sealer);
  } catch (error) {
    await database.destroy();
    throw error;
  }
  return database;
}

export async function createService(
  config: Config,
  options: ServiceOptions = {},
): Promise<Service> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const sealer = loadSealer(config);
  const database = await openMigratedDatabase(config, sealer, undefined, (error) =>
    logger.warn({ err: error }, 'the database dropped a connection; it is reopened on demand'),
  );
  const { db } = database;
  const accessKey = await currentAccessKey(db, clock, sealer).catch(async (error: unknown) => {
    await database.destroy();
    throw error;
  });
  // A bad setting (say, an environment override) fails the start, not every later run.
  await loadSettings(db, config.settingOverrides)
    .then((settings) => checkDefaultRole(db, settings.default_role))
    .catch(async (error: unknown) => {
      await database.destroy();
      throw error;
    });

  const metrics = createMetrics();
  const registry = createConnectionRegistry(db, clock, {
    cacheMs: config.cacheMs,
    settingOverrides: config.settingOverrides,
    secretOverrides: config.secretOverrides,
    sealer,
    metrics,
    sharedRateLimits: database.dialect === 'postgres',
  });
  const runWorker = options.runWorker ?? config.runWorker;
  let boundPort: number | undefined;
  const publicUrl = () => publicBaseUrl(config, boundPort);
  const mailer = options.mailer ?? createMailerFor(config);
  const mail = runWorker
    ? createMailSender(
        {
          db,
          clock,
          logger,
          mailer,
          settingOverrides: config.settingOverrides,
          publicUrl,
          random: options.random,
        },
        {
          pollMs: config.pollMs,
          leaseMs: Math.max(config.leaseMs, 120_000),
          housekeeping: { everyMs: 10 * 60_000, run: () => pruneAccounts(db, clock.now()) },
        },
      )
    : undefined;
  const worker = runWorker
    ? createWorker(
        {
          run: runEvents,
          sendWrites: sendCrmWrites,
          db,
          clock,
          registry,
          settingOverrides: config.settingOverrides,
          logger,
          random: options.random,
          mail,
          sealer,
          metrics,
        },
        { concurrency: config.workerConcurrency, leaseMs: config.leaseMs, pollMs: config.pollMs },
      )
    : undefined;
  const imports = runWorker
    ? createImportRunner(
        { db, clock, registry, logger, worker },
        { leaseMs: config.leaseMs * 2, pollMs: config.pollMs },
      )
    : undefined;
  // Old finished webhooks, activity lines and sent mail are pruned where the worker runs.
  const retention = runWorker
    ? createRetentionJob(
        { db, clock, settingOverrides: config.settingOverrides, logger },
        { everyMs: 60 * 60_000, firstAfterMs: 60_000 },
      )
    : undefined;
  // Wake-ups across processes on PostgreSQL (LISTEN/NOTIFY), in-process ones on SQLite.
  const notifications = createNotifications(database, config.databaseUrl, {
    applicationName: config.pgApplicationName,
    onError: (error) =>
      logger.warn({ err: error }, 'the notification connection failed; it is reopened'),
  });
  if (worker) {
    notifications.onWork(() => worker.notify());
    worker.events.on('finished', (finished: { ids: number[] }) =>
      notifications.finished(finished.ids),
    );
  }
  const intake = createIntake({
    db,
    clock,
    keys: createKeyChecker(db, clock, sealer, config.cacheMs),
    sealer,
    registry,
    writer: createInboxWriter(db),
    // Outcomes and wake-ups through the notifications: this process's worker and, on
    // PostgreSQL, every other node's.
    notifier: notifications,
    wake: () => notifications.workArrived(),
    logger,
    syncWaitMs: config.syncWaitMs,
    acceptedStatus: config.acceptedStatus,
    keyFailureLimit: config.keyFailureLimit,
    metrics,
  });
  const app = await buildApp({
    db,
    intake,
    logger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    clock,
    settingOverrides: config.settingOverrides,
    publicUrl,
    mail,
    sealer,
    metrics,
    rateLimitUse: () => registry.rateLimitUse(),
    metricsToken: config.metricsToken,
    cacheMs: config.cacheMs,
    registry,
    secretOverrides: config.secretOverrides,
  });

  let closed = false;
  return {
    config,
    clock,
    database,
    registry,
    worker,
    imports,
    mail,
    mailer,
    intake,
    notifications,
    app,
    logger,
    metrics,
    sealer,
    accessKey,
    async listen() {
      // Listening for other nodes' notices before taking webhooks: a notice sent in between
      // would be lost, and a waiting request or the worker would hear of it only by polling.
      await notifications.ready;
      await app.listen({ host: config.host, port: config.port });
      worker?.start();
      mail?.start();
      imports?.start();
      retention?.start();
      const address = app.server.address();
      boundPort = typeof address === 'object' && address ? address.port : config.port;
      return publicBaseUrl(config, boundPort);
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await imports?.stop();
      await retention?.stop();
      await worker?.stop();
      await mail?.stop();
      await notifications.close();
      mailer.close();
      await database.destroy();
    },
  };
}

/** SMTP when a mail server is configured, else .eml files in the data directory's outbox. */
function createMailerFor(config: Config): Mailer {
  return config.smtpUrl
    ? createSmtpMailer(config.smtpUrl, { timeoutMs: 10_000 })
    : createOutboxMailer(path.join(config.dataDir, 'outbox'));
}
