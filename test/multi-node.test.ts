/**
 * Several nodes on one PostgreSQL act as one: a webhook stored by one node
 * wakes another node's worker at once, the request waiting on the first node
 * learns the outcome at once, and together the nodes stay within the CRM's
 * rate limit.
 */
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
    const front = await startTestService('postgres', {
      database,
      runWorker: false,
      env: SLOW_POLL,
    });
    nodes.push(front);
    const back = await startTestService('postgres', { database, env: SLOW_POLL });
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
  });
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
