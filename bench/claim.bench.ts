/**
 * Claim benchmark: what one claim of due contacts costs with 0, 50,000 and
 * 500,000 pending webhooks in the inbox (five per contact), on SQLite and on
 * PostgreSQL.
 *
 *   npm run build && node --import tsx bench/claim.bench.ts
 *
 * For each backlog the inbox is filled with pending webhooks for contacts
 * c0…cN (and their due_contacts rows, as the intake writes them); then a
 * claim of 8 contacts (the worker's batch at its default concurrency) is
 * timed (the select of due contacts and the lease upserts, in one durable
 * commit), its leases released, and repeated; the select alone is timed too,
 * as it is the part that reads the backlog. The query the worker used before
 * due_contacts (a GROUP BY over every pending webhook) is timed on the same
 * data for comparison.
 *
 * Environment:
 *   BENCH_CLAIM_BACKLOGS      comma-separated backlogs (default 0,50000,500000)
 *   BENCH_CLAIM_REPEAT        timed claims per backlog (default 30)
 *   CRM_BRIDGE_BENCH_PG_URL   PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test;
 *                             skipped with a message when it cannot be reached)
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { claimDueContacts } from '../src/inbox/due-contacts.js';
import { releaseContactLease } from '../src/inbox/inbox.repository.js';
import { openDatabase, type Database } from '../src/storage/database.js';
import { migrateToLatest } from '../src/storage/migrations/index.js';
import type { DB } from '../src/storage/schema.js';

const PG_URL = process.env.CRM_BRIDGE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BACKLOGS = (process.env.BENCH_CLAIM_BACKLOGS ?? '0,50000,500000')
  .split(',')
  .map((value) => Number(value.trim()));
const REPEAT = Number(process.env.BENCH_CLAIM_REPEAT ?? 30);
const PER_CONTACT = 5;
const BATCH = 8;

interface Row {
  dialect: string;
  backlog: number;
  contacts: number;
  claimMedianMs: number;
  claimP95Ms: number;
  /** The select of due contacts alone (the part that reads the backlog). */
  findMedianMs: number;
  previousQueryMedianMs: number;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Fills the inbox with `backlog` pending webhooks, PER_CONTACT per contact, and lists their contacts due. */
async function fill(db: Kysely<DB>, dialect: string, backlog: number): Promise<void> {
  await sql`delete from webhook_events`.execute(db);
  await sql`delete from due_contacts`.execute(db);
  await sql`delete from contact_leases`.execute(db);
  if (backlog === 0) return;
  const contacts = Math.max(1, Math.floor(backlog / PER_CONTACT));
  const at = new Date(Date.now() - 60_000).toISOString();
  if (dialect === 'postgres') {
    await sql`
      insert into webhook_events
        (received_at, connection_id, action, contact_id, status, attempts, available_at, params, request)
      select ${at}, 'crm', 'update_tags', 'c' || (g % ${contacts}), 'pending', 0, ${at}, '{}', '{}'
      from generate_series(1, ${backlog}) g`.execute(db);
  } else {
    await sql`
      with recursive g(n) as (select 1 union all select n + 1 from g where n < ${backlog})
      insert into webhook_events
        (received_at, connection_id, action, contact_id, status, attempts, available_at, params, request)
      select ${at}, 'crm', 'update_tags', 'c' || (n % ${contacts}), 'pending', 0, ${at}, '{}', '{}'
      from g`.execute(db);
  }
  await sql`
    insert into due_contacts (connection_id, contact_id, due_at, version)
    select connection_id, contact_id, min(available_at), 1
    from webhook_events
    where status in ('pending', 'running') and contact_id is not null
    group by connection_id, contact_id`.execute(db);
  await sql`analyze`.execute(db);
}

/** The select a claim makes before it takes the leases (as in claimDueContacts). */
async function findDue(db: Kysely<DB>, now: string): Promise<void> {
  await sql`
    select d.connection_id, d.contact_id from due_contacts d
    where d.due_at <= ${now}
      and not exists (
        select l.owner from contact_leases l
        where l.connection_id = d.connection_id and l.contact_id = d.contact_id
          and l.expires_at >= ${now})
    order by d.due_at
    limit ${BATCH}`.execute(db);
}

/** The claim query of the worker before due_contacts: every pending webhook, grouped by contact. */
async function previousQuery(db: Kysely<DB>, now: string): Promise<void> {
  await sql`
    select connection_id, contact_id, min(id) as first_id
    from webhook_events
    where ((status = 'pending' and available_at <= ${now})
        or (status = 'running' and locked_until < ${now}))
      and contact_id is not null
      and not exists (
        select held.id from webhook_events held
        where held.connection_id = webhook_events.connection_id
          and held.contact_id = webhook_events.contact_id
          and held.status = 'pending' and held.attempts > 0 and held.available_at > ${now})
      and not exists (
        select l.owner from contact_leases l
        where l.connection_id = webhook_events.connection_id
          and l.contact_id = webhook_events.contact_id
          and l.expires_at >= ${now})
    group by connection_id, contact_id
    order by first_id
    limit ${BATCH + 8}`.execute(db);
}

async function measure(database: Database, backlog: number): Promise<Row> {
  const { db, dialect } = database;
  process.stdout.write(`${dialect}: filling ${backlog} pending webhooks… `);
  const filled = performance.now();
  await fill(db, dialect, backlog);
  process.stdout.write(`${Math.round(performance.now() - filled)} ms\n`);
  const claims: number[] = [];
  for (let i = 0; i < REPEAT + 3; i += 1) {
    const started = performance.now();
    const leases = await claimDueContacts(db, 'bench', 60_000, new Date().toISOString(), BATCH);
    const took = performance.now() - started;
    if (backlog > 0 && leases.length !== BATCH)
      throw new Error(`claimed ${leases.length} contacts, expected ${BATCH}`);
    for (const lease of leases) await releaseContactLease(db, lease);
    if (i >= 3) claims.push(took);
  }
  const finds: number[] = [];
  for (let i = 0; i < REPEAT + 3; i += 1) {
    const started = performance.now();
    await findDue(db, new Date().toISOString());
    if (i >= 3) finds.push(performance.now() - started);
  }
  const previous: number[] = [];
  for (let i = 0; i < 6; i += 1) {
    const started = performance.now();
    await previousQuery(db, new Date().toISOString());
    if (i >= 1) previous.push(performance.now() - started);
  }
  const row: Row = {
    dialect,
    backlog,
    contacts: backlog === 0 ? 0 : Math.max(1, Math.floor(backlog / PER_CONTACT)),
    claimMedianMs: round(quantile(claims, 0.5)),
    claimP95Ms: round(quantile(claims, 0.95)),
    findMedianMs: round(quantile(finds, 0.5)),
    previousQueryMedianMs: round(quantile(previous, 0.5)),
  };
  console.log(
    `  claim of ${BATCH} (select and leases, one commit): median ${row.claimMedianMs} ms, p95 ${row.claimP95Ms} ms; select alone: ${row.findMedianMs} ms; previous select: ${row.previousQueryMedianMs} ms`,
  );
  return row;
}

async function withPostgres(run: (url: string) => Promise<void>): Promise<void> {
  const schema = `bench_claim_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
  } catch (error) {
    console.log(`PostgreSQL skipped: ${(error as Error).message}`);
    return;
  }
  try {
    await admin.query(`create schema ${schema}`);
    const url = new URL(PG_URL);
    url.searchParams.set('schema', schema);
    await run(url.toString());
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

async function runOn(url: string, rows: Row[]): Promise<void> {
  const database = openDatabase(url);
  try {
    await migrateToLatest(database.db, database.dialect);
    for (const backlog of BACKLOGS) rows.push(await measure(database, backlog));
  } finally {
    await database.destroy();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bridge-bench-claim-'));
  try {
    await runOn(path.join(dir, 'bench.sqlite'), rows);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await withPostgres((url) => runOn(url, rows));
  console.log(
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: {
          cpus: os.availableParallelism(),
          cpuModel: os.cpus()[0]?.model ?? 'unknown',
          memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
          node: process.version,
          loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
        },
        rows,
      },
      null,
      2,
    ),
  );
}

await main();
