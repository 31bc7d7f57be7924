/**
 * The service rides out its database going away: PostgreSQL dropping every
 * connection (a restart or a failover) while webhooks arrive, a SQLite file
 * locked by another process, and kill -9 at random points. It answers 503
 * while storage is away, never exits, carries on by itself, and every webhook
 * it acknowledged is processed.
 */
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from './helpers/cli.js';
import { runCrashTrial } from './helpers/crash-trial.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';
import { waitFor } from './helpers/wait.js';

const isAlive = (serve: ServeProcess) =>
  serve.process.exitCode === null && serve.process.signalCode === null;

async function sendAdd(
  serve: ServeProcess,
  contact: string,
  async = false,
): Promise<{ status: number; eventId: number | undefined }> {
  const query = new URLSearchParams({
    wpf_action: 'add',
    access_key: serve.accessKey,
    contact_id: contact,
    email: `${contact}@example.com`,
    async: String(async),
  });
  const response = await fetch(`${serve.baseUrl}/?${query.toString()}`);
  const body = (await response.json()) as { eventId?: number };
  return { status: response.status, eventId: body.eventId };
}

async function statusesOf(database: TestDatabase, ids: number[]): Promise<Map<number, string>> {
  const storage = openTestPool(database.url);
  try {
    const rows =
      ids.length === 0
        ? []
        : await storage.db
            .selectFrom('webhook_events')
            .select(['id', 'status'])
            .where('id', 'in', ids)
            .execute();
    return new Map(rows.map((row) => [row.id, row.status]));
  } finally {
    await storage.destroy();
  }
}

let database: TestDatabase | undefined;
let serve: ServeProcess | undefined;
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
  await database?.drop();
  database = undefined;
});

describe('PostgreSQL drops every connection while webhooks arrive', () => {
  const pgUrl = process.env.CRM_BRIDGE_TEST_PG_URL;
  it.runIf(testDialects().includes('postgres'))(
    'keeps serving: 503 or success meanwhile, then every acknowledged webhook is processed (regression: "Unhandled \'error\' event" ended the process)',
    async () => {
      database = await createTestDatabase('postgres');
      const applicationName = `crm-bridge-outage-${randomBytes(4).toString('hex')}`;
      serve = await startServe(database, {
        env: {
          CRM_BRIDGE_PG_APPLICATION_NAME: applicationName,
          CRM_BRIDGE_LEASE_MS: '1500',
          CRM_BRIDGE_SYNC_WAIT_MS: '3000',
        },
      });
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      const statuses: number[] = [];
      const acknowledged: number[] = [];
      let terminated = 0;
      try {
        for (let wave = 0; wave < 10; wave += 1) {
          const requests = Array.from({ length: 12 }, (_, i) =>
            sendAdd(serve as ServeProcess, `w${wave}-${i}`, i % 3 === 0),
          );
          // Every connection of the service is cut while the wave is on its way.
          const cut = await admin.query<{ count: string }>(
            'select count(pg_terminate_backend(pid)) as count from pg_stat_activity where application_name = $1',
            [applicationName],
          );
          terminated += Number(cut.rows[0]?.count ?? 0);
          for (const answer of await Promise.all(requests)) {
            statuses.push(answer.status);
            if ((answer.status === 200 || answer.status === 202) && answer.eventId)
              acknowledged.push(answer.eventId);
          }
        }
      } finally {
        await admin.end();
      }
      expect(terminated).toBeGreaterThan(10);
      expect(isAlive(serve)).toBe(true);
      expect(statuses.filter((status) => ![200, 202, 503].includes(status))).toEqual([]);
      expect(acknowledged.length).toBeGreaterThan(0);

      // It carries on by itself: new webhooks succeed, and what was acknowledged is done.
      const after = await sendAdd(serve, 'after-the-outage');
      expect(after.status).toBe(200);
      await waitFor('every acknowledged webhook done', async () => {
        const found = await statusesOf(database as TestDatabase, acknowledged);
        return acknowledged.every((id) => found.get(id) === 'done');
      });
      expect(isAlive(serve)).toBe(true);
    },
  );
});

describe('a SQLite file locked by another process', () => {
  it('answers 503 while the lock lasts, never exits, and works again once it is released', async () => {
    database = await createTestDatabase('sqlite');
    serve = await startServe(database, { env: { CRM_BRIDGE_LEASE_MS: '1500' } });
    expect((await sendAdd(serve, 'before')).status).toBe(200);

    const locker = new BetterSqlite3(database.url);
    try {
      // Another process holds the write lock longer than the busy timeout.
      locker.exec('BEGIN EXCLUSIVE');
      const during = await sendAdd(serve, 'during');
      expect(during.status).toBe(503);
      expect(isAlive(serve)).toBe(true);
    } finally {
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
    }

    const after = await sendAdd(serve, 'after', true);
    expect(after.status).toBe(200);
    await waitFor('the webhook sent after the lock done', async () => {
      const found = await statusesOf(database as TestDatabase, [after.eventId ?? 0]);
      return found.get(after.eventId ?? 0) === 'done';
    });
    expect((await sendAdd(serve, 'later')).status).toBe(200);
    expect(isAlive(serve)).toBe(true);
  });
});

for (const dialect of testDialects()) {
  describe(`kill -9 while webhooks arrive (${dialect})`, () => {
    it('loses no acknowledged webhook over a few trials killed at different points', async () => {
      database = await createTestDatabase(dialect);
      for (const [trial, killAfter] of [5, 40].entries()) {
        const result = await runCrashTrial(database, `t${trial}`, { killAfter });
        expect(result.acknowledged).toBeGreaterThanOrEqual(killAfter);
        expect(result.lost).toEqual([]);
      }
    }, 60_000);
  });
}
