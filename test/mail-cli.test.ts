/**
 * `crm-bridge mail …` and `worker --once` through the built binary: queue a
 * welcome e-mail by hand, send it, list it, and send a failed one again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { insertUser } from '../src/directory/user.repository.js';
import { loadSealer, openMigratedDatabase } from '../src/service.js';
import type { Database } from '../src/storage/database.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';
import { trackedUntil } from './helpers/open-resources.js';

for (const dialect of testDialects()) {
  describe(`crm-bridge mail (${dialect})`, () => {
    let database: TestDatabase;
    let storage: Database;

    const cli = (...args: string[]) => runCli(database, ...args);

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      const config = loadConfig({ dataDir: database.dataDir, databaseUrl: database.url }, {});
      storage = trackedUntil(
        'a database connection pool',
        await openMigratedDatabase(config, loadSealer(config)),
        'destroy',
      );
      const now = new Date().toISOString();
      await insertUser(storage.db, {
        login: 'kim',
        email: 'kim@example.com',
        email_lower: 'kim@example.com',
        password_hash: 'scrypt$1$1$1$AA==$AA==',
        password_generated: 0,
        first_name: 'Kim',
        last_name: '',
        role: 'subscriber',
        display_name: 'Kim',
        created_at: now,
        updated_at: now,
      });
    });
    afterAll(async () => {
      await storage.destroy();
      await database.drop();
    });

    it('queues a welcome e-mail for an existing user, sends it with worker --once, and lists it', async () => {
      const queued = await cli('mail', 'send-welcome', 'kim@example.com');
      expect(queued).toMatchObject({ code: 0 });
      const id = /message #(\d+) queued for kim@example\.com/.exec(queued.stdout)?.[1];
      expect(id).toBeDefined();

      const worker = await cli('worker', '--once');
      expect(worker.stdout).toContain('processed 0 contact run(s) and 1 e-mail(s)');
      // The outbox is shared with the other test, which sends a reset e-mail.
      const files = fs
        .readdirSync(path.join(database.dataDir, 'outbox'))
        .filter((name) => name.endsWith('-welcome.eml'));
      expect(files).toEqual([expect.stringMatching(new RegExp(`-${id}-welcome\\.eml$`))]);
      expect(
        fs.readFileSync(path.join(database.dataDir, 'outbox', files[0] ?? ''), 'utf8'),
      ).toContain('/set-password?token=');

      const list = JSON.parse(
        (await cli('mail', 'list', '--json', '--user', 'kim')).stdout,
      ) as Array<Record<string, unknown>>;
      expect(list.filter((message) => message.kind === 'welcome')).toEqual([
        expect.objectContaining({
          id: Number(id),
          kind: 'welcome',
          status: 'sent',
          to_address: 'kim@example.com',
          subject: 'Your account at crm-bridge',
        }),
      ]);
    });

    it('sends a failed message again with mail retry, and says so when there is nothing to retry', async () => {
      const queued = await cli('mail', 'send-reset', 'kim');
      const id = Number(/message #(\d+)/.exec(queued.stdout)?.[1]);
      await storage.db
        .updateTable('mail_queue')
        .set({ status: 'failed', attempts: 15, error_message: 'refused' })
        .where('id', '=', id)
        .execute();
      expect((await cli('mail', 'list', '--status', 'failed')).stdout).toContain('refused');

      expect(await cli('mail', 'retry', String(id))).toMatchObject({
        code: 0,
        stdout: `message #${id} queued again\n`,
      });
      expect((await cli('worker', '--once')).stdout).toContain('1 e-mail(s)');
      const row = await storage.db
        .selectFrom('mail_queue')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'sent', attempts: 1, kind: 'password_reset' });

      expect(await cli('mail', 'retry', String(id))).toMatchObject({
        code: 3,
        stderr: expect.stringContaining(`no failed or pending message #${id}`),
      });
      expect(await cli('mail', 'send-welcome', 'nobody@example.com')).toMatchObject({ code: 3 });
      expect(await cli('mail', 'list', '--status', 'lost')).toMatchObject({ code: 2 });
    });
  });
}
