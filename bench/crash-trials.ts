/**
 * kill -9 at random points: 100 trials (half on SQLite, half on PostgreSQL).
 * Each trial starts `serve` on a fresh database, sends webhooks from four
 * senders at once, kills the process with SIGKILL after a random number of
 * them were acknowledged (1 to 150), starts it again, and checks that every
 * acknowledged webhook reached `done`.
 *
 *   npm run build && CRM_BRIDGE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test \
 *     node --import tsx bench/crash-trials.ts [trials]
 */
import { runCrashTrial } from '../test/helpers/crash-trial.js';
import { createTestDatabase, type TestDialect } from '../test/helpers/databases.js';

const trials = Number(process.argv[2] ?? 100);
const dialects: TestDialect[] = process.env.CRM_BRIDGE_TEST_PG_URL
  ? ['sqlite', 'postgres']
  : ['sqlite'];

interface Tally {
  trials: number;
  /** Trials that could not be run to the end (a start-up or sending problem, not a lost webhook). */
  broken: number;
  acknowledged: number;
  lost: number;
  recoveryMs: number[];
}
const tallies = new Map<TestDialect, Tally>(
  dialects.map((dialect) => [
    dialect,
    { trials: 0, broken: 0, acknowledged: 0, lost: 0, recoveryMs: [] },
  ]),
);

for (let trial = 0; trial < trials; trial += 1) {
  const dialect = dialects[trial % dialects.length] ?? 'sqlite';
  const killAfter = 1 + Math.floor(Math.random() * 150);
  const database = await createTestDatabase(dialect);
  const tally = tallies.get(dialect) as Tally;
  try {
    const result = await runCrashTrial(database, `trial${trial}`, {
      killAfter,
      recoveryTimeoutMs: 60_000,
    });
    tally.trials += 1;
    tally.acknowledged += result.acknowledged;
    tally.lost += result.lost.length;
    tally.recoveryMs.push(result.recoveryMs);
    console.log(
      `trial ${trial + 1}/${trials} ${dialect}: killed after ${killAfter}, acknowledged ${result.acknowledged}, unanswered ${result.unanswered}, lost ${result.lost.length}${result.lost.length ? ` (${result.lost.join(', ')})` : ''}, all done ${result.recoveryMs} ms after the restart`,
    );
  } catch (error) {
    tally.broken += 1;
    console.log(`trial ${trial + 1}/${trials} ${dialect}: could not be run: ${String(error)}`);
  } finally {
    await database.drop();
  }
}

console.log('\n| database | trials | broken | acknowledged | lost | recovery (median, max) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [dialect, tally] of tallies) {
  const sorted = [...tally.recoveryMs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `| ${dialect} | ${tally.trials} | ${tally.broken} | ${tally.acknowledged} | ${tally.lost} | ${(median / 1000).toFixed(1)} s, ${((sorted.at(-1) ?? 0) / 1000).toFixed(1)} s |`,
  );
}
const lost = [...tallies.values()].reduce((sum, tally) => sum + tally.lost, 0);
process.exitCode = lost === 0 ? 0 : 1;
