/**
 * Ingest benchmark: how many webhooks per second the real service accepts and
 * commits durably, compared with a Fastify endpoint that does nothing.
 *
 *   npm run bench:ingest
 *
 * Each server runs in its own child process, so autocannon (in this process)
 * does not share an event loop with it. For every database (SQLite in a temp
 * directory always; PostgreSQL in a throw-away schema when reachable):
 *   1. start `crm-bridge serve` with the worker off (CRM_BRIDGE_WORKER=false):
 *      only intake and the durable commit are measured;
 *   2. warm up, then load `/?wpf_action=update_tags&…&async=true` with a
 *      different contact_id on each request;
 *   3. kill the service with SIGKILL and count the rows in webhook_events:
 *      every acknowledged (2xx) webhook must be there.
 * The no-op endpoint gets the same requests (it ignores the query string) and
 * is measured before and after the databases; ratios are against the mean of
 * the two, because a shared machine's speed drifts. On Linux the server's CPU
 * time per request is reported too: it depends much less on other load than
 * requests/second do.
 *
 * Environment:
 *   BENCH_DURATION      seconds of measured load per target (default 10)
 *   BENCH_CONNECTIONS   concurrent connections (default 50)
 *   BENCH_WARMUP        seconds of warm-up load before each measurement (default 2)
 *   BENCH_CONTACTS      distinct contact ids cycled through (default 10000)
 *   CRM_BRIDGE_BENCH_PG_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test;
 *                       skipped with a message when it cannot be reached)
 *   BENCH_SERVICE_NODE_ARGS  extra node flags for the service, e.g.
 *                       "--cpu-prof --cpu-prof-dir=/tmp/prof"; the service is then
 *                       stopped with SIGTERM instead of SIGKILL so the profile is written.
 *
 * Results are printed and written to bench/results/latest.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { maskDatabaseUrl, openDatabase } from '../src/storage/database.js';
import {
  cleanUp,
  childEnv,
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
  type DatabaseTarget,
} from './children.js';

const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
/** The first target: durable ingest on SQLite reaches this share of the no-op endpoint's requests/second. */
const TARGET_RATIO_PERCENT = 30;

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

const params = {
  durationSeconds: numberFromEnv('BENCH_DURATION', 10),
  connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 50)),
  warmupSeconds: numberFromEnv('BENCH_WARMUP', 2),
  contacts: Math.round(numberFromEnv('BENCH_CONTACTS', 10_000)),
  pipelining: 1,
  worker: false,
  logLevel: 'warn',
};
const serviceNodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

// ---------------------------------------------------------------------------
// Load

interface LoadFigures {
  requestsPerSecond: number;
  latencyMs: { average: number; p50: number; p97_5: number; p99: number; max: number };
  requestsSent: number;
  responses2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationSeconds: number;
  /** CPU time the server process used during the run, per request answered (Linux only). */
  serverCpuUsPerRequest: number | undefined;
  /** Share of one CPU the server process used during the run (Linux only). */
  serverCpuPercent: number | undefined;
  /** Time the hypervisor gave to others while we waited for a CPU, as % of all CPU time (Linux only). */
  stealPercent: number | undefined;
}

let sequence = 0;

/** Total and steal jiffies of all CPUs, from /proc/stat (undefined elsewhere). */
function systemCpuTicks(): { total: number; steal: number; idle: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (values.length < 8 || values.some((value) => !Number.isFinite(value))) return undefined;
    // user nice system idle iowait irq softirq steal
    return {
      total: values.reduce((sum, value) => sum + value, 0),
      steal: values[7] ?? 0,
      idle: (values[3] ?? 0) + (values[4] ?? 0),
    };
  } catch {
    return undefined;
  }
}

/** How busy all CPUs are over `ms` while we wait (Linux only): other work on the machine. */
async function cpuBusyPercent(ms: number): Promise<number | undefined> {
  const before = systemCpuTicks();
  await sleep(ms);
  const after = systemCpuTicks();
  if (!before || !after || after.total <= before.total) return undefined;
  return (1 - (after.idle - before.idle) / (after.total - before.total)) * 100;
}

/** Runs autocannon against `baseUrl`, with a path per request from `pathFor(contactId)`; `serverPid` is sampled for CPU use. */
async function runLoad(
  baseUrl: string,
  seconds: number,
  pathFor: (contactId: number) => string,
  serverPid?: number,
): Promise<LoadFigures> {
  const cpuBefore = processCpuSeconds(serverPid);
  const systemBefore = systemCpuTicks();
  const result = await autocannon({
    url: baseUrl,
    connections: params.connections,
    pipelining: params.pipelining,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => {
          request.path = pathFor((sequence++ % params.contacts) + 1);
          return request;
        },
      },
    ],
  });
  const cpuAfter = processCpuSeconds(serverPid);
  const systemAfter = systemCpuTicks();
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stats.count ?? 0;
  const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  const serverCpu =
    cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
  const systemTotal = systemBefore && systemAfter ? systemAfter.total - systemBefore.total : 0;
  return {
    requestsPerSecond: result.requests.average,
    latencyMs: {
      average: result.latency.average,
      p50: result.latency.p50,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    requestsSent: result.requests.sent,
    responses2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    durationSeconds: result.duration,
    serverCpuUsPerRequest:
      serverCpu !== undefined && answered > 0 ? (serverCpu * 1e6) / answered : undefined,
    serverCpuPercent: serverCpu !== undefined ? (serverCpu / result.duration) * 100 : undefined,
    stealPercent:
      systemBefore && systemAfter && systemTotal > 0
        ? ((systemAfter.steal - systemBefore.steal) / systemTotal) * 100
        : undefined,
  };
}

/** Load that is not measured: lets V8 optimise and the database warm its caches. */
async function warmUp(
  label: string,
  baseUrl: string,
  pathFor: (contactId: number) => string,
): Promise<LoadFigures> {
  console.log(`  ${label}: warm-up ${params.warmupSeconds} s`);
  const figures = await runLoad(baseUrl, params.warmupSeconds, pathFor);
  await sleep(500); // let requests still in flight settle
  return figures;
}

function measure(
  label: string,
  baseUrl: string,
  pathFor: (contactId: number) => string,
  serverPid: number | undefined,
): Promise<LoadFigures> {
  console.log(
    `  ${label}: measuring ${params.durationSeconds} s with ${params.connections} connections`,
  );
  return runLoad(baseUrl, params.durationSeconds, pathFor, serverPid);
}

// ---------------------------------------------------------------------------
// Targets

async function benchNoop(label: string): Promise<LoadFigures> {
  const port = await freePort();
  const child = startChild(
    'no-op server',
    ['--import', 'tsx', path.join('bench', 'noop-server.ts'), String(port)],
    childEnv({}),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitUntilUp(child, `${baseUrl}/`);
    // Same request shape as the ingest run, so the load generator does the same work.
    const pathFor = (contactId: number) =>
      `/?wpf_action=update_tags&access_key=none&contact_id=${contactId}&async=true`;
    await warmUp(label, baseUrl, pathFor);
    return await measure(label, baseUrl, pathFor, child.process.pid);
  } finally {
    await stopChild(child, 'SIGTERM');
  }
}

interface DurabilityCheck {
  rowsBeforeRun: number;
  rowsAfterRun: number;
  rowsStoredDuringRun: number;
  acknowledgedDuringRun: number;
  acknowledgedIncludingWarmup: number;
  /** How the service was stopped before counting. */
  stoppedWith: NodeJS.Signals;
  ok: boolean;
}

async function countEvents(url: string): Promise<number> {
  const database = openDatabase(url, { maxConnections: 1 });
  try {
    const row = await database.db
      .selectFrom('webhook_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await database.destroy();
  }
}

async function benchDatabase(target: DatabaseTarget) {
  const env = childEnv({
    CRM_BRIDGE_LOG_LEVEL: params.logLevel,
    CRM_BRIDGE_WORKER: String(params.worker),
  });
  const { child, baseUrl } = await startServe(
    `crm-bridge (${target.name})`,
    databaseFlags(target),
    env,
    serviceNodeArgs,
  );
  const stdout = await crmBridge(env, 'access-key', 'show', ...databaseFlags(target));
  const key = stdout.trim();
  if (!/^[A-Za-z0-9_-]{20,}$/.test(key))
    throw new Error(`unexpected output from access-key show: ${JSON.stringify(stdout)}`);

  const pathFor = (contactId: number) =>
    `/?wpf_action=update_tags&access_key=${key}&contact_id=${contactId}&async=true`;
  const warmup = await warmUp(target.name, baseUrl, pathFor);
  const rowsBeforeRun = await countEvents(target.url);
  const load = await measure(target.name, baseUrl, pathFor, child.process.pid);

  // Without a chance to flush anything: what was acknowledged must already be committed.
  const stoppedWith: NodeJS.Signals = serviceNodeArgs.length > 0 ? 'SIGTERM' : 'SIGKILL';
  await stopChild(child, stoppedWith);
  const rowsAfterRun = await countEvents(target.url);
  const durability: DurabilityCheck = {
    rowsBeforeRun,
    rowsAfterRun,
    rowsStoredDuringRun: rowsAfterRun - rowsBeforeRun,
    acknowledgedDuringRun: load.responses2xx,
    acknowledgedIncludingWarmup: warmup.responses2xx + load.responses2xx,
    stoppedWith,
    ok:
      rowsAfterRun - rowsBeforeRun >= load.responses2xx &&
      rowsAfterRun >= warmup.responses2xx + load.responses2xx,
  };
  return { load, warmup, durability };
}

// ---------------------------------------------------------------------------
// Report

function machine() {
  let osName = `${os.type()} ${os.release()}`;
  try {
    const release = fs.readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1];
    if (pretty) osName = `${pretty} (kernel ${os.release()})`;
  } catch {
    // not Linux, or no os-release: keep the generic name
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    os: osName,
    arch: os.arch(),
  };
}

function autocannonVersion(): string {
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
  ].join('\n');
}

const fixed = (value: number, digits: number) => value.toFixed(digits);

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const info = machine();
  console.log(
    `crm-bridge ingest benchmark — ${info.cpus} CPU(s) ${info.cpuModel}, ${info.memoryGiB} GiB, Node ${info.node}, ${info.os}`,
  );
  console.log(
    `duration ${params.durationSeconds} s, ${params.connections} connections, warm-up ${params.warmupSeconds} s, ` +
      `${params.contacts} contact ids, pipelining ${params.pipelining}`,
  );
  console.log(
    'Service runs with CRM_BRIDGE_WORKER=false: this measures intake and the durable commit only; ' +
      'the worker would compete for the same CPUs.',
  );
  console.log(
    `Load generator (autocannon, this process) and servers share the same ${info.cpus} CPU(s).`,
  );
  const busyAtStart = await cpuBusyPercent(1_000);
  if (busyAtStart !== undefined && busyAtStart > 20) {
    console.log(
      `warning: the CPUs were ${fixed(busyAtStart, 0)}% busy before starting; other work on this machine will distort the figures.`,
    );
  }
  console.log('');

  const targets: DatabaseTarget[] = [sqliteTarget()];
  const postgres = await postgresTarget();
  if (typeof postgres === 'string') console.log(postgres);
  else targets.push(postgres);

  // The no-op baseline is measured before and after the databases; the machine's
  // speed drifts, and the ratio is taken against the mean of the two.
  console.log('no-op Fastify endpoint');
  const noopBefore = await benchNoop('no-op (before)');

  const measured = [];
  for (const target of targets) {
    console.log(`crm-bridge on ${target.name} (${maskDatabaseUrl(target.url)})`);
    measured.push({ target, ...(await benchDatabase(target)) });
  }
  const noopAfter = await benchNoop('no-op (after)');
  const noopRequestsPerSecond = (noopBefore.requestsPerSecond + noopAfter.requestsPerSecond) / 2;
  const percentOfNoop = (load: LoadFigures) =>
    (load.requestsPerSecond / noopRequestsPerSecond) * 100;
  const databases = measured.map(({ target, load, warmup, durability }) => ({
    database: target.name,
    load,
    warmup: { responses2xx: warmup.responses2xx, non2xx: warmup.non2xx, errors: warmup.errors },
    durability,
    percentOfNoop: percentOfNoop(load),
  }));

  const header = [
    'target',
    'req/s (avg)',
    'p50 ms',
    'p97.5 ms',
    'p99 ms',
    'errors',
    'non-2xx',
    '2xx',
    'rows stored',
    '% of no-op',
    'server CPU µs/req',
  ];
  const optional = (value: number | undefined, digits: number) =>
    value === undefined ? '-' : fixed(value, digits);
  const row = (name: string, load: LoadFigures, rows: string) => [
    name,
    fixed(load.requestsPerSecond, 0),
    fixed(load.latencyMs.p50, 0),
    fixed(load.latencyMs.p97_5, 0),
    fixed(load.latencyMs.p99, 0),
    String(load.errors),
    String(load.non2xx),
    String(load.responses2xx),
    rows,
    `${fixed(percentOfNoop(load), 1)}%`,
    optional(load.serverCpuUsPerRequest, 0),
  ];
  const table = formatTable(header, [
    row('no-op Fastify (before)', noopBefore, '-'),
    ...databases.map((entry) =>
      row(`crm-bridge ${entry.database}`, entry.load, String(entry.durability.rowsStoredDuringRun)),
    ),
    row('no-op Fastify (after)', noopAfter, '-'),
  ]);
  console.log(`\n${table}\n`);
  console.log(
    `% of no-op: against the mean of the two no-op runs (${fixed(noopRequestsPerSecond, 0)} req/s).`,
  );
  const steal = [noopBefore, ...databases.map((entry) => entry.load), noopAfter].map(
    (load) => load.stealPercent,
  );
  if (steal.every((value) => value !== undefined)) {
    console.log(
      `CPU steal during the runs (in table order): ${steal.map((value) => `${fixed(value ?? 0, 1)}%`).join(', ')}`,
    );
  }

  let failures = 0;
  for (const entry of databases) {
    const d = entry.durability;
    const verdict = d.ok ? 'OK' : 'FAILED';
    if (!d.ok) failures += 1;
    console.log(
      `durability ${entry.database}: ${verdict} — after ${d.stoppedWith}, ${d.rowsStoredDuringRun} rows stored during the run ` +
        `for ${d.acknowledgedDuringRun} acknowledged; ${d.rowsAfterRun} rows in total for ${d.acknowledgedIncludingWarmup} acknowledged including warm-up`,
    );
    if (entry.load.errors > 0 || entry.load.non2xx > 0) {
      console.log(
        `  ${entry.database}: ${entry.load.errors} errors, status codes ${JSON.stringify(entry.load.statusCodes)}`,
      );
    }
  }
  const sqlite = databases.find((entry) => entry.database === 'sqlite');
  const targetMet = sqlite !== undefined && sqlite.percentOfNoop >= TARGET_RATIO_PERCENT;
  console.log(
    `target (SQLite ingest ≥ ${TARGET_RATIO_PERCENT}% of no-op req/s): ${targetMet ? 'met' : 'NOT met'}` +
      (sqlite ? ` (${fixed(sqlite.percentOfNoop, 1)}%)` : ''),
  );

  const report = {
    date: new Date().toISOString(),
    commit: await gitCommit(),
    command: 'npm run bench:ingest',
    machine: info,
    parameters: { ...params, autocannon: autocannonVersion(), serviceNodeArgs },
    cpuBusyPercentAtStart: busyAtStart,
    noop: { before: noopBefore, after: noopAfter, meanRequestsPerSecond: noopRequestsPerSecond },
    databases,
    target: {
      description: `SQLite ingest ≥ ${TARGET_RATIO_PERCENT}% of the no-op endpoint's requests/second`,
      met: targetMet,
    },
    skipped: typeof postgres === 'string' ? [postgres] : [],
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'latest.json');
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${path.relative(ROOT, file)}`);
  return failures > 0 ? 1 : 0;
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
