/**
 * The databases every storage-touching test runs against: SQLite always,
 * PostgreSQL when CRM_BRIDGE_TEST_PG_URL is set (CI sets it and requires it).
 * Each test gets its own SQLite file or PostgreSQL schema, so files run in parallel.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { trackedUntil, trackOpen } from './open-resources.js';

export type TestDialect = 'sqlite' | 'postgres';

const pgUrl = process.env.CRM_BRIDGE_TEST_PG_URL;

if (!pgUrl && process.env.CI) {
  throw new Error('CI must run the PostgreSQL variants: set CRM_BRIDGE_TEST_PG_URL');
}
let warned = false;

/** The dialects to run; prints once why PostgreSQL is left out when it is. */
export function testDialects(): TestDialect[] {
  if (pgUrl) return ['sqlite', 'postgres'];
  if (!warned) {
    warned = true;
    console.warn(
      'PostgreSQL variants not run: set CRM_BRIDGE_TEST_PG_URL=postgres://… to include them',
    );
  }
  return ['sqlite'];
}

export interface TestDatabase {
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bridge-test-'));
  if (dialect === 'sqlite') {
    const dropped = trackOpen('a SQLite test database');
    return {
      url: path.join(dataDir, 'test.sqlite'),
      dataDir,
      async drop() {
        await fs.promises.rm(dataDir, { recursive: true, force: true });
        dropped();
      },
    };
  }
  if (!pgUrl) throw new Error('no PostgreSQL URL');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const url = new URL(pgUrl);
  url.searchParams.set('schema', schema);
  const dropped = trackOpen('a PostgreSQL test schema');
  return {
    url: url.toString(),
    dataDir,
    async drop() {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
      dropped();
    },
  };
}

/** Opens a connection (pool) to a test database, tracked as open until it is destroyed. */
export function openTestPool(url: string, options?: Parameters<typeof openDatabase>[1]): Database {
  return trackedUntil('a database connection pool', openDatabase(url, options), 'destroy');
}
