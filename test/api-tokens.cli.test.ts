/**
 * `crm-bridge api-tokens …` as an administrator uses it: the built binary
 * against the database of a running service, whose REST API must accept the
 * tokens it creates and refuse them once revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiTokenInfo } from '../src/api/api-tokens.repository.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

const TOKEN = /^cb_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;

for (const dialect of testDialects()) {
  describe(`crm-bridge api-tokens (${dialect})`, () => {
    let database: TestDatabase;
    let t: TestService;

    const cli = (...args: string[]) => runCli(database, ...args);
    const apiStatus = async (token: string) =>
      (
        await fetch(`${t.baseUrl}/api/v1/users?limit=1`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status;
    const list = async () =>
      JSON.parse((await cli('api-tokens', 'list', '--json')).stdout) as ApiTokenInfo[];

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      t = await startTestService(dialect, { database });
    });
    afterAll(async () => {
      await t?.close();
      await database?.drop();
    });

    it('creates a token printed once, alone on stdout, that the running API accepts', async () => {
      const created = await cli('api-tokens', 'create', '--name', 'main site');
      expect(created.code).toBe(0);
      const token = created.stdout.trim();
      expect(token).toMatch(TOKEN);
      expect(created.stderr).toContain('shown only this once');
      expect(await apiStatus(token)).toBe(200);

      const asJson = await cli('api-tokens', 'create', '--name', 'staging', '--json');
      const parsed = JSON.parse(asJson.stdout) as ApiTokenInfo & { token: string };
      expect(parsed).toMatchObject({ name: 'staging', lastUsedAt: null, revokedAt: null });
      expect(parsed.token.startsWith(`cb_${parsed.prefix}_`)).toBe(true);
      expect(await apiStatus(parsed.token)).toBe(200);

      const missingName = await cli('api-tokens', 'create');
      expect(missingName.code).not.toBe(0);
      expect(missingName.stderr).toContain('--name');
    });

    it('lists tokens by name and prefix with their last use, never their secret', async () => {
      const token = (await cli('api-tokens', 'create', '--name', 'listed')).stdout.trim();
      const prefix = TOKEN.exec(token)?.[1] ?? '';
      const before = (await list()).find((row) => row.name === 'listed');
      expect(before).toMatchObject({ prefix, lastUsedAt: null, revokedAt: null });

      await apiStatus(token);
      const after = (await list()).find((row) => row.name === 'listed');
      expect(after?.lastUsedAt).toEqual(expect.any(String));

      const text = await cli('api-tokens', 'list');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(new RegExp(`listed\\s+cb_${prefix}_…`));
      const secret = token.slice(`cb_${prefix}_`.length);
      expect(text.stdout).not.toContain(secret);
      expect(JSON.stringify(await list())).not.toContain(secret);
    });

    it('revokes a token: the API refuses it within seconds, and the list shows when', async () => {
      const token = (await cli('api-tokens', 'create', '--name', 'to revoke')).stdout.trim();
      expect(await apiStatus(token)).toBe(200);
      const id = (await list()).find((row) => row.name === 'to revoke')?.id;
      expect(id).toEqual(expect.any(Number));

      const revoked = await cli('api-tokens', 'revoke', String(id));
      expect(revoked).toMatchObject({ code: 0, stdout: expect.stringContaining('revoked') });
      const status = await waitFor(
        'the revoked token to be refused',
        async () => {
          const answer = await apiStatus(token);
          return answer !== 200 && answer;
        },
        3_000,
      );
      expect(status).toBe(401);
      expect((await list()).find((row) => row.id === id)?.revokedAt).toEqual(expect.any(String));

      expect((await cli('api-tokens', 'revoke', String(id))).stdout).toContain('already revoked');
      const unknown = await cli('api-tokens', 'revoke', '9999');
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain('no API token #9999');
    });
  });
}
