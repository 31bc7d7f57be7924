/**
 * Two `serve` processes on one PostgreSQL schema, one fake CRM allowing
 * `LIMIT` calls per second. Webhooks (`add`, async, one contact each) go to
 * both nodes in turn from 32 senders; the script reports webhooks accepted per
 * second, webhooks processed per second (until the last is done), and CRM
 * calls per second with the most calls the CRM saw in any one-second window.
 *
 *   npm run build && CRM_BRIDGE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test \
 *     node --import tsx bench/two-nodes.ts [webhooks] [limit per second]
 */
import { openDatabase } from '../src/storage/database.js';
import { startFakeTestCrm } from '../test/fakes/testcrm.fake.js';
import { runCli, startServe, type ServeProcess } from '../test/helpers/cli.js';
import { createTestDatabase } from '../test/helpers/databases.js';
import { waitFor } from '../test/helpers/wait.js';

const total = Number(process.argv[2] ?? 600);
const limit = Number(process.argv[3] ?? 20);
const SENDERS = 32;

const database = await createTestDatabase('postgres');
const crm = await startFakeTestCrm();
const nodes: ServeProcess[] = [];
const storage = openDatabase(database.url);
try {
  for (const name of ['a', 'b'])
    nodes.push(
      await startServe(database, {
        env: { CRM_BRIDGE_PG_APPLICATION_NAME: `crm-bridge-bench-${name}` },
      }),
    );
  const added = await runCli(
    database,
    'connections',
    'add',
    'testcrm',
    '--id',
    'crm',
    '--api-url',
    crm.url,
    '--set',
    `api_key=${crm.apiKey}`,
    '--set',
    `rate_limit_requests=${limit}`,
    '--set',
    'rate_limit_window_ms=1000',
    '--default',
  );
  if (added.code !== 0) throw new Error(added.stderr);
  const key = (await runCli(database, 'access-key', 'show')).stdout.trim();
  for (let i = 0; i < total; i += 1)
    crm.addContact({ id: `b${i}`, email: `b${i}@example.com`, tags: ['1'] });

  const started = Date.now();
  let next = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      for (let i = next++; i < total; i = next++) {
        const node = nodes[i % nodes.length] as ServeProcess;
        const response = await fetch(
          `${node.baseUrl}/?wpf_action=add&contact_id=b${i}&async=true&access_key=${key}`,
        );
        await response.arrayBuffer();
        if (response.status !== 202) refused += 1;
      }
    }),
  );
  const acceptedMs = Date.now() - started;
  await waitFor(
    'every webhook done',
    async () => {
      const rows = await storage.db
        .selectFrom('webhook_events')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('status', 'in', ['done', 'failed', 'skipped'])
        .executeTakeFirstOrThrow();
      return Number(rows.count) >= total - refused;
    },
    30 * 60_000,
  );
  const processedMs = Date.now() - started;
  const failed = await storage.db
    .selectFrom('webhook_events')
    .select('id')
    .where('status', '=', 'failed')
    .execute();
  const calls = crm.requests.length;
  console.log(`| webhooks | accepted/s | processed/s | CRM calls/s | most calls in 1 s (limit ${limit}) | failed |
| --- | --- | --- | --- | --- | --- |
| ${total} (${refused} refused) | ${((total / acceptedMs) * 1000).toFixed(0)} | ${((total / processedMs) * 1000).toFixed(1)} | ${((calls / processedMs) * 1000).toFixed(1)} | ${crm.maxRequestsInWindow(1_000)} | ${failed.length} |`);
} finally {
  for (const node of nodes) await node.stop();
  await storage.destroy();
  await crm.close();
  await database.drop();
}
