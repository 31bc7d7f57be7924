/**
 * Contact imports as background jobs: listed page by page into the inbox as
 * `add` webhooks, resumed by another process when the one listing dies, and
 * summed up at the end. On both databases.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { queryActivity } from '../src/activity/activity.repository.js';
import { isAppError } from '../src/errors.js';
import {
  cancelImport,
  getImportJob,
  importSummary,
  listImportJobs,
  startImport,
} from '../src/import/import-jobs.js';
import { createImportRunner } from '../src/import/import-runner.js';
import { describeEvent } from '../src/inbox/event-view.js';
import { listEvents } from '../src/inbox/inbox.repository.js';
import {
  encodeContactCat,
  startFakeOntraport,
  type FakeOntraport,
} from './fakes/ontraport.fake.js';
import { testDialects } from './helpers/databases.js';
import { createTestWorker, startTestService, type TestService } from './helpers/service.js';

/** A clock the test moves forward, as a process restarting after a while would see it. */
function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

const code = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (error: unknown) => (isAppError(error) ? error.code : String(error)),
  );

describe.each(testDialects())('contact imports (%s)', (dialect) => {
  let t: TestService | undefined;
  let crm: FakeOntraport | undefined;
  afterEach(async () => {
    await t?.close();
    await crm?.close();
    t = undefined;
    crm = undefined;
  });

  const setUp = async () => {
    // An account with room for the test's ~130 calls: at Ontraport's usual 180 a minute, spread
    // evenly, they would take longer than the test may.
    crm = await startFakeOntraport({
      withSampleContact: false,
      rateLimit: { limit: 6_000, windowMs: 60_000 },
    });
    // Worker and import runner are built by the test, to stop and restart them at will.
    t = await startTestService(dialect, { runWorker: false });
    await t.addConnection({
      id: 'ont',
      type: 'ontraport',
      apiUrl: crm.apiUrl,
      settings: { app_id: crm.appId, api_key: crm.apiKey, rate_limit_per_minute: 6_000 },
      isDefault: true,
    });
    return { crm, t };
  };

  const workerFor = (s: TestService, clock: Clock) =>
    createTestWorker(
      s,
      { concurrency: 4, leaseMs: 30_000 },
      { clock, settingOverrides: {}, logger: s.service.logger },
    );

  it('imports the contacts with a tag, resumes in another process after the first one died mid-job, and sums up', async () => {
    const { crm, t } = await setUp();
    const db = t.service.database.db;
    const tagged: string[] = [];
    for (let i = 1; i <= 60; i += 1) {
      const customer = i <= 55;
      const id = crm.addContact({
        firstname: `Person${i}`,
        // One customer has no e-mail address, so no user can be made of it.
        email: i === 55 ? '' : `person${i}@example.com`,
        contact_cat: encodeContactCat(customer ? ['3', '7'] : ['7']),
      });
      if (customer) tagged.push(id);
    }
    const clock = movableClock();
    const started = await startImport(db, t.service.registry, clock, {
      connectionId: 'ont',
      tag: 'customer',
      startedBy: 'admin@example.com',
    });
    expect(started).toMatchObject({
      status: 'listing',
      tag: { id: '3', label: 'Customer' },
      total: 0,
      startedBy: 'admin@example.com',
    });
    expect(
      await code(
        startImport(db, t.service.registry, clock, { connectionId: 'ont', tag: 'Customer' }),
      ),
    ).toBe('IMPORT_ALREADY_RUNNING');

    const runnerDeps = { db, clock, registry: t.service.registry, logger: t.service.logger };
    const first = createImportRunner(runnerDeps, { leaseMs: 60_000, pollMs: 50, owner: 'first' });
    expect(await first.step()).toBe(true);
    expect(await getImportJob(db, started.id)).toMatchObject({ status: 'listing', total: 50 });

    // The first process dies holding its claim: a second one leaves the job alone until the claim runs out.
    const second = createImportRunner(runnerDeps, { leaseMs: 60_000, pollMs: 50, owner: 'second' });
    expect(await second.step()).toBe(false);
    clock.advance(61_000);
    expect(await second.drain()).toBe(1);
    const listed = await getImportJob(db, started.id);
    expect(listed).toMatchObject({ status: 'running', total: 55, done: 0 });

    // Every tagged contact is queued exactly once, as an `add` marked with the job.
    const events = await db
      .selectFrom('webhook_events')
      .select(['contact_id', 'action', 'status', 'import_job_id'])
      .where('import_job_id', '=', started.id)
      .execute();
    expect(events.map((event) => event.contact_id).sort()).toEqual([...tagged].sort());
    expect(new Set(events.map((event) => event.action))).toEqual(new Set(['add']));
    const [shown] = await listEvents(db, { contactId: tagged[0] });
    expect(describeEvent(shown!)).toMatchObject({
      source: 'import',
      importJobId: started.id,
      params: { wpf_action: 'add', contact_id: tagged[0], source: 'import' },
    });

    const worker = workerFor(t, clock);
    await worker.drain();
    expect(await second.finishListedJobs()).toEqual([started.id]);

    const done = await getImportJob(db, started.id);
    expect(done).toMatchObject({ status: 'done', total: 55, done: 55, errors: 1, percent: 100 });
    expect(done?.finishedAt).not.toBeNull();
    const summary = await importSummary(db, started.id);
    expect(summary.created).toBe(54);
    expect(summary.updated + summary.unchanged).toBe(0);
    expect(Object.values(summary.failed)).toEqual([1]);
    expect(Object.keys(summary.failed)[0]).toMatch(/no e-mail address/);
    const users = await db.selectFrom('users').select('email').execute();
    expect(users).toHaveLength(54);
    expect(users.map((user) => user.email)).toContain('person1@example.com');
    expect(users.map((user) => user.email)).not.toContain('person56@example.com');
    expect(users.map((user) => user.email)).not.toContain('person60@example.com');

    // Imported again (every contact this time): the users exist, so they are updated or left as they are.
    const again = await startImport(db, t.service.registry, clock, { connectionId: 'ont' });
    expect(again.tag).toBeNull();
    await second.drain();
    await worker.drain();
    await second.finishListedJobs();
    const secondSummary = await importSummary(db, again.id);
    // The 5 contacts without the tag are new; the customer without an e-mail address fails again.
    expect(secondSummary.created).toBe(5);
    expect(Object.values(secondSummary.failed)).toEqual([1]);
    expect(secondSummary.unchanged).toBe(54);
    expect((await listImportJobs(db)).map((job) => [job.id, job.status])).toEqual([
      [again.id, 'done'],
      [started.id, 'done'],
    ]);
  });

  it('refuses an unknown tag and a connection without a contact API', async () => {
    const { t } = await setUp();
    const db = t.service.database.db;
    const clock = movableClock();
    expect(
      await code(
        startImport(db, t.service.registry, clock, { connectionId: 'ont', tag: 'No such tag' }),
      ),
    ).toBe('UNKNOWN_TAG');
    await t.addConnection({ id: 'hooks', type: 'payload' });
    expect(await code(startImport(db, t.service.registry, clock, { connectionId: 'hooks' }))).toBe(
      'IMPORT_UNSUPPORTED',
    );
    expect(await code(startImport(db, t.service.registry, clock, { connectionId: 'nope' }))).toBe(
      'UNKNOWN_CONNECTION',
    );
    expect(await listImportJobs(db)).toEqual([]);
  });

  it('cancels a job mid-way: no further page is listed, no process takes it up again, and the queued contacts still run', async () => {
    const { crm, t } = await setUp();
    const db = t.service.database.db;
    for (let i = 1; i <= 120; i += 1)
      crm.addContact({ email: `cancel${i}@example.com`, contact_cat: encodeContactCat(['3']) });
    const clock = movableClock();
    const job = await startImport(db, t.service.registry, clock, {
      connectionId: 'ont',
      tag: 'Customer',
    });
    const runnerDeps = { db, clock, registry: t.service.registry, logger: t.service.logger };
    const runner = createImportRunner(runnerDeps, { leaseMs: 60_000, pollMs: 50, owner: 'one' });
    expect(await runner.step()).toBe(true);
    expect(await getImportJob(db, job.id)).toMatchObject({ status: 'listing', total: 50 });

    const cancelled = await cancelImport(db, clock, job.id, 'owner');
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      total: 50,
      error: { message: 'cancelled by owner' },
    });
    expect(cancelled.finishedAt).not.toBeNull();
    const [line] = await queryActivity(db, { action: 'import', limit: 1 });
    expect(line?.message).toMatch(new RegExp(`^Import #${job.id} cancelled by owner: 50 contact`));

    // The runner holding the job lists nothing more of it: not one more call to the CRM.
    const listCalls = () => crm.requests.filter((r) => r.path === '/1/objects/tag').length;
    const callsBefore = listCalls();
    await runner.step();
    expect(await runner.drain()).toBe(0);
    expect(listCalls()).toBe(callsBefore);
    // A restart after the claim ran out does not resume it either.
    clock.advance(120_000);
    const restarted = createImportRunner(runnerDeps, { leaseMs: 60_000, pollMs: 50, owner: 'two' });
    expect(await restarted.step()).toBe(false);
    expect(listCalls()).toBe(callsBefore);
    expect(await restarted.finishListedJobs()).toEqual([]);

    // The 50 contacts queued before the cancel are real work: they stay queued and run.
    await workerFor(t, clock).drain();
    const after = await getImportJob(db, job.id);
    expect(after).toMatchObject({ status: 'cancelled', total: 50, done: 50, errors: 0 });
    expect((await importSummary(db, job.id)).created).toBe(50);
    expect(await db.selectFrom('users').select('id').execute()).toHaveLength(50);

    // Cancelling what has ended, or what does not exist, is refused.
    expect(await code(cancelImport(db, clock, job.id, 'owner'))).toBe('IMPORT_ENDED');
    expect(await code(cancelImport(db, clock, 999, 'owner'))).toBe('NOT_FOUND');
    // A new import of the same tag may start: the cancelled one no longer counts as running.
    const again = await startImport(db, t.service.registry, clock, {
      connectionId: 'ont',
      tag: 'Customer',
    });
    expect(again.status).toBe('listing');
  });

  it('fails a job the CRM refuses to list, with the reason', async () => {
    const { crm, t } = await setUp();
    const db = t.service.database.db;
    const clock = movableClock();
    const job = await startImport(db, t.service.registry, clock, { connectionId: 'ont' });
    crm.failNext({ kind: 'status', status: 401, body: 'Unauthorized' });
    const runner = createImportRunner(
      { db, clock, registry: t.service.registry, logger: t.service.logger },
      { leaseMs: 60_000, pollMs: 50 },
    );
    await runner.drain();
    const failed = await getImportJob(db, job.id);
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.code).toBe('CRM_AUTH_FAILED');
  });
});
