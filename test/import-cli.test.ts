/**
 * `crm-bridge import` as a site owner runs it: against the Ontraport and Ortto
 * fakes, with the closing summary, plain progress lines when not on a
 * terminal, and a job that survives the command being killed mid-way.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { getImportJob } from '../src/import/import-jobs.js';
import type { Database } from '../src/storage/database.js';
import {
  encodeContactCat,
  startFakeOntraport,
  type FakeOntraport,
} from './fakes/ontraport.fake.js';
import { startFakeOrtto, type FakeOrtto } from './fakes/ortto.fake.js';
import { BIN, runCli, runCliWithEnv } from './helpers/cli.js';
import {
  createTestDatabase,
  openTestPool,
  type TestDatabase,
  testDialects,
} from './helpers/databases.js';
import { trackOpen } from './helpers/open-resources.js';
import { waitFor } from './helpers/wait.js';

describe.each(testDialects())('crm-bridge import (%s)', (dialect) => {
  let database: TestDatabase | undefined;
  let ontraport: FakeOntraport | undefined;
  let ortto: FakeOrtto | undefined;
  let reader: Database | undefined;
  afterEach(async () => {
    await reader?.destroy();
    await ontraport?.close();
    await ortto?.close();
    await database?.drop();
    reader = undefined;
    ontraport = undefined;
    ortto = undefined;
    database = undefined;
  });

  const cli = async (...args: string[]) => {
    const result = await runCli(database!, ...args);
    if (result.code !== 0)
      throw new Error(`${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  };

  const withOntraport = async (options: { latencyMs?: number } = {}) => {
    database = await createTestDatabase(dialect);
    ontraport = await startFakeOntraport({ withSampleContact: false, ...options });
    await cli(
      'connections',
      'add',
      'ontraport',
      '--id',
      'ont',
      '--api-url',
      ontraport.apiUrl,
      '--set',
      `app_id=${ontraport.appId}`,
      '--set',
      `api_key=${ontraport.apiKey}`,
    );
    return ontraport;
  };

  /** `import crm` of the contacts tagged Customer on `ont`. */
  const IMPORT_TAGGED = ['import', 'crm', '--connection', 'ont', '--tag', 'Customer'];
  const databaseFlags = () => ['--data-dir', database!.dataDir, '--database-url', database!.url];

  it('imports the contacts with a tag from Ontraport, then every contact, with a closing summary', async () => {
    const crm = await withOntraport();
    const ids: string[] = [];
    for (let i = 1; i <= 6; i += 1)
      ids.push(
        crm.addContact({
          firstname: `Ann${i}`,
          email: `ann${i}@example.com`,
          contact_cat: encodeContactCat(i <= 4 ? ['3'] : ['7']),
        }),
      );

    const first = await runCli(database!, ...IMPORT_TAGGED);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Import #1 started: contacts tagged "Customer" from "ont"');
    // Not a terminal: plain lines, no bar redrawn with carriage returns.
    expect(first.stdout).toContain('progress: 4 of 4 done, 0 error(s)');
    expect(first.stdout + first.stderr).not.toMatch(/\r|\[#/);
    expect(first.stdout).toMatch(/Import #1 done: 4 contact\(s\) from "ont"/);
    expect(first.stdout).toMatch(/created: +4\n/);
    expect(first.stdout).toMatch(/updated: +0\n/);
    expect(first.stdout).toMatch(/failed: +0/);

    // A contact changed in the CRM since, and one that cannot become a user.
    crm.setField(ids[0]!, 'firstname', 'Annabel');
    crm.addContact({ firstname: 'Nomail', email: '', contact_cat: encodeContactCat(['7']) });
    const second = await runCli(database!, 'import', 'crm', '--connection', 'ont', '--all');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Import #2 done: 7 contact\(s\) from "ont" \(every contact\)/);
    expect(second.stdout).toMatch(/created: +2\n/);
    expect(second.stdout).toMatch(/updated: +1\n/);
    expect(second.stdout).toMatch(/unchanged: +3\n/);
    expect(second.stdout).toMatch(/failed: +1\n +1 × .*no e-mail address/);

    const users = JSON.parse(await cli('users', 'list', '--json')) as Array<{ email: string }>;
    expect(users.map((user) => user.email).sort()).toEqual(
      ['ann1', 'ann2', 'ann3', 'ann4', 'ann5', 'ann6'].map((name) => `${name}@example.com`),
    );
    const list = await cli('import', 'list');
    expect(list).toMatch(/2 +ont +every contact +done +7\/7 +1/);
    const shown = JSON.parse(await cli('import', 'show', '1', '--json')) as {
      status: string;
      summary: { created: number };
    };
    expect(shown.status).toBe('done');
    expect(shown.summary.created).toBe(4);
    // Seven commands, each its own process: more than the default limit on a busy machine.
  }, 90_000);

  it('draws a progress bar in place on a terminal, ending at 100%', async () => {
    const crm = await withOntraport();
    for (let i = 1; i <= 3; i += 1)
      crm.addContact({ email: `tty${i}@example.com`, contact_cat: encodeContactCat(['3']) });
    const out: string[] = [];
    const drawn: string[] = [];
    const code = await main(['node', 'crm-bridge', ...IMPORT_TAGGED, ...databaseFlags()], {
      out: (text) => out.push(text),
      err: (text) => out.push(text),
      env: { CRM_BRIDGE_LOG_LEVEL: 'silent' },
      terminal: { write: (raw) => drawn.push(raw), columns: () => 80 },
    });
    expect(code).toBe(0);
    expect(drawn.every((text) => text === '\n' || text.startsWith('\r['))).toBe(true);
    expect(drawn.at(-2)).toBe(`\r[${'#'.repeat(30)}] 3/3 100%  errors: 0\u001b[K`);
    expect(drawn.at(-1)).toBe('\n');
    // The bar replaces the plain lines; the summary is still printed.
    expect(out.join('\n')).not.toContain('progress:');
    expect(out.join('\n')).toMatch(/created: +3/);
  });

  it('imports every contact from Ortto', async () => {
    database = await createTestDatabase(dialect);
    ortto = await startFakeOrtto({
      withSampleContact: false,
      rateLimit: { limit: 1000, windowMs: 1000 },
    });
    for (const name of ['kim', 'lee', 'max'])
      ortto.addContact({ email: `${name}@example.com`, first: name });
    await cli(
      'connections',
      'add',
      'ortto',
      '--api-url',
      ortto.apiUrl,
      '--set',
      `api_key=${ortto.apiKey}`,
    );
    const result = await runCli(database, 'import', 'crm', '--connection', 'ortto', '--all');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/created: +3\n/);
    const users = JSON.parse(await cli('users', 'list', '--json')) as Array<{ email: string }>;
    expect(users.map((user) => user.email).sort()).toEqual([
      'kim@example.com',
      'lee@example.com',
      'max@example.com',
    ]);
  });

  it('refuses a missing tag choice, an unknown tag and an unknown connection with a clear message', async () => {
    await withOntraport();
    const neither = await runCli(database!, 'import', 'crm', '--connection', 'ont');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give either --tag <label> or --all');
    const badTag = await runCli(database!, 'import', 'crm', '--connection', 'ont', '--tag', 'Nope');
    expect(badTag.code).toBe(2);
    expect(badTag.stderr).toContain('The CRM has no such tag: "Nope"');
    const badConnection = await runCli(database!, 'import', 'crm', '--connection', 'zzz', '--all');
    expect(badConnection.code).toBe(2);
    expect(badConnection.stderr).toContain('No such CRM connection');
  });

  it('cancels a queued import with import cancel, which no worker then takes up', async () => {
    const crm = await withOntraport();
    for (let i = 1; i <= 3; i += 1)
      crm.addContact({ email: `later${i}@example.com`, contact_cat: encodeContactCat(['3']) });
    const started = await cli(
      'import',
      'crm',
      '--connection',
      'ont',
      '--tag',
      'Customer',
      '--detach',
    );
    expect(started).toContain('Import #1 started');

    const cancelled = await runCli(database!, 'import', 'cancel', '1');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain('Import #1 cancelled: 0 contact(s) were queued');
    expect(await cli('import', 'list')).toMatch(
      /1 +ont +contacts tagged "Customer" +cancelled +0\/0/,
    );
    const shown = await cli('import', 'show', '1');
    expect(shown).toMatch(/Import #1 cancelled/);
    expect(shown).toContain('stopped: cancelled by cli');

    // A worker started afterwards neither lists nor imports anything for it.
    expect((await runCli(database!, 'worker', '--once')).code).toBe(0);
    expect(JSON.parse(await cli('users', 'list', '--json'))).toEqual([]);
    expect(crm.requests.some((r) => r.path === '/1/objects/tag')).toBe(false);

    const again = await runCli(database!, 'import', 'cancel', '1');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('The import has already ended, so it cannot be cancelled');
    const unknown = await runCli(database!, 'import', 'cancel', 'abc');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no import #abc');
  });

  it('finishes a job in the next worker after the import command was killed mid-way', async () => {
    // Every CRM call is slow, so the command is still running the contacts when it is killed.
    const crm = await withOntraport({ latencyMs: 150 });
    for (let i = 1; i <= 8; i += 1)
      crm.addContact({ email: `kill${i}@example.com`, contact_cat: encodeContactCat(['3']) });
    const env = {
      ...process.env,
      CRM_BRIDGE_LOG_LEVEL: 'silent',
      CRM_BRIDGE_LEASE_MS: '300',
      CRM_BRIDGE_WORKER_CONCURRENCY: '1',
    };
    const child = spawn(process.execPath, [BIN, ...IMPORT_TAGGED, ...databaseFlags()], {
      env,
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.once('exit', trackOpen('a `crm-bridge import` process'));
    reader = openTestPool(database!.url);
    const db = reader.db;
    try {
      await waitFor('the first imported contact', async () => {
        const job = await getImportJob(db, 1).catch(() => undefined);
        return job !== undefined && job.done >= 1 && job.done < 8;
      });
    } finally {
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
    }
    const midway = await getImportJob(db, 1);
    expect(midway?.status).not.toBe('done');

    const worker = await runCliWithEnv(
      database!,
      { CRM_BRIDGE_LEASE_MS: '300' },
      'worker',
      '--once',
    );
    expect(worker.code).toBe(0);
    const job = await waitFor('the job to be done', async () => {
      const current = await getImportJob(db, 1);
      if (current?.status === 'done') return current;
      // Contacts the killed process held are free once their leases run out: run again then.
      await runCliWithEnv(database!, { CRM_BRIDGE_LEASE_MS: '300' }, 'worker', '--once');
      return undefined;
    });
    expect(job).toMatchObject({ total: 8, done: 8, errors: 0 });
    const users = JSON.parse(await cli('users', 'list', '--json')) as unknown[];
    expect(users).toHaveLength(8);
  });
});
