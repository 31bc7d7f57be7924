/**
 * Starts a real service (HTTP on 127.0.0.1, worker, database) for a test.
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import {
  insertConnection,
  setDefaultConnection,
} from '../../src/connections/connection.repository.js';
import { createLogger } from '../../src/logger.js';
import { runEvents } from '../../src/runs/run-events.js';
import { createService, type Service } from '../../src/service.js';
import { currentAccessKey, setAccessKey } from '../../src/settings/access-keys.js';
import { systemClock } from '../../src/clock.js';
import {
  createWorker,
  type Worker,
  type WorkerDeps,
  type WorkerOptions,
} from '../../src/worker/worker.js';
import type { FakeTestCrm } from '../fakes/testcrm.fake.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './databases.js';
import { trackedLoop, trackOpen } from './open-resources.js';
import { waitFor } from './wait.js';

export interface TestService {
  service: Service;
  database: TestDatabase;
  baseUrl: string;
  key: string;
  /** Every line the process logger wrote (to check that no secret reaches it). */
  logLines: string[];
  /** GET/POST a webhook path (relative to the base URL). */
  webhook(
    pathAndQuery: string,
    init?: RequestInit,
  ): Promise<{ status: number; body: Record<string, unknown>; text: string }>;
  addConnection(row: {
    id: string;
    type: string;
    apiUrl?: string;
    settings?: Record<string, unknown>;
    isDefault?: boolean;
  }): Promise<void>;
  /** Adds the fake TestCRM as the default connection `crm`, with its API key and `settings`. */
  connectTestCrm(crm: FakeTestCrm, settings?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  /** Reuse a database (e.g. for a second process on the same PostgreSQL schema). */
  database?: TestDatabase | undefined;
  runWorker?: boolean;
  random?: () => number;
}

export async function startTestService(
  dialect: TestDialect,
  options: TestServiceOptions = {},
): Promise<TestService> {
  const database = options.database ?? (await createTestDatabase(dialect));
  const config = loadConfig(
    {},
    {
      CRM_BRIDGE_DATA_DIR: database.dataDir,
      CRM_BRIDGE_DATABASE_URL: database.url,
      CRM_BRIDGE_PORT: '0',
      CRM_BRIDGE_LOG_LEVEL: 'info',
      CRM_BRIDGE_POLL_MS: '50',
      CRM_BRIDGE_SYNC_WAIT_MS: '5000',
      CRM_BRIDGE_SETTING_RETRY_BASE_DELAY_MS: '50',
      ...options.env,
    },
  );
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  let service: Service;
  try {
    service = await createService(config, {
      logger: createLogger('info', sink),
      runWorker: options.runWorker ?? true,
      random: options.random,
    });
  } catch (error) {
    if (!options.database) await database.drop();
    throw error;
  }
  const closedService = trackOpen('a test service (HTTP, worker, database pool)');
  const baseUrl = await service.listen();
  const key = (await currentAccessKey(service.database.db, systemClock, service.sealer)).secret;
  let closed = false;
  const addConnection: TestService['addConnection'] = async (row) => {
    const now = new Date().toISOString();
    await insertConnection(service.database.db, {
      id: row.id,
      type: row.type,
      name: row.id,
      api_url: row.apiUrl ?? null,
      settings: JSON.stringify(row.settings ?? {}),
      is_default: 0,
      created_at: now,
      updated_at: now,
    });
    if (row.isDefault) await setDefaultConnection(service.database.db, row.id, now);
    service.registry.invalidate();
  };
  return {
    service,
    database,
    baseUrl,
    key,
    logLines,
    async webhook(pathAndQuery, init) {
      const response = await fetch(baseUrl + pathAndQuery, init);
      const text = await response.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = {};
      }
      return { status: response.status, body, text };
    },
    addConnection,
    connectTestCrm(crm, settings = {}) {
      return addConnection({
        id: 'crm',
        type: 'testcrm',
        apiUrl: crm.url,
        settings: { api_key: crm.apiKey, ...settings },
        isDefault: true,
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await service.close();
      } finally {
        closedService();
      }
      if (!options.database) await database.drop();
    },
  };
}

/**
 * A worker of its own on a test service's database and connections, as another
 * process would run one (`deps` replaces any of its parts); tracked as open from
 * `start()` to `stop()`.
 */
export function createTestWorker(
  t: TestService,
  options: Omit<WorkerOptions, 'pollMs'>,
  deps: Partial<WorkerDeps> = {},
): Worker {
  const worker = createWorker(
    {
      db: t.service.database.db,
      clock: systemClock,
      registry: t.service.registry,
      settingOverrides: t.service.config.settingOverrides,
      logger: createLogger('silent'),
      sealer: t.service.sealer,
      run: runEvents,
      ...deps,
    },
    { pollMs: 50, ...options },
  );
  return trackedLoop('a worker', worker);
}

/** The key the setup guides write in their example URLs. */
export const GUIDE_KEY = 'YOURACCESSKEY';

/**
 * Imports the guides' placeholder key as the service's key, as a site moving
 * from WP Fusion imports its old key (`crm-bridge access-key set`), so the
 * guides' URLs work verbatim; the service's own key keeps working for an hour.
 */
export async function useGuideKey(t: TestService): Promise<void> {
  await setAccessKey(t.service.database.db, systemClock, t.service.sealer, GUIDE_KEY, 3_600_000);
  await waitFor(
    'the service to accept the imported key',
    async () => (await t.webhook(`/?wpf_action=test&access_key=${GUIDE_KEY}`)).status === 200,
    5_000,
  );
}
