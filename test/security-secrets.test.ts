/**
 * Secrets at rest: what a webhook carries (passwords, tokens, the access key
 * in any of its forms) is never stored readable, never echoed, never turned
 * into user meta, yet a run and a replay still get the real values.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/api/api-tokens.repository.js';
import { verifyPassword } from '../src/directory/passwords.js';
import { findUserByEmail, getUserMeta, updateUser } from '../src/directory/user.repository.js';
import { describeEvent } from '../src/inbox/event-view.js';
import { findEvent } from '../src/inbox/inbox.repository.js';
import { replayEvent } from '../src/inbox/replay.js';
import { loadConfig } from '../src/config.js';
import { createSealer } from '../src/lib/seal.js';
import { MASK } from '../src/lib/secrets.js';
import { MIGRATIONS } from '../src/storage/migrations/index.js';
import { loadSealer } from '../src/service.js';
import { startFakeOrtto } from './fakes/ortto.fake.js';
import { runCli, runCliWithEnv, startServe } from './helpers/cli.js';
import { createTestDatabase, openTestPool, testDialects } from './helpers/databases.js';
import { eventRow } from './helpers/event-row.js';
import { startTestService, type TestService } from './helpers/service.js';

const PASSWORD = 'Pw-Secret-4711-xyz';
const TOKEN = 'sk_live_51HxSecretToken';
const STRAY = 'hunter2-stray-value';

/** Every text value of every row of the tables that hold received or derived data. */
async function storedText(t: TestService): Promise<string> {
  const { db } = t.service.database;
  const tables = ['webhook_events', 'activity_log', 'user_meta', 'access_keys', 'users'] as const;
  const dumps = await Promise.all(
    tables.map(async (table) =>
      JSON.stringify((await sql`select * from ${sql.table(table)}`.execute(db)).rows),
    ),
  );
  return dumps.join('\n');
}

for (const dialect of testDialects()) {
  describe(`secrets at rest (${dialect})`, () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    it('stores a webhook\u2019s password and tokens sealed, still uses the password, and makes no meta of stray secrets', async () => {
      const query = new URLSearchParams({
        wpf_action: 'add',
        contact_id: 'sec-1',
        email: 'sec1@example.com',
        user_pass: PASSWORD,
        api_token: TOKEN,
        password: STRAY,
        plan: 'gold',
      });
      const answer = await t.webhook(`/?access_key=${t.key}&${query.toString()}`);
      expect(answer.status).toBe(200);
      // The answer shows the fields the run used, secrets masked, and no stray secret at all.
      expect(answer.text).not.toContain(PASSWORD);
      expect(answer.text).not.toContain(TOKEN);
      expect(answer.text).not.toContain(STRAY);
      expect(answer.body).toMatchObject({ loaded: { fields: { user_pass: '***', plan: 'gold' } } });

      const user = await findUserByEmail(t.service.database.db, 'sec1@example.com');
      expect(user).toBeDefined();
      expect(await verifyPassword(PASSWORD, user?.password_hash ?? '')).toBe(true);
      expect(await getUserMeta(t.service.database.db, user?.id ?? 0)).toEqual({ plan: 'gold' });

      // Nothing readable anywhere in the database: parameters, snapshot, raw request, result, log, meta, key.
      const stored = await storedText(t);
      for (const secret of [PASSWORD, TOKEN, STRAY, t.key]) expect(stored).not.toContain(secret);

      // Nor through the API the site reads users with.
      const { token } = await createApiToken(t.service.database.db, 'site', new Date());
      const listed = await fetch(`${t.baseUrl}/api/v1/users?email=sec1@example.com`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const listedText = await listed.text();
      expect(listed.status).toBe(200);
      expect(listedText).toContain('gold');
      for (const secret of [PASSWORD, TOKEN, STRAY]) expect(listedText).not.toContain(secret);
    });

    it('replays a webhook with its sealed password, while `events show` sees only masks', async () => {
      // A user of its own, so the test does not lean on another having run first.
      const added = await t.webhook(
        `/?access_key=${t.key}&wpf_action=add&contact_id=sec-2&email=sec2%40example.com`,
      );
      expect(added.status).toBe(200);
      const body = JSON.stringify({
        wpf_action: 'update',
        contact_id: 'sec-2',
        user_pass: PASSWORD,
        client_secret: TOKEN,
      });
      const first = await t.webhook(`/?access_key=${t.key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(first.status).toBe(200);
      const eventId = first.body.eventId as number;

      const { db } = t.service.database;
      const user = await findUserByEmail(db, 'sec2@example.com');
      // Someone sets another password; replaying the webhook must bring back the one it carried.
      await updateUser(db, user?.id ?? 0, { password_hash: 'scrypt$16384$8$1$AAAA$AAAA' });
      const replay = await replayEvent(t.service, eventId);
      expect(replay.statusCode).toBe(200);
      const after = await findUserByEmail(db, 'sec2@example.com');
      expect(await verifyPassword(PASSWORD, after?.password_hash ?? '')).toBe(true);

      const shown = JSON.stringify(describeEvent((await findEvent(db, eventId))!));
      expect(shown).not.toContain(PASSWORD);
      expect(shown).not.toContain(TOKEN);
      expect(shown).toContain('***');
      const stored = await storedText(t);
      for (const secret of [PASSWORD, TOKEN]) expect(stored).not.toContain(secret);
    });

    it('treats bracket forms of the access key like the plain one: accepted, and never stored or logged', async () => {
      const answer = await t.webhook(`/?wpf_action=test&access_key[]=${t.key}`);
      expect(answer.status).toBe(200);
      const form = await t.webhook('/', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `wpf_action=test&access_key%5B%5D=${t.key}`,
      });
      expect(form.status).toBe(200);
      // An indexed form is an array to WP Fusion too, so not a key; it is still kept out of storage and logs.
      const indexed = await t.webhook(`/?wpf_action=add&contact_id=9&access_key[0]=${t.key}`);
      expect(indexed.status).toBe(403);
      expect(await storedText(t)).not.toContain(t.key);
      expect(t.logLines.join('\n')).not.toContain(t.key);
    });

    it('keeps the access key sealed and checks it against a keyed digest, so a dump alone gives no key', async () => {
      const { db } = t.service.database;
      const rows = await db.selectFrom('access_keys').selectAll().execute();
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.secret).toMatch(/^sealed:v1:/);
        expect(row.secret_hash).toBeTruthy();
        // Another key (an attacker with the dump but not the key file) opens nothing.
        expect(() => createSealer(randomBytes(32)).open(row.secret)).toThrow();
      }
      expect(t.service.sealer.open(rows[0]!.secret)).toBe(t.key);
    });

    it('seals an access key an earlier version stored in clear, and that key keeps working', async () => {
      const database = await createTestDatabase(dialect);
      const legacyKey = randomBytes(24).toString('base64url');
      const first = await startTestService(dialect, { database });
      const { db } = first.service.database;
      // As an earlier version left it: the key in clear, no digest.
      await db.deleteFrom('access_keys').execute();
      await first.addConnection({
        id: 'legacy-crm',
        type: 'testcrm',
        apiUrl: 'http://127.0.0.1:9',
        settings: { api_key: 'legacy-crm-key' },
      });
      await db
        .insertInto('access_keys')
        .values({
          secret: legacyKey,
          secret_hash: null,
          fingerprint: 'legacy01',
          created_at: new Date().toISOString(),
          expires_at: null,
        })
        .execute();
      await first.close();

      const second = await startTestService(dialect, { database });
      try {
        const row = await second.service.database.db
          .selectFrom('access_keys')
          .selectAll()
          .executeTakeFirstOrThrow();
        expect(row.secret).not.toContain(legacyKey);
        // The fingerprint is keyed now: a plain hash prefix would let a short key be found by guessing.
        expect(row.fingerprint).not.toBe('legacy01');
        expect(row.fingerprint).not.toBe(
          createHash('sha256').update(legacyKey).digest('hex').slice(0, 8),
        );
        expect(row.fingerprint).toBe(second.service.sealer.fingerprint(legacyKey));
        expect(row.fingerprint).not.toBe(createSealer(randomBytes(32)).fingerprint(legacyKey));
        expect((await second.webhook(`/?wpf_action=test&access_key=${legacyKey}`)).status).toBe(
          200,
        );
        expect(second.key).toBe(legacyKey);
        const connection = await second.service.database.db
          .selectFrom('connections')
          .select('settings')
          .where('id', '=', 'legacy-crm')
          .executeTakeFirstOrThrow();
        expect(connection.settings).not.toContain('legacy-crm-key');
        expect((await second.service.registry.resolve('legacy-crm')).id).toBe('legacy-crm');
      } finally {
        await second.close();
        await database.drop();
      }
    });
  });

  describe(`webhooks stored by earlier versions (${dialect})`, () => {
    it('masks the passwords and tokens they kept in clear, and a replay never makes the mask a password', async () => {
      const database = await createTestDatabase(dialect);
      const storage = openTestPool(database.url);
      try {
        // The schema as the version before sealing left it, with one webhook stored the old way.
        const schema =
          dialect === 'postgres'
            ? ((await sql<{ s: string }>`select current_schema() as s`.execute(storage.db)).rows[0]
                ?.s ?? undefined)
            : undefined;
        const old = new Migrator({
          db: storage.db,
          ...(schema === undefined ? {} : { migrationTableSchema: schema }),
          provider: {
            getMigrations: () =>
              Promise.resolve(
                Object.fromEntries(
                  MIGRATIONS.slice(0, 2).map(([name, migration]) => [
                    name,
                    { up: (db: Kysely<unknown>) => migration.up(db, dialect) },
                  ]),
                ),
              ),
          },
        });
        expect((await old.migrateToLatest()).error).toBeUndefined();
        await storage.db
          .insertInto('webhook_events')
          .values(
            eventRow({
              action: 'update',
              contact_id: 'old-1',
              status: 'done',
              attempts: 1,
              finished_at: new Date().toISOString(),
              params: JSON.stringify({
                action: 'update',
                contactId: 'old-1',
                sendNotification: false,
                async: false,
                raw: { user_pass: PASSWORD, plan: 'gold' },
                contact: { id: 'old-1', fields: { user_pass: PASSWORD, api_token: TOKEN } },
              }),
              request: JSON.stringify({
                method: 'GET',
                url: `/?wpf_action=update&contact_id=old-1&user_pass=${PASSWORD}`,
                contentType: null,
                body: `api_token=${TOKEN}`,
              }),
            }),
          )
          .execute();
        await storage.destroy();

        const t = await startTestService(dialect, { database });
        try {
          const stored = await storedText(t);
          expect(stored).not.toContain(PASSWORD);
          expect(stored).not.toContain(TOKEN);
          expect(stored).toContain('gold');
          // The user exists now; replaying the old webhook must not set the password to the mask.
          await t.webhook(
            `/?access_key=${t.key}&wpf_action=add&contact_id=old-1&email=old1@example.com&user_pass=${PASSWORD}`,
          );
          const row = await t.service.database.db
            .selectFrom('webhook_events')
            .select('id')
            .where('contact_id', '=', 'old-1')
            .orderBy('id')
            .executeTakeFirstOrThrow();
          expect((await replayEvent(t.service, row.id)).statusCode).toBe(200);
          const user = await findUserByEmail(t.service.database.db, 'old1@example.com');
          expect(await verifyPassword(PASSWORD, user?.password_hash ?? '')).toBe(true);
          expect(await verifyPassword(MASK, user?.password_hash ?? '')).toBe(false);
        } finally {
          await t.close();
        }
      } finally {
        await database.drop();
      }
    });
  });

  describe(`data directory and credentials (${dialect})`, () => {
    it('creates the data directory, database file and key file owner-only, and prints the key at first start only', async () => {
      const database = await createTestDatabase(dialect);
      const fresh = { ...database, dataDir: path.join(database.dataDir, 'fresh', 'data') };
      if (dialect === 'sqlite') fresh.url = path.join(fresh.dataDir, 'crm-bridge.sqlite');
      try {
        const first = await startServe(fresh);
        await first.stop();
        const key = (await runCli(fresh, 'access-key', 'show')).stdout.trim();
        expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(first.banner).toContain(key);

        const second = await startServe(fresh);
        await second.stop();
        expect(second.banner).not.toContain(key);
        expect(second.banner).toMatch(/access-key show/);

        const mode = (file: string) => fs.statSync(file).mode & 0o777;
        expect(mode(fresh.dataDir)).toBe(0o700);
        expect(mode(path.join(fresh.dataDir, 'encryption.key'))).toBe(0o600);
        if (dialect === 'sqlite') {
          expect(mode(fresh.url)).toBe(0o600);
          const dump = fs.readFileSync(fresh.url);
          expect(dump.includes(Buffer.from(key))).toBe(false);
        }
      } finally {
        await database.drop();
      }
    });

    it('reads CRM credentials from a file (`--set api_key=@path`) or from CRM_BRIDGE_SECRET_<CONNECTION>_<SETTING>', async () => {
      const database = await createTestDatabase(dialect);
      const ortto = await startFakeOrtto({ apiKey: 'env-held-ortto-key' });
      try {
        const keyFile = path.join(database.dataDir, 'ontraport.key');
        fs.writeFileSync(keyFile, 'file-held-api-key\n', { mode: 0o600 });
        const added = await runCli(
          database,
          'connections',
          'add',
          'ontraport',
          '--set',
          'app_id=2_1',
          '--set',
          `api_key=@${keyFile}`,
        );
        expect(added.code).toBe(0);
        const listed = await runCli(database, 'connections', 'list', '--json');
        expect(listed.stdout).not.toContain('file-held-api-key');
        const storage = openTestPool(database.url);
        try {
          const row = await storage.db
            .selectFrom('connections')
            .select('settings')
            .where('id', '=', 'ontraport')
            .executeTakeFirstOrThrow();
          // Stored sealed: the database alone does not hold the CRM key.
          expect(row.settings).not.toContain('file-held-api-key');
          const stored = JSON.parse(row.settings) as { api_key: string };
          const sealer = loadSealer(
            loadConfig({ dataDir: database.dataDir, databaseUrl: database.url }, {}),
          );
          expect(sealer.open(stored.api_key)).toBe('file-held-api-key');
        } finally {
          await storage.destroy();
        }

        const missing = await runCli(database, 'connections', 'add', 'ortto', '--set', 'region=eu');
        expect(missing.code).not.toBe(0);
        expect(missing.stderr).toMatch(/api_key/);
        const env = { CRM_BRIDGE_SECRET_ORTTO_API_KEY: ortto.apiKey };
        const fromEnv = await runCliWithEnv(
          database,
          env,
          'connections',
          'add',
          'ortto',
          '--api-url',
          ortto.apiUrl,
        );
        expect(fromEnv.code).toBe(0);
        // The key reaches the CRM from the environment, and only from there.
        expect((await runCliWithEnv(database, env, 'connections', 'test', 'ortto')).stdout).toMatch(
          /OK/,
        );
        expect((await runCli(database, 'connections', 'test', 'ortto')).code).not.toBe(0);
      } finally {
        await ortto.close();
        await database.drop();
      }
    });
  });
}
