/**
 * Several nodes on one PostgreSQL act as one: a webhook stored by one node
 * wakes another node's worker at once, the request waiting on the first node
 * learns the outcome at once, and together the nodes stay within the CRM's
 * rate limit.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';

/** Workers that poll only once a minute: anything faster than that was a notification. */
const SLOW_POLL = { CRM_BRIDGE_POLL_MS: '60000', CRM_BRIDGE_SYNC_WAIT_MS: '10000' };

describe.runIf(testDialects().includes('postgres'))('two nodes on one PostgreSQL', () => {
  let database: TestDatabase | undefined;
  const nodes: TestService[] = [];
  let crm: FakeTestCrm | undefined;
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.close();
    await crm?.close();
    crm = undefined;
    await database?.drop();
    database = undefined;
  });

  it('a webhook taken by an HTTP-only node is run by the other node, and its answer comes at once (not after a poll)', async () => {
    database = await createTestDatabase('postgres');
    const names = [1, 2].map(() => `crm-bridge-node-${randomBytes(4).toString('hex')}`);
    const front = await startTestService('postgres', {
      database,
      runWorker: false,
      env: { ...SLOW_POLL, CRM_BRIDGE_PG_APPLICATION_NAME: names[0] ?? '' },
    });
    nodes.push(front);
    const back = await startTestService('postgres', {
      database,
      env: { ...SLOW_POLL, CRM_BRIDGE_PG_APPLICATION_NAME: names[1] ?? '' },
    });
    nodes.push(back);
    // Both idle and asleep until the next poll, a minute away.
    await waitFor('the worker idle', () => back.service.worker?.active === 0);

    for (let i = 0; i < 3; i += 1) {
      const started = Date.now();
      const answer = await front.webhook(
        `/?wpf_action=add&contact_id=node-${i}&email=node-${i}@example.com&access_key=${front.key}`,
      );
      const tookMs = Date.now() - started;
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('done');
      // Far below the one-minute poll and the two-second fallback of a waiting request.
      expect(tookMs).toBeLessThan(1_500);
    }

    // The server drops every connection of both nodes, the listening ones included: they
    // reconnect by themselves, and the wake-ups work again.
    const admin = new pg.Client({ connectionString: process.env.CRM_BRIDGE_TEST_PG_URL });
    await admin.connect();
    try {
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where application_name = any($1)',
        [names],
      );
    } finally {
      await admin.end();
    }
    let attempt = 0;
    await waitFor('a quick answer from the other node after the reconnect', async () => {
      attempt += 1;
      const started = Date.now();
      const answer = await front.webhook(
        `/?wpf_action=add&contact_id=again-${attempt}&email=again-${attempt}@example.com&access_key=${front.key}`,
      );
      return answer.status === 200 && Date.now() - started < 1_500;
    });
  });

  it('two nodes together stay within the CRM rate limit (each used to allow the whole limit)', async () => {
    database = await createTestDatabase('postgres');
    crm = await startFakeTestCrm();
    const limit = { requests: 4, windowMs: 1_000 };
    for (let n = 0; n < 2; n += 1)
      nodes.push(
        await startTestService('postgres', {
          database,
          env: { CRM_BRIDGE_WORKER_CONCURRENCY: '4' },
        }),
      );
    const [first, second] = nodes as [TestService, TestService];
    await first.addConnection({
      id: 'crm',
      type: 'testcrm',
      apiUrl: crm.url,
      settings: {
        api_key: crm.apiKey,
        rate_limit_requests: limit.requests,
        rate_limit_window_ms: limit.windowMs,
      },
      isDefault: true,
    });
    second.service.registry.invalidate();
    const contacts = 16;
    for (let i = 0; i < contacts; i += 1)
      crm.addContact({ id: `r${i}`, email: `r${i}@example.com`, tags: ['1'] });

    const ranBy = [0, 0];
    nodes.forEach((node, n) =>
      node.service.worker?.events.on('finished', (finished: { ids: number[] }) => {
        ranBy[n] = (ranBy[n] ?? 0) + finished.ids.length;
      }),
    );
    const answers = await Promise.all(
      Array.from({ length: contacts }, (_, i) =>
        (i % 2 === 0 ? first : second).webhook(
          `/?wpf_action=add&contact_id=r${i}&async=true&access_key=${first.key}`,
        ),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(contacts).fill(202));
    const db = first.service.database.db;
    await waitFor(
      'every webhook done',
      async () =>
        (await db.selectFrom('webhook_events').select('id').where('status', '=', 'done').execute())
          .length === contacts,
      30_000,
    );
    // Both nodes worked, and the CRM never saw more than its limit in any window.
    expect(ranBy[0]).toBeGreaterThan(0);
    expect(ranBy[1]).toBeGreaterThan(0);
    expect(crm.requests.length).toBeGreaterThanOrEqual(contacts);
    expect(crm.maxRequestsInWindow(limit.windowMs)).toBeLessThanOrEqual(limit.requests);
  }, 60_000);
});

// The same wake-ups hold in one process on either database.
for (const dialect of testDialects()) {
  describe(`notifications in one process (${dialect})`, () => {
    let node: TestService | undefined;
    afterEach(async () => {
      await node?.close();
      node = undefined;
    });

    it('wakes its own worker and its waiting request without polling', async () => {
      node = await startTestService(dialect, { env: SLOW_POLL });
      const started = Date.now();
      const answer = await node.webhook(
        `/?wpf_action=add&contact_id=solo&email=solo@example.com&access_key=${node.key}`,
      );
      expect(answer.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_500);
    });
  });
}
