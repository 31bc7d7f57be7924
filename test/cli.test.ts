/**
 * The `crm-bridge` command as scripts use it: the built binary, run as a
 * child process against a real database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeProcess } from './helpers/cli.js';
import { testDialects, createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';

/** Sends a webhook with `query` and the key to the server at `baseUrl()`. */
const webhookTo =
  (baseUrl: () => string) =>
  async (query: string, key: string, pathname = '/') => {
    const response = await fetch(
      `${baseUrl()}${pathname}?access_key=${encodeURIComponent(key)}&${query}`,
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

for (const dialect of testDialects()) {
  describe(`crm-bridge CLI (${dialect})`, () => {
    let database: TestDatabase;
    let crm: FakeTestCrm;
    let baseUrl = '';
    let server: ServeProcess | undefined;

    const cli = (...args: string[]) => runCli(database, ...args);
    const webhook = webhookTo(() => baseUrl);

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      crm = await startFakeTestCrm();
      // The real `serve` command, on the port it is given.
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      // No key cache: the server sees a rotated key at once, so nothing waits for a cache to expire.
      server = await startServe(database, { port, env: { CRM_BRIDGE_CACHE_MS: '0' } });
      baseUrl = server.baseUrl;
      expect(baseUrl).toBe(`http://127.0.0.1:${port}`);
    });
    afterAll(async () => {
      await server?.stop();
      await crm.close();
      await database.drop();
    });

    it('prints the access key alone, and rotation keeps the old key valid for the grace period', async () => {
      const shown = await cli('access-key', 'show');
      expect(shown.code).toBe(0);
      const key = shown.stdout.trim();
      expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect((await webhook('wpf_action=test', key)).body).toEqual({ success: true });

      const rotated = await cli('access-key', 'rotate', '--grace-hours', '1');
      const newKey = rotated.stdout.trim();
      expect(newKey).not.toBe(key);
      expect((await cli('access-key', 'show')).stdout.trim()).toBe(newKey);
      expect((await webhook('wpf_action=test', newKey)).status).toBe(200);
      expect((await webhook('wpf_action=test', key)).status).toBe(200);

      await cli('access-key', 'rotate', '--grace-hours', '0');
      const latest = (await cli('access-key', 'show')).stdout.trim();
      expect((await webhook('wpf_action=test', key)).status).toBe(403);
      expect((await webhook('wpf_action=test', newKey)).status).toBe(403);
      expect((await webhook('wpf_action=test', latest)).status).toBe(200);
    });

    // Other tests configure CRM connections, after which the built-in payload connection stands aside.
    describe('with no CRM configured', () => {
      let database: TestDatabase;
      let server: ServeProcess | undefined;
      const cli = (...args: string[]) => runCli(database, ...args);
      const webhook = webhookTo(() => server?.baseUrl ?? '');
      beforeAll(async () => {
        database = await createTestDatabase(dialect);
        server = await startServe(database);
      });
      afterAll(async () => {
        await server?.stop();
        await database?.drop();
      });

      it('creates a user out of the box with the payload connector and shows it with users show --json', async () => {
        const key = (await cli('access-key', 'show')).stdout.trim();
        const answer = await webhook(
          'wpf_action=add&contact_id=7&email=a@b.cc&tags=Customer,VIP&company=Acme',
          key,
        );
        expect(answer.body).toMatchObject({ status: 'done', created: true });
        const shown = await cli('users', 'show', 'a@b.cc', '--json');
        expect(shown.code).toBe(0);
        const user = JSON.parse(shown.stdout) as Record<string, unknown>;
        expect(user).toMatchObject({
          login: 'a@b.cc',
          email: 'a@b.cc',
          role: 'subscriber',
          tags: [
            { connection: 'payload', id: 'Customer', label: 'Customer' },
            { connection: 'payload', id: 'VIP', label: 'VIP' },
          ],
          meta: { company: 'Acme' },
          contacts: [expect.objectContaining({ connection: 'payload', contactId: '7' })],
        });
        expect(
          JSON.parse((await cli('users', 'show', String(user.id), '--json')).stdout),
        ).toMatchObject({ email: 'a@b.cc' });
        expect((await cli('users', 'list')).stdout).toContain('a@b.cc');
        const missing = await cli('users', 'show', 'nobody@x.yz', '--json');
        expect(missing.code).toBe(3);
        expect(missing.stderr).toContain('no user matches');
      });
    });

    it('stores, validates and reads settings', async () => {
      expect((await cli('settings', 'get', 'default_role')).stdout.trim()).toBe('subscriber');
      expect((await cli('settings', 'set', 'username_format', 'first_last')).code).toBe(0);
      expect((await cli('settings', 'get', 'username_format')).stdout.trim()).toBe('first_last');
      const bad = await cli('settings', 'set', 'username_format', 'shouting');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/username_format/);
      const list = await cli('settings', 'list', '--json');
      expect(JSON.parse(list.stdout)).toContainEqual({
        name: 'username_format',
        value: 'first_last',
        source: 'database',
      });
      await cli('settings', 'set', 'username_format', 'email');
    });

    it('keeps a rejected webhook, shows it with secrets masked, and replays it after the fix', async () => {
      const key = (await cli('access-key', 'show')).stdout.trim();
      crm.addContact({ id: '55', email: 'replay@example.com', tags: ['1'] });
      const rejected = await webhook(
        'wpf_action=add&contact_id=55&user_pass=hunter22',
        key,
        '/webhooks/crm',
      );
      expect(rejected.status).toBe(404);
      const id = String(rejected.body.eventId);

      const shown = await cli('events', 'show', id, '--json');
      expect(shown.stdout).not.toContain('hunter22');
      expect(shown.stdout).not.toContain(key);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        status: 'rejected',
        error: { code: 'UNKNOWN_CONNECTION' },
        params: { user_pass: '***' },
      });
      expect((await cli('events', 'list', '--status', 'rejected')).stdout).toContain('add');

      const added = await cli(
        'connections',
        'add',
        'testcrm',
        '--id',
        'crm',
        '--api-url',
        crm.url,
        '--set',
        `api_key=${crm.apiKey}`,
      );
      expect(added.code).toBe(0);
      const listed = await cli('connections', 'list', '--json');
      expect(listed.stdout).not.toContain(crm.apiKey);
      expect((await cli('connections', 'test', 'crm')).stdout).toContain('OK');
      expect((await cli('connections', 'tags', 'crm')).stdout).toMatch(/1\s+Customer/);

      const replayed = await cli('events', 'replay', id);
      expect(replayed.code).toBe(0);
      expect(replayed.stdout).toMatch(new RegExp(`replayed #${id} as #\\d+: done`));
      const user = JSON.parse(
        (await cli('users', 'show', 'replay@example.com', '--json')).stdout,
      ) as { tags: unknown[] };
      expect(user.tags).toEqual([{ connection: 'crm', id: '1', label: 'Customer' }]);
    });

    it('tails the activity log, filtered by contact and level', async () => {
      // A connection of its own, a run, a refused key and a password in a request, for the log to show.
      expect(
        (
          await cli(
            'connections',
            'add',
            'testcrm',
            '--id',
            'logged',
            '--api-url',
            crm.url,
            '--set',
            `api_key=${crm.apiKey}`,
          )
        ).code,
      ).toBe(0);
      crm.addContact({ id: '56', email: 'logged@example.com', tags: ['1'] });
      const key = (await cli('access-key', 'show')).stdout.trim();
      expect(
        (await webhook('wpf_action=add&contact_id=56&user_pass=hunter22', key, '/webhooks/logged'))
          .status,
      ).toBe(200);
      expect((await webhook('wpf_action=test', 'not-the-key')).status).toBe(403);

      const log = await cli('log', '--contact', '56');
      expect(log.stdout).toMatch(/Received add for contact 56 on connection logged/);
      expect(log.stdout).toMatch(/Created user #\d+ \(logged@example.com\)/);
      const warnings = await cli('log', '--level', 'warning', '--json');
      const rows = warnings.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { level: string });
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.level === 'warning' || row.level === 'error')).toBe(true);
      const everything = (await cli('log', '--limit', '500')).stdout;
      expect(everything).not.toContain('hunter22');
    });

    it('reports a bad command or value with a clear message and a non-zero exit', async () => {
      const unknown = await cli('users', 'frobnicate');
      expect(unknown.code).not.toBe(0);
      const badType = await cli('connections', 'add', 'salesforce');
      expect(badType.code).toBe(1);
      expect(badType.stderr).toMatch(/unknown CRM type "salesforce"/);
      expect((await cli('migrate')).stdout).toMatch(/schema is up to date/);
    });
  });
}
