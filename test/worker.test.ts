/**
 * The inbox and worker over real HTTP, a real database and the testcrm fake:
 * serialization per contact, coalescing, the extra run for webhooks that
 * arrive mid-run, retries, permanent failures, crash recovery, and several
 * processes sharing one PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { findUserByEmail, getUserTagIds } from '../src/directory/user.repository.js';
import { findEvent, listEvents } from '../src/inbox/inbox.repository.js';
import { spawnWorker } from './helpers/cli.js';
import { testDialects } from './helpers/databases.js';
import { createTestWorker, startTestService, type TestService } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { jsonAt } from './helpers/json.js';

for (const dialect of testDialects()) {
  describe(`inbox and worker (${dialect})`, () => {
    let crm: FakeTestCrm;
    let t: TestService;
    const extra: Array<{ close(): Promise<void> }> = [];

    const start = async (
      env: Record<string, string> = {},
      settings: Record<string, unknown> = {},
    ) => {
      t = await startTestService(dialect, { env });
      await t.connectTestCrm(crm, { timeout_ms: 1_000, ...settings });
      return t;
    };
    const hook = (query: string) => t.webhook(`/?access_key=${t.key}&${query}`);
    const allFinal = async () => {
      const events = await listEvents(t.service.database.db, { limit: 1_000 });
      return events.every((event) => ['done', 'skipped', 'failed'].includes(event.status))
        ? events
        : undefined;
    };

    beforeEach(async () => {
      crm = await startFakeTestCrm();
    });
    afterEach(async () => {
      for (const item of extra.splice(0)) await item.close();
      await t?.close();
      await crm.close();
    });

    it('serializes 50 simultaneous webhooks for one contact, coalesces them, loses none, and ends in the CRM state', async () => {
      await start();
      crm.addContact({ id: 'c1', email: 'burst@example.com', tags: [] });
      crm.latencyMs = 20;
      const labels = [...crm.tags.keys()];
      const sends: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i += 1) {
        // The CRM changes before each webhook, as a bulk edit would.
        const contact = crm.contacts.get('c1');
        if (contact)
          contact.tags = labels.slice(0, (i % labels.length) + 1).filter((_, n) => n !== i % 2);
        sends.push(hook(`wpf_action=${i === 0 ? 'add' : 'update_tags'}&contact_id=c1&async=true`));
      }
      const answers = (await Promise.all(sends)) as Array<{ status: number }>;
      expect(answers.every((answer) => answer.status === 200)).toBe(true);

      const events = await waitFor('all events final', allFinal);
      expect(events).toHaveLength(50);
      expect(events.every((event) => event.status === 'done')).toBe(true);
      expect(crm.maxConcurrentLoads('c1')).toBe(1);
      expect(crm.loads('c1')).toBeLessThan(50);

      const user = await findUserByEmail(t.service.database.db, 'burst@example.com');
      expect(user).toBeDefined();
      const tags = await getUserTagIds(t.service.database.db, user?.id ?? 0, 'crm');
      expect(tags.sort()).toEqual([...(crm.contacts.get('c1')?.tags ?? [])].sort());
    });

    it('runs once more for a webhook that arrives while its contact is being processed', async () => {
      await start();
      crm.addContact({ id: 'c2', email: 'mid@example.com', tags: ['1'] });
      await hook('wpf_action=add&contact_id=c2');
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let firstLoad = true;
      crm.onLoad = async () => {
        if (!firstLoad) return;
        firstLoad = false;
        await gate;
      };
      const loadsBefore = crm.loads('c2');
      const first = hook('wpf_action=update_tags&contact_id=c2');
      await waitFor('the run to load the contact', () => crm.loads('c2') > loadsBefore);
      // The CRM changes and sends another webhook while the first run waits on its load.
      const contact = crm.contacts.get('c2');
      if (contact) contact.tags = ['2', '3'];
      const second = hook('wpf_action=update_tags&contact_id=c2&async=true');
      const secondAnswer = await second;
      release();
      expect((await first).status).toBe(200);
      const id = secondAnswer.body.eventId as number;
      const event = await waitFor('the second event', async () => {
        const row = await findEvent(t.service.database.db, id);
        return row?.status === 'done' ? row : undefined;
      });
      expect(JSON.parse(event.result ?? '{}')).toMatchObject({
        tags: {
          current: ['VIP', 'Newsletter'],
          added: ['VIP', 'Newsletter'],
          removed: ['Customer'],
        },
      });
      expect(crm.loads('c2') - loadsBefore).toBe(2);
    });

    it('retries server errors with backoff and then succeeds', async () => {
      await start();
      crm.addContact({ id: 'c3', email: 'retry@example.com', tags: ['1'] });
      crm.failNext(
        { kind: 'status', status: 503, body: { error: 'maintenance' } },
        2,
        '/contacts/c3',
      );
      const answer = await hook('wpf_action=add&contact_id=c3');
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const event = await findEvent(t.service.database.db, answer.body.eventId as number);
      expect(event?.attempts).toBe(3);
      const warnings = await queryActivity(t.service.database.db, {
        eventId: event?.id,
        level: 'warning',
      });
      expect(warnings).toHaveLength(2);
      expect(warnings[0]?.message).toMatch(/retrying in/);
    });

    it('retries a timeout', async () => {
      await start();
      crm.addContact({ id: 'c4', email: 'slow@example.com' });
      crm.failNext({ kind: 'timeout' }, 1, '/contacts/c4');
      const answer = await hook('wpf_action=add&contact_id=c4');
      expect(answer.body).toMatchObject({ status: 'done' });
      const warnings = await queryActivity(t.service.database.db, {
        eventId: answer.body.eventId as number,
        level: 'warning',
      });
      expect(warnings[0]?.message).toMatch(/did not answer in time/);
    });

    it('honours Retry-After on 429', async () => {
      await start();
      crm.addContact({ id: 'c5', email: 'limited@example.com' });
      crm.failNext(
        {
          kind: 'status',
          status: 429,
          body: { error: 'slow down' },
          headers: { 'retry-after': '1' },
        },
        1,
        '/contacts/c5',
      );
      const answer = await hook('wpf_action=add&contact_id=c5');
      expect(answer.body).toMatchObject({ status: 'done' });
      const loads = crm.requests.filter((request) => request.path === '/contacts/c5');
      expect(loads).toHaveLength(2);
      expect((loads[1]?.at ?? 0) - (loads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    });

    it('fails at once, with the reason, on bad credentials and on an unknown contact', async () => {
      await start({}, { api_key: 'wrong' });
      const bad = await hook('wpf_action=add&contact_id=c6');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      expect(crm.requests).toHaveLength(1);
      const errors = await queryActivity(t.service.database.db, {
        eventId: bad.body.eventId as number,
        level: 'error',
      });
      expect(errors[0]?.message).toMatch(/credentials.*invalid api key/);

      await t.close();
      await start();
      const missing = await hook('wpf_action=add&contact_id=nobody');
      expect(missing.body).toMatchObject({
        status: 'failed',
        error: { code: 'CONTACT_NOT_FOUND' },
      });
      expect(
        (await findEvent(t.service.database.db, missing.body.eventId as number))?.attempts,
      ).toBe(1);
    });

    it('gives up after the configured attempts', async () => {
      await start({ CRM_BRIDGE_SETTING_RETRY_MAX_ATTEMPTS: '3' });
      crm.addContact({ id: 'c7', email: 'down@example.com' });
      crm.failNext({ kind: 'status', status: 500, body: { error: 'down' } }, 10, '/contacts/c7');
      const answer = await hook('wpf_action=add&contact_id=c7');
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'RETRIES_EXHAUSTED' } });
      expect(crm.requests.filter((request) => request.path === '/contacts/c7')).toHaveLength(3);
    });

    it('answers 200 "accepted" when the run outlasts the wait, and finishes it in the background', async () => {
      await start({ CRM_BRIDGE_SYNC_WAIT_MS: '100' });
      crm.addContact({ id: 'c8', email: 'wait@example.com' });
      crm.latencyMs = 400;
      const answer = await hook('wpf_action=add&contact_id=c8');
      expect(answer.status).toBe(200);
      const id = answer.body.eventId as number;
      await waitFor(
        'the event',
        async () => (await findEvent(t.service.database.db, id))?.status === 'done',
      );
    });

    it('picks a webhook up again after its worker process dies mid-run', async () => {
      t = await startTestService(dialect, {
        runWorker: false,
        env: { CRM_BRIDGE_LEASE_MS: '1000' },
      });
      await t.connectTestCrm(crm);
      crm.addContact({ id: 'c9', email: 'crash@example.com', tags: ['2'] });
      const stored = await hook('wpf_action=add&contact_id=c9&async=true');
      expect(stored.status).toBe(200);
      const id = stored.body.eventId as number;

      const loaded = new Promise<void>((resolve) => {
        crm.onLoad = async () => {
          crm.onLoad = undefined;
          resolve();
          // Hold the answer so the worker is mid-run when it dies.
          await new Promise((later) => setTimeout(later, 500));
        };
      });
      const child = spawnWorker(t.database, { CRM_BRIDGE_LEASE_MS: '1000' });
      extra.push({ close: () => child.kill() });
      await loaded;
      await child.kill();
      expect((await findEvent(t.service.database.db, id))?.status).toBe('running');

      const worker = createTestWorker(
        t,
        { concurrency: 2, leaseMs: 1_000 },
        { settingOverrides: {} },
      );
      worker.start();
      extra.push({ close: () => worker.stop() });
      const event = await waitFor('recovery', async () => {
        const row = await findEvent(t.service.database.db, id);
        return row?.status === 'done' ? row : undefined;
      });
      expect(event.attempts).toBe(2);
      const user = await findUserByEmail(t.service.database.db, 'crash@example.com');
      expect(user).toBeDefined();
    });

    if (dialect === 'postgres') {
      it('shares one PostgreSQL between several server and worker processes without running a contact twice at once', async () => {
        await start();
        const second = await startTestService(dialect, { database: t.database });
        extra.push(second);
        const contacts = ['p1', 'p2', 'p3', 'p4', 'p5'];
        for (const id of contacts) crm.addContact({ id, email: `${id}@example.com`, tags: [] });
        crm.latencyMs = 15;
        const sends: Array<Promise<unknown>> = [];
        for (let i = 0; i < 60; i += 1) {
          const id = contacts[i % contacts.length] ?? 'p1';
          const contact = crm.contacts.get(id);
          if (contact) contact.tags = [String((i % 3) + 1)];
          const target = i % 2 === 0 ? t : second;
          sends.push(
            target.webhook(`/?access_key=${t.key}&wpf_action=add&contact_id=${id}&async=true`),
          );
        }
        await Promise.all(sends);
        const events = await waitFor('all events final', allFinal, 30_000);
        expect(events).toHaveLength(60);
        expect(events.every((event) => event.status === 'done')).toBe(true);
        for (const id of contacts) {
          expect(crm.maxConcurrentLoads(id)).toBe(1);
          const user = await findUserByEmail(t.service.database.db, `${id}@example.com`);
          expect(await getUserTagIds(t.service.database.db, user?.id ?? 0, 'crm')).toEqual(
            crm.contacts.get(id)?.tags,
          );
        }
        const owners = new Set(
          events.map((event) => jsonAt(JSON.parse(event.result ?? '{}'), 'userId')),
        );
        expect(owners.size).toBe(contacts.length);
      });
    }
  });
}
