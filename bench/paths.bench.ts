/**
 * Path benchmark: every webhook path of the service, end to end, against a
 * fake Ontraport that answers at once (bench/fake-crm.ts), with the worker
 * running as in production, checking correctness as it measures.
 *
 *   npm run bench               # full: 10 000 contacts, 100 000-webhook burst, 10 s runs
 *   npm run bench -- --quick    # the same steps, smaller (under two minutes)
 *   npm run bench -- --quick --only=sync   # add and sync update_tags only (for profiles)
 *
 * For each database (SQLite in a temp directory; PostgreSQL in a throw-away
 * schema when reachable) a fresh service is started and driven through:
 *   1. add: synchronous `add` of every contact, 16 connections; each answer
 *      must be `done` and `created`, then every user must exist with its tags.
 *   2. sync update_tags: 16 connections, contact ids cycling; each answer must
 *      be `done`: requests/second and latency.
 *   3. async intake: `update_tags&async=true`, 64 connections, against the
 *      no-op Fastify endpoint measured just before (same requests); then every
 *      acknowledged webhook must be processed.
 *   4. burst: every contact's tags change in the CRM, then `burst` async
 *      webhooks over all contacts as fast as 64 connections send them;
 *      accepted/s, processed/s (first request to last event finished; runs
 *      coalesce), the service's peak RSS during the burst, and every
 *      acknowledged webhook processed with every user's final tags right.
 * The load generator (autocannon, this process), the fake CRM, the service and
 * PostgreSQL share the machine's CPUs.
 *
 * Environment: CRM_BRIDGE_BENCH_PG_URL picks the PostgreSQL server;
 * BENCH_SERVICE_NODE_ARGS adds node flags to the service (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"; it is then stopped with SIGTERM so the
 * profile is written); BENCH_DATABASES=sqlite (or postgres) runs one only; BENCH_SERVE_WORKERS=N
 * runs PostgreSQL's service as `serve --workers N`; BENCH_SECONDS
 * sets the length of the timed runs, BENCH_SYNC_CONNECTIONS the connections of steps 1 and 2,
 * BENCH_CONTACTS and BENCH_BURST the contacts of step 1 and the webhooks of step 4.
 * Results are printed and written to bench/results/paths.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { openDatabase, type Database } from '../src/storage/database.js';
import {
  childEnv,
  cleanUp,
  crmBridge,
  databaseFlags,
  freePort,
  gitCommit,
  postgresTarget,
  processCpuSeconds,
  ROOT,
  sleep,
  sqliteTarget,
  startChild,
  startServe,
  stopChild,
  waitUntilUp,
  type Child,
  type DatabaseTarget,
} from './children.js';
import { tagsOf } from './tag-plan.js';

const quick = process.argv.includes('--quick');
/** `--only=sync`: steps 1 and 2 only (the users must exist before update_tags). */
const syncOnly = process.argv.includes('--only=sync');
const CONNECTION_ID = 'ontraport';

const params = quick
  ? { contacts: 500, burst: 5_000, seconds: 2, warmupSeconds: 1 }
  : { contacts: 10_000, burst: 100_000, seconds: 10, warmupSeconds: 2 };
// BENCH_SECONDS lengthens the timed runs, e.g. so a profile is mostly the sync path.
if (process.env.BENCH_SECONDS) params.seconds = Number(process.env.BENCH_SECONDS);
// BENCH_CONTACTS and BENCH_BURST size steps 1 and 4 between the quick run and the full one.
if (process.env.BENCH_CONTACTS) params.contacts = Number(process.env.BENCH_CONTACTS);
if (process.env.BENCH_BURST) params.burst = Number(process.env.BENCH_BURST);
// BENCH_SYNC_CONNECTIONS=1 measures a webhook's work without batching (CPU per webhook).
const SYNC_CONNECTIONS = Number(process.env.BENCH_SYNC_CONNECTIONS ?? 16);
const ASYNC_CONNECTIONS = 64;
const serviceNodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** The issue's targets, checked at the end. */
const TARGETS = {
  syncPerSecond: 3_000,
  syncP50Ms: 10,
  postgresShareOfSqlite: 0.7,
  addPerSecond: 1_000,
  asyncShareOfNoop: 0.5,
  burstProcessedPerSecond: 7_000,
  burstPeakRssMiB: 300,
};

// ---------------------------------------------------------------------------
// Load

interface Load {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  sent: number;
  ok: number;
  /** Answers that were not what the step expects (status or body), with a sample. */
  wrong: number;
  wrongSample: string | undefined;
  errors: number;
  seconds: number;
  /**
   * When the last checked answer came (`performance.now()`): autocannon ends a fixed amount
   * only at its next whole-second tick, which made every burst last a whole number of seconds.
   */
  lastAnswerAt: number;
  serverCpuPercent: number | undefined;
}

/** Peak resident memory since the last reset, in MiB (Linux only). */
function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1]);
    return Number.isFinite(kib) ? kib / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Starts the peak-RSS count afresh (Linux: writing 5 to clear_refs); false when it cannot. */
function resetPeakRss(pid: number | undefined): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

interface LoadOptions {
  baseUrl: string;
  connections: number;
  pathFor: (n: number) => string;
  /** Seconds of load, or… */
  seconds?: number;
  /** …this many requests. */
  amount?: number;
  /** Whether an answer is right; a wrong one is counted and sampled. */
  check?: (status: number, body: string) => boolean;
  serverPid?: number | undefined;
}

async function load(options: LoadOptions): Promise<Load> {
  let sequence = 0;
  let wrong = 0;
  let wrongSample: string | undefined;
  let lastAnswerAt = performance.now();
  const cpuBefore = processCpuSeconds(options.serverPid);
  const { check } = options;
  const result = await autocannon({
    url: options.baseUrl,
    connections: options.connections,
    pipelining: 1,
    timeout: 30,
    ...(options.amount !== undefined
      ? { amount: options.amount }
      : { duration: options.seconds ?? 1 }),
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => {
          request.path = options.pathFor(sequence++);
          return request;
        },
        // Only where answers are checked: reading bodies costs the client, and the no-op's
        // figure must not pay for it.
        ...(check
          ? {
              onResponse: (status: number, body: string) => {
                lastAnswerAt = performance.now();
                if (!check(status, body)) {
                  wrong += 1;
                  wrongSample ??= `${status} ${body.slice(0, 300)}`;
                }
              },
            }
          : {}),
      },
    ],
  });
  const cpuAfter = processCpuSeconds(options.serverPid);
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    sent: result.requests.sent,
    ok: result['2xx'],
    wrong: wrong + result.non2xx,
    wrongSample,
    errors: result.errors + result.timeouts,
    seconds: result.duration,
    lastAnswerAt,
    serverCpuPercent:
      cpuBefore !== undefined && cpuAfter !== undefined
        ? ((cpuAfter - cpuBefore) / result.duration) * 100
        : undefined,
  };
}

const parse = (body: string): Record<string, unknown> => {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return {};
  }
};

// ---------------------------------------------------------------------------
// Processes

interface Crm {
  child: Child;
  apiUrl: string;
  appId: string;
  apiKey: string;
  ids: string[];
  tagIds: string[];
  retag(generation: 'first' | 'second'): Promise<void>;
}

async function startCrm(contacts: number): Promise<Crm> {
  const child = startChild(
    'fake CRM',
    ['--import', 'tsx', path.join('bench', 'fake-crm.ts'), String(contacts)],
    childEnv({}),
    { ipc: true },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const end = buffered.indexOf('\n');
      if (end >= 0) {
        child.process.stdout?.off('data', onData);
        resolve(buffered.slice(0, end));
      }
    };
    child.process.stdout?.on('data', onData);
    void child.exited.then(() => reject(new Error(`fake CRM exited:\n${child.output()}`)));
  });
  const info = JSON.parse(line) as Omit<Crm, 'child' | 'retag'>;
  return {
    child,
    ...info,
    retag: (generation) =>
      new Promise((resolve) => {
        child.process.once('message', () => resolve());
        child.process.send({ tags: generation });
      }),
  };
}

async function startNoop(): Promise<{ child: Child; baseUrl: string }> {
  const port = await freePort();
  const child = startChild(
    'no-op server',
    ['--import', 'tsx', path.join('bench', 'noop-server.ts'), String(port)],
    childEnv({}),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilUp(child, `${baseUrl}/`);
  return { child, baseUrl };
}

async function startService(target: DatabaseTarget, crm: Crm) {
  const env = childEnv({ CRM_BRIDGE_LOG_LEVEL: 'warn' });
  await crmBridge(
    env,
    'connections',
    'add',
    'ontraport',
    '--api-url',
    crm.apiUrl,
    '--set',
    `app_id=${crm.appId}`,
    '--set',
    `api_key=${crm.apiKey}`,
    '--set',
    // Out of the way, yet small enough for PostgreSQL's shared limiter: one row per allowed call.
    'rate_limit_per_minute=100000',
    '--default',
    ...databaseFlags(target),
  );
  // BENCH_SERVE_WORKERS=N: on PostgreSQL, `serve --workers N` (the runs in child processes; the
  // CPU figures then count the serving process only).
  const workers = target.name === 'postgres' ? Number(process.env.BENCH_SERVE_WORKERS ?? 0) : 0;
  const { child, baseUrl } = await startServe(
    `crm-bridge (${target.name})`,
    [...databaseFlags(target), ...(workers > 0 ? ['--workers', String(workers)] : [])],
    env,
    serviceNodeArgs,
  );
  const key = (await crmBridge(env, 'access-key', 'show', ...databaseFlags(target))).trim();
  return { child, baseUrl, key };
}

// ---------------------------------------------------------------------------
// Checks against the database

async function unfinishedEvents(database: Database): Promise<number> {
  const row = await database.db
    .selectFrom('webhook_events')
    .where('status', 'in', ['pending', 'running'])
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function eventCounts(database: Database): Promise<Record<string, number>> {
  const rows = await database.db
    .selectFrom('webhook_events')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}

/** Waits until no webhook is pending or running; the moment it saw that, or undefined on timeout. */
async function drained(database: Database, timeoutMs: number): Promise<number | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await unfinishedEvents(database)) === 0) return performance.now();
    await sleep(20);
  }
  return undefined;
}

/** Contacts whose user is missing or whose tags differ from the CRM's `generation`. */
async function wrongTags(
  database: Database,
  crm: Crm,
  generation: 'first' | 'second',
): Promise<{ wrong: number; sample: string | undefined }> {
  const rows = await database.db
    .selectFrom('contact_links as l')
    .leftJoin('user_tags as t', (join) =>
      join.onRef('t.user_id', '=', 'l.user_id').onRef('t.connection_id', '=', 'l.connection_id'),
    )
    .where('l.connection_id', '=', CONNECTION_ID)
    .select(['l.contact_id', 't.tag_id'])
    .execute();
  const actual = new Map<string, string[]>();
  for (const row of rows) {
    const list = actual.get(row.contact_id) ?? [];
    if (row.tag_id !== null) list.push(row.tag_id);
    actual.set(row.contact_id, list);
  }
  let wrong = 0;
  let sample: string | undefined;
  crm.ids.forEach((id, index) => {
    const expected = tagsOf(generation, index, crm.tagIds).sort().join(',');
    const got = actual.get(id)?.sort().join(',');
    if (got !== expected) {
      wrong += 1;
      sample ??= `contact ${id}: expected [${expected}], has ${got === undefined ? 'no user' : `[${got}]`}`;
    }
  });
  return { wrong, sample };
}

// ---------------------------------------------------------------------------
// One database

interface Problem {
  step: string;
  detail: string;
}

const withUsersPerSecond = (add: Load) => ({ ...add, usersPerSecond: add.ok / add.seconds });

async function benchDatabase(target: DatabaseTarget, crm: Crm) {
  const problems: Problem[] = [];
  const expect = (step: string, ok: boolean, detail: string) => {
    if (!ok) problems.push({ step, detail });
  };
  await crm.retag('first');
  const service = await startService(target, crm);
  const pid = service.child.process.pid;
  const database = openDatabase(target.url, { maxConnections: 1 });
  try {
    const webhook =
      (action: string, extra = '') =>
      (n: number) =>
        `/?wpf_action=${action}&access_key=${service.key}&contact_id=${crm.ids[n % crm.ids.length] ?? ''}${extra}`;
    const isDone = (status: number, body: string) =>
      status === 200 && parse(body).status === 'done';
    // 200 by default, 202 with CRM_BRIDGE_ACCEPTED_STATUS=202 (docs/status-codes.md).
    const isAccepted = (status: number, body: string) =>
      (status === 200 || status === 202) && parse(body).status === 'accepted';

    // 1. add
    console.log(`  add: ${crm.ids.length} new users, ${SYNC_CONNECTIONS} connections`);
    const add = await load({
      baseUrl: service.baseUrl,
      connections: SYNC_CONNECTIONS,
      pathFor: webhook('add'),
      amount: crm.ids.length,
      check: (status, body) => isDone(status, body) && parse(body).created === true,
      serverPid: pid,
    });
    expect(
      'add',
      add.wrong === 0 && add.errors === 0,
      `${add.wrong} wrong answers (${add.wrongSample}), ${add.errors} errors`,
    );
    const afterAdd = await wrongTags(database, crm, 'first');
    expect('add', afterAdd.wrong === 0, `${afterAdd.wrong} users wrong: ${afterAdd.sample}`);

    // 2. sync update_tags
    console.log(`  sync update_tags: ${params.seconds} s, ${SYNC_CONNECTIONS} connections`);
    await load({
      baseUrl: service.baseUrl,
      connections: SYNC_CONNECTIONS,
      pathFor: webhook('update_tags'),
      seconds: params.warmupSeconds,
    });
    const sync = await load({
      baseUrl: service.baseUrl,
      connections: SYNC_CONNECTIONS,
      pathFor: webhook('update_tags'),
      seconds: params.seconds,
      check: isDone,
      serverPid: pid,
    });
    expect(
      'sync',
      sync.wrong === 0 && sync.errors === 0,
      `${sync.wrong} wrong answers (${sync.wrongSample}), ${sync.errors} errors`,
    );
    if (syncOnly) return { database: target.name, add: withUsersPerSecond(add), sync, problems };

    // 3. async intake against the no-op endpoint, worker running
    console.log(
      `  async intake: ${params.seconds} s, ${ASYNC_CONNECTIONS} connections, and the no-op endpoint`,
    );
    const noop = await startNoop();
    let noopLoad: Load;
    try {
      const noopPath = webhook('update_tags', '&async=true');
      await load({
        baseUrl: noop.baseUrl,
        connections: ASYNC_CONNECTIONS,
        pathFor: noopPath,
        seconds: params.warmupSeconds,
      });
      noopLoad = await load({
        baseUrl: noop.baseUrl,
        connections: ASYNC_CONNECTIONS,
        pathFor: noopPath,
        seconds: params.seconds,
        serverPid: noop.child.process.pid,
      });
    } finally {
      await stopChild(noop.child, 'SIGTERM');
    }
    const before = await eventCounts(database);
    const intake = await load({
      baseUrl: service.baseUrl,
      connections: ASYNC_CONNECTIONS,
      pathFor: webhook('update_tags', '&async=true'),
      seconds: params.seconds,
      check: isAccepted,
      serverPid: pid,
    });
    expect(
      'async',
      intake.wrong === 0 && intake.errors === 0,
      `${intake.wrong} wrong answers (${intake.wrongSample}), ${intake.errors} errors`,
    );
    const intakeDrained = await drained(database, 120_000);
    const after = await eventCounts(database);
    const processed = (after.done ?? 0) - (before.done ?? 0);
    expect('async', intakeDrained !== undefined, 'webhooks still unprocessed after 120 s');
    expect('async', processed >= intake.ok, `${processed} processed for ${intake.ok} acknowledged`);

    // 4. burst
    await crm.retag('second');
    console.log(
      `  burst: ${params.burst} async webhooks over ${crm.ids.length} contacts, ${ASYNC_CONNECTIONS} connections`,
    );
    const rssResettable = resetPeakRss(pid);
    const beforeBurst = await eventCounts(database);
    const started = performance.now();
    const burst = await load({
      baseUrl: service.baseUrl,
      connections: ASYNC_CONNECTIONS,
      pathFor: webhook('update_tags', '&async=true'),
      amount: params.burst,
      check: isAccepted,
      serverPid: pid,
    });
    const acceptedAt = burst.lastAnswerAt;
    const burstDrained = await drained(database, 600_000);
    const peakRss = peakRssMiB(pid);
    const afterBurst = await eventCounts(database);
    const burstProcessed = (afterBurst.done ?? 0) - (beforeBurst.done ?? 0);
    expect(
      'burst',
      burst.wrong === 0 && burst.errors === 0,
      `${burst.wrong} wrong answers (${burst.wrongSample}), ${burst.errors} errors`,
    );
    expect('burst', burstDrained !== undefined, 'webhooks still unprocessed after 600 s');
    expect(
      'burst',
      burstProcessed >= burst.ok,
      `${burstProcessed} processed for ${burst.ok} acknowledged`,
    );
    const final = await wrongTags(database, crm, 'second');
    expect(
      'burst',
      final.wrong === 0,
      `${final.wrong} users with wrong final tags: ${final.sample}`,
    );
    const failed = Object.entries(afterBurst).filter(([status]) => status !== 'done');
    expect(
      'events',
      failed.length === 0,
      `events not done: ${JSON.stringify(Object.fromEntries(failed))}`,
    );

    const acceptSeconds = (acceptedAt - started) / 1000;
    const processSeconds = ((burstDrained ?? acceptedAt) - started) / 1000;
    return {
      database: target.name,
      add: withUsersPerSecond(add),
      sync,
      intake: {
        noop: noopLoad,
        service: intake,
        shareOfNoop: intake.requestsPerSecond / noopLoad.requestsPerSecond,
      },
      burst: {
        webhooks: params.burst,
        contacts: crm.ids.length,
        acknowledged: burst.ok,
        processed: burstProcessed,
        acceptSeconds,
        acceptedPerSecond: burst.ok / acceptSeconds,
        shareOfNoop: burst.ok / acceptSeconds / noopLoad.requestsPerSecond,
        processSeconds,
        processedPerSecond: burst.ok / processSeconds,
        peakRssMiB: peakRss,
        peakRssCovers: rssResettable ? 'the burst' : 'the whole run',
        serverCpuPercent: burst.serverCpuPercent,
      },
      problems,
    };
  } finally {
    await database.destroy();
    await stopChild(service.child, serviceNodeArgs.length > 0 ? 'SIGTERM' : 'SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// Report

type Result = Awaited<ReturnType<typeof benchDatabase>>;
const n0 = (value: number) => Math.round(value).toLocaleString('en-US');
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;

function verdicts(results: Result[]): string[] {
  const sqlite = results.find((r) => r.database === 'sqlite');
  const lines: string[] = [];
  for (const r of results) {
    const syncGoal =
      r.database === 'sqlite'
        ? TARGETS.syncPerSecond
        : TARGETS.postgresShareOfSqlite * (sqlite?.sync.requestsPerSecond ?? TARGETS.syncPerSecond);
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const { intake, burst } = r;
    const later =
      intake && burst
        ? ` · 3 async ${met(intake.shareOfNoop >= TARGETS.asyncShareOfNoop)}` +
          ` · 4 burst ${met(
            burst.shareOfNoop >= TARGETS.asyncShareOfNoop &&
              burst.processedPerSecond >= TARGETS.burstProcessedPerSecond &&
              (burst.peakRssMiB ?? Infinity) <= TARGETS.burstPeakRssMiB,
          )}`
        : '';
    lines.push(
      `${r.database}: 1 sync ${met(r.sync.requestsPerSecond >= syncGoal && r.sync.p50Ms < TARGETS.syncP50Ms)}` +
        ` · 2 add ${met(r.add.usersPerSecond >= TARGETS.addPerSecond)}` +
        later +
        ` · correctness ${r.problems.length === 0 ? 'OK' : 'FAILED'}`,
    );
  }
  return lines;
}

/** The service's CPU time per answered request, in ms. */
const cpuMsPerRequest = (l: Load) =>
  l.serverCpuPercent === undefined || l.requestsPerSecond === 0
    ? '?'
    : ((l.serverCpuPercent / 100 / l.requestsPerSecond) * 1000).toFixed(2);

function printResult(r: Result): void {
  console.log(`\n${r.database}`);
  console.log(
    `  add (sync, ${SYNC_CONNECTIONS} conn):      ${n0(r.add.usersPerSecond)} users/s, p50 ${r.add.p50Ms} ms, p99 ${r.add.p99Ms} ms, server CPU ${n0(r.add.serverCpuPercent ?? 0)}%, ${cpuMsPerRequest(r.add)} ms CPU per user`,
  );
  console.log(
    `  update_tags sync (${SYNC_CONNECTIONS} conn): ${n0(r.sync.requestsPerSecond)} req/s, p50 ${r.sync.p50Ms} ms, p99 ${r.sync.p99Ms} ms, server CPU ${n0(r.sync.serverCpuPercent ?? 0)}%, ${cpuMsPerRequest(r.sync)} ms CPU per webhook`,
  );
  for (const problem of r.problems) console.log(`  PROBLEM ${problem.step}: ${problem.detail}`);
  const { intake, burst: b } = r;
  if (!intake || !b) return;
  console.log(
    `  async intake (${ASYNC_CONNECTIONS} conn):     ${n0(intake.service.requestsPerSecond)} req/s against no-op ${n0(intake.noop.requestsPerSecond)} req/s = ${pct(intake.shareOfNoop)}, p50 ${intake.service.p50Ms} ms, ${cpuMsPerRequest(intake.service)} ms CPU per webhook`,
  );
  console.log(
    `  burst ${n0(b.webhooks)} over ${n0(b.contacts)}:  accepted ${n0(b.acceptedPerSecond)}/s (${pct(b.shareOfNoop)} of no-op) in ${b.acceptSeconds.toFixed(1)} s; ` +
      `processed ${n0(b.processedPerSecond)}/s in ${b.processSeconds.toFixed(1)} s; peak RSS ${b.peakRssMiB?.toFixed(0) ?? '?'} MiB (${b.peakRssCovers})`,
  );
}

async function main(): Promise<number> {
  const started = performance.now();
  const machine = {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
  console.log(
    `crm-bridge path benchmark${quick ? ' (quick)' : ''}: ${machine.cpus} CPU(s) ${machine.cpuModel}, Node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`,
  );
  const only = process.env.BENCH_DATABASES;
  const targets: DatabaseTarget[] = [];
  const skipped: string[] = [];
  if (!only || only.includes('sqlite')) targets.push(sqliteTarget());
  if (!only || only.includes('postgres')) {
    const postgres = await postgresTarget();
    if (typeof postgres === 'string') skipped.push(postgres);
    else targets.push(postgres);
  }
  skipped.forEach((line) => console.log(line));

  const crm = await startCrm(params.contacts);
  const results: Result[] = [];
  try {
    for (const target of targets) {
      console.log(`crm-bridge on ${target.name}`);
      const result = await benchDatabase(target, crm);
      results.push(result);
      printResult(result);
    }
  } finally {
    await stopChild(crm.child, 'SIGTERM');
  }
  console.log('');
  const lines = verdicts(results);
  lines.forEach((line) => console.log(line));
  const seconds = (performance.now() - started) / 1000;
  console.log(`took ${seconds.toFixed(0)} s`);

  const report = {
    date: new Date().toISOString(),
    commit: await gitCommit({ short: true }),
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    machine,
    parameters: {
      ...params,
      syncConnections: SYNC_CONNECTIONS,
      asyncConnections: ASYNC_CONNECTIONS,
      serviceNodeArgs,
    },
    targets: TARGETS,
    results,
    verdicts: lines,
    skipped,
    seconds,
  };
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, quick ? 'paths-quick.json' : 'paths.json');
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
  return results.some((r) => r.problems.length > 0) ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(
    `benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
} finally {
  await cleanUp();
}
process.exit(exitCode);
