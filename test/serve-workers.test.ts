/**
 * `crm-bridge serve --workers N` on PostgreSQL: the serve process takes webhooks and the
 * runs happen in N `crm-bridge worker` children, which are started again when one dies and
 * stop with the server. On SQLite the option is refused.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import {
  createTestDatabase,
  openTestPool,
  testDialects,
  type TestDatabase,
} from './helpers/databases.js';
import { waitFor } from './helpers/wait.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The process ids of `pid`'s children, read from /proc. */
const childrenOf = (pid: number): number[] =>
  fs
    .readdirSync(`/proc/${pid}/task`)
    .flatMap((task) =>
      fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/),
    )
    .filter((id) => id !== '')
    .map(Number);

describe('crm-bridge serve --workers', () => {
  let database: TestDatabase | undefined;
  let server: ServeProcess | undefined;
  let workerPids: number[] = [];
  afterEach(async () => {
    await server?.stop();
    // Should serve have failed to stop them, nothing outlives the test.
    for (const pid of workerPids.filter(alive)) process.kill(pid, 'SIGKILL');
    await database?.drop();
    server = undefined;
    database = undefined;
    workerPids = [];
  });

  it.runIf(testDialects().includes('postgres'))(
    'runs webhooks in worker child processes, starts a dead one again and stops them with the server (postgres)',
    async () => {
      database = await createTestDatabase('postgres');
      server = await startServe(database, { args: ['--workers', '2'] });
      const listed = /Worker: +2 process\(es\), ids (\d+), (\d+)/.exec(server.banner);
      expect(listed).not.toBeNull();
      workerPids = [Number(listed?.[1]), Number(listed?.[2])];
      expect(childrenOf(server.process.pid!).sort()).toEqual([...workerPids].sort());

      const key = (await runCli(database, 'access-key', 'show')).stdout.trim();
      const add = async (n: number) => {
        const response = await fetch(
          `${server!.baseUrl}/?access_key=${key}&wpf_action=add&contact_id=${n}&email=u${n}@example.com`,
        );
        return (await response.json()) as { status?: string; created?: boolean };
      };
      const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(add));
      expect(answers).toEqual(
        Array(6).fill(expect.objectContaining({ status: 'done', created: true })),
      );
      // The serve process runs no worker: each contact's lease was taken by a child.
      const pool = openTestPool(database.url);
      try {
        const owners = await pool.db.selectFrom('contact_leases').select('owner').execute();
        expect(owners).toHaveLength(6);
        const ownerPids = owners.map(({ owner }) => Number(owner.split(':')[1]));
        expect(ownerPids.every((pid) => workerPids.includes(pid))).toBe(true);
      } finally {
        await pool.destroy();
      }

      // A worker that dies is replaced, and webhooks keep being run.
      const [dead] = workerPids;
      process.kill(dead!, 'SIGKILL');
      await waitFor('a new worker process', () => {
        const now = childrenOf(server!.process.pid!);
        return now.length === 2 && !now.includes(dead!);
      });
      workerPids = childrenOf(server.process.pid!);
      expect(await add(7)).toMatchObject({ status: 'done', created: true });

      await server.stop();
      expect(workerPids.filter(alive)).toEqual([]);
    },
    60_000,
  );

  it('refuses --workers on SQLite, and a count that is not a whole number, with a clear message', async () => {
    database = await createTestDatabase('sqlite');
    const sqlite = await runCli(database, 'serve', '--port', '0', '--workers', '2');
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toContain('--workers needs PostgreSQL');
    const notANumber = await runCli(database, 'serve', '--port', '0', '--workers', 'two');
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toContain('--workers takes a whole number from 0 to 64, not "two"');
  });
});
