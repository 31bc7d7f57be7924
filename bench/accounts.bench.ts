/**
 * Accounts benchmark: how fast new users are created and welcomed, and how
 * fast the site can check passwords over the REST API.
 *
 *   npm run bench:accounts
 *   node --import tsx bench/accounts.bench.ts
 *
 * First, in this process: hash: milliseconds per password hash, one at a
 * time (BENCH_HASHES of each): argon2id as stored now, and the scrypt a
 * login verifies for a hash stored before argon2id.
 *
 * Then one `crm-bridge serve` on a fresh SQLite data directory, no mail server
 * (messages go to the .eml outbox), in its own child process:
 *   1. welcome: BENCH_USERS webhooks `add … send_notification=true&async=true`,
 *      sent BENCH_CONCURRENCY at a time; timed until every welcome e-mail is
 *      in the outbox. Each user gets a generated password (argon2id hash), a
 *      contact link, a queued e-mail, a set-password link and an .eml file.
 *   2. verify: POST /api/v1/auth/verify with the right password, under
 *      autocannon for BENCH_DURATION seconds (each call runs argon2id once).
 *   3. read: GET /api/v1/users/<id> for comparison (no hashing).
 * Login limits are raised for the run so that no answer is a 429.
 *
 * Results are printed and written to bench/results/accounts.json.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { hashPassword, verifyPassword } from '../src/directory/passwords.js';
import { cleanUp, cleanups, childEnv, crmBridge, ROOT, sleep, startServe } from './children.js';

const settings = {
  users: Number(process.env.BENCH_USERS ?? 200),
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 10),
  durationSeconds: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
  hashes: Number(process.env.BENCH_HASHES ?? 30),
};
const PASSWORD = 'bench-known-password-71';

async function cli(dataDir: string, ...args: string[]): Promise<string> {
  const env = childEnv({ CRM_BRIDGE_LOG_LEVEL: 'silent' });
  return (await crmBridge(env, ...args, '--data-dir', dataDir)).trim();
}

async function load(options: autocannon.Options) {
  const result = await autocannon({
    connections: settings.connections,
    duration: settings.durationSeconds,
    ...options,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99 },
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Mean and median milliseconds of `run`, one call at a time, after two unmeasured calls. */
async function timeEach(
  run: () => Promise<unknown>,
): Promise<{ meanMs: number; medianMs: number }> {
  await run();
  await run();
  const times: number[] = [];
  for (let i = 0; i < settings.hashes; i += 1) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((sum, time) => sum + time, 0) / times.length;
  return {
    meanMs: Number(mean.toFixed(1)),
    medianMs: Number((times[Math.floor(times.length / 2)] ?? 0).toFixed(1)),
  };
}

async function measureHashing() {
  console.log(`hash: ${settings.hashes} of each, one at a time`);
  const salt = randomBytes(16);
  // The format stored before argon2id; verifying it runs scrypt once.
  const legacy = [
    'scrypt',
    16384,
    8,
    1,
    salt.toString('base64'),
    scryptSync(PASSWORD, salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString(
      'base64',
    ),
  ].join('$');
  const current = await hashPassword(PASSWORD);
  const hash = {
    argon2idHash: await timeEach(() => hashPassword(PASSWORD)),
    argon2idVerify: await timeEach(() => verifyPassword(PASSWORD, current)),
    scryptVerify: await timeEach(() => verifyPassword(PASSWORD, legacy)),
  };
  console.log(`  ${JSON.stringify(hash)}`);
  return hash;
}

async function main(): Promise<void> {
  const hash = await measureHashing();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bridge-bench-accounts-'));
  cleanups.push(() => fs.promises.rm(dataDir, { recursive: true, force: true }));
  const { baseUrl } = await startServe(
    'crm-bridge (sqlite)',
    ['--data-dir', dataDir],
    childEnv({
      CRM_BRIDGE_LOG_LEVEL: 'warn',
      CRM_BRIDGE_POLL_MS: '50',
      CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_IP: '10000',
      CRM_BRIDGE_SETTING_LOGIN_LIMIT_PER_ACCOUNT: '1000',
    }),
  );
  const key = await cli(dataDir, 'access-key', 'show');
  const token = await cli(dataDir, 'api-tokens', 'create', '--name', 'bench');

  console.log(`welcome: ${settings.users} new users, ${settings.concurrency} webhooks at a time`);
  const outbox = path.join(dataDir, 'outbox');
  const started = performance.now();
  for (let first = 0; first < settings.users; first += settings.concurrency) {
    const batch = Array.from(
      { length: Math.min(settings.concurrency, settings.users - first) },
      (_, index) => first + index,
    );
    await Promise.all(
      batch.map(async (n) => {
        const query = new URLSearchParams({
          wpf_action: 'add',
          access_key: key,
          contact_id: String(n),
          email: `user${n}@example.com`,
          send_notification: 'true',
          async: 'true',
        });
        const response = await fetch(`${baseUrl}/?${query.toString()}`);
        if (response.status !== 202 && response.status !== 200)
          throw new Error(`webhook ${n}: HTTP ${response.status}`);
        await response.arrayBuffer();
      }),
    );
  }
  const accepted = performance.now();
  let sent = 0;
  while (sent < settings.users) {
    if (performance.now() - started > 300_000)
      throw new Error(`only ${sent} of ${settings.users} e-mails after 5 minutes`);
    await sleep(20);
    sent = fs.existsSync(outbox)
      ? fs.readdirSync(outbox).filter((name) => name.endsWith('.eml')).length
      : 0;
  }
  const seconds = (performance.now() - started) / 1000;
  const welcome = {
    users: settings.users,
    acceptedInSeconds: Number(((accepted - started) / 1000).toFixed(2)),
    allWelcomedInSeconds: Number(seconds.toFixed(2)),
    usersWelcomedPerSecond: Number((settings.users / seconds).toFixed(1)),
  };
  console.log(`  ${JSON.stringify(welcome)}`);

  const add = new URLSearchParams({
    wpf_action: 'add',
    access_key: key,
    contact_id: 'known',
    email: 'known@example.com',
    user_pass: PASSWORD,
  });
  const known = (await (await fetch(`${baseUrl}/?${add.toString()}`)).json()) as { userId: number };
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  console.log(
    `verify: POST /api/v1/auth/verify, ${settings.connections} connections, ${settings.durationSeconds} s`,
  );
  const verify = await load({
    url: `${baseUrl}/api/v1/auth/verify`,
    method: 'POST',
    headers,
    body: JSON.stringify({ login: 'known@example.com', password: PASSWORD }),
  });
  console.log(`  ${JSON.stringify(verify)}`);
  console.log(
    `read: GET /api/v1/users/${known.userId}, ${settings.connections} connections, ${settings.durationSeconds} s`,
  );
  const read = await load({ url: `${baseUrl}/api/v1/users/${known.userId}`, headers });
  console.log(`  ${JSON.stringify(read)}`);

  const results = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
    settings,
    hash,
    welcome,
    verify,
    read,
  };
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', 'accounts.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );
}

try {
  await main();
} finally {
  await cleanUp();
}
