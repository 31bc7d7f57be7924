/**
 * The Ortto connector end to end: journey webhooks from the fake's driver
 * (person in the JSON body, only wpf_action and access_key in the URL) into
 * the real service, the person read from the fake Ortto API over HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryActivity } from '../../src/activity/activity.repository.js';
import { systemClock } from '../../src/clock.js';
import {
  ORTTO_API_URLS,
  orttoApiUrl,
  readAnswer,
} from '../../src/connectors/ortto/ortto.client.js';
import { orttoConnector } from '../../src/connectors/ortto/index.js';
import type { HttpClient, HttpRequest } from '../../src/connectors/http-client.js';
import { verifyPassword } from '../../src/directory/passwords.js';
import { saveRole } from '../../src/directory/role.repository.js';
import { describeUser } from '../../src/directory/user-view.js';
import { findUserByEmail, listUsers } from '../../src/directory/user.repository.js';
import type { AppError } from '../../src/errors.js';
import { findEvent } from '../../src/inbox/inbox.repository.js';
import { testDialects } from '../helpers/databases.js';
import { GUIDE_KEY, startTestService, useGuideKey, type TestService } from '../helpers/service.js';
import {
  ORTTO_SAMPLE_CONTACT_ID,
  sendOrttoWebhook,
  startFakeOrtto,
  type FakeOrtto,
  type OrttoWebhookOptions,
} from '../fakes/ortto.fake.js';

/** The webhook URLs of the setup guide users follow today, exactly as written there. */
const SEED = {
  updateTags: 'https://mydomain.com/?wpf_action=update_tags&access_key=YOURACCESSKEY',
  update: 'https://mydomain.com/?wpf_action=update&access_key=YOURACCESSKEY',
  add: 'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY',
  addNotify: 'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY&send_notification=true',
  addRole: 'https://mydomain.com/?wpf_action=add&access_key=YOURACCESSKEY&role=customer',
} as const;

const FIELD_MAP = {
  'str:cm:wp-username': 'user_login',
  'str:cm:wp-password': 'user_pass',
  'str:cm:plan': 'membership',
};
const RATE_LIMITED = { error: { code: 'rate-limit', message: 'rate limit', 'try-in-seconds': 1 } };

interface Answer {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
}

for (const dialect of testDialects()) {
  describe(`ortto end to end (${dialect})`, () => {
    let ortto: FakeOrtto;
    let t: TestService;

    const db = () => t.service.database.db;
    const connect = (settings: Record<string, unknown> = {}, apiUrl = ortto.apiUrl) =>
      t.addConnection({
        id: 'ortto',
        type: 'ortto',
        apiUrl,
        settings: { api_key: ortto.apiKey, field_map: FIELD_MAP, ...settings },
        isDefault: true,
      });
    const restart = async (settings: Record<string, unknown> = {}, apiUrl?: string) => {
      await t.close();
      t = await startTestService(dialect);
      await connect(settings, apiUrl);
      await useGuideKey(t);
    };

    /** Sends a seed URL through Ortto's webhook driver, with our base URL in place of the guide's; the key as written there. */
    const seedHook = async (
      seedUrl: string,
      person: { contactId: string; email: string },
      more: Partial<OrttoWebhookOptions> = {},
    ): Promise<Answer> => {
      const url = new URL(seedUrl);
      expect(url.searchParams.get('access_key')).toBe('YOURACCESSKEY');
      const action = url.searchParams.get('wpf_action') ?? '';
      url.searchParams.delete('wpf_action');
      url.searchParams.delete('access_key');
      const res = await sendOrttoWebhook(t.baseUrl, {
        action,
        accessKey: GUIDE_KEY,
        path: `/${url.search}`,
        ...person,
        ...more,
      });
      return {
        status: res.status,
        contentType: res.headers.get('content-type'),
        body: (await res.json()) as Record<string, unknown>,
      };
    };
    const jane = { contactId: ORTTO_SAMPLE_CONTACT_ID, email: 'jane@example.com' };
    const userOf = async (email: string) => {
      const row = await findUserByEmail(db(), email);
      if (!row) throw new Error(`no user ${email}`);
      return row;
    };
    const loadsOf = (contactId: string) =>
      ortto.requests.filter(
        (request) =>
          request.path.endsWith('/person/get-by-ids') && request.body.includes(contactId),
      );

    beforeEach(async () => {
      ortto = await startFakeOrtto();
      t = await startTestService(dialect);
      await connect();
      // The guide's key, carried over as a WP Fusion site's key is.
      await useGuideKey(t);
    });
    afterEach(async () => {
      await t.close();
      await ortto.close();
    });

    it('add creates the user from the person named by contact_id (not id), with mapped login, password and tag labels; add again updates', async () => {
      ortto.setField(jane.contactId, 'str:cm:wp-username', 'jsmith');
      ortto.setField(jane.contactId, 'str:cm:wp-password', 'Correct-Horse-9');
      ortto.setField(jane.contactId, 'str:cm:plan', 'Basic');
      ortto.setTags(jane.contactId, ['WP User', 'VIP']);
      // The body's `id` names another real person: reading it instead of contact_id would import Bob.
      const bob = ortto.addContact({ email: 'bob@example.com', first: 'Bob' });

      const answer = await seedHook(SEED.add, jane, { id: bob });
      expect(answer.status).toBe(200);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        login: 'jsmith',
        passwordGenerated: false,
        contactId: jane.contactId,
      });

      const user = await userOf('jane@example.com');
      expect(await verifyPassword('Correct-Horse-9', user.password_hash)).toBe(true);
      const view = await describeUser(db(), user);
      expect(view).toMatchObject({
        login: 'jsmith',
        email: 'jane@example.com',
        firstName: 'Jane',
        lastName: 'Smith',
        role: 'subscriber',
        meta: { membership: 'Basic' },
      });
      expect(view.tags.map((tag) => tag.label).sort()).toEqual(['VIP', 'WP User']);
      expect(view.contacts).toEqual([
        expect.objectContaining({ connection: 'ortto', contactId: jane.contactId }),
      ]);
      expect(await findUserByEmail(db(), 'bob@example.com')).toBeUndefined();
      expect(JSON.stringify(answer.body)).not.toContain('Correct-Horse-9');

      ortto.setField(jane.contactId, 'str::last', 'Jones');
      const again = await seedHook(SEED.add, jane);
      expect(again.body).toMatchObject({
        status: 'done',
        created: false,
        userId: answer.body.userId,
        changes: ['last_name'],
      });
      expect(await listUsers(db())).toHaveLength(1);

      const everything =
        JSON.stringify(await queryActivity(db(), { limit: 1_000 })) + t.logLines.join('');
      expect(everything).not.toContain(ortto.apiKey);
    });

    it('falls back to the body id only when contact_id is missing', async () => {
      const answer = await seedHook(SEED.add, jane, {
        id: jane.contactId,
        extra: { contact_id: undefined },
      });
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        contactId: jane.contactId,
      });
    });

    it('add with send_notification=true asks for the welcome e-mail; role=customer needs the role to exist', async () => {
      const notify = await seedHook(SEED.addNotify, jane);
      expect(notify.body).toMatchObject({ status: 'done', created: true, welcomeEmail: 'queued' });

      const ann = {
        contactId: ortto.addContact({ email: 'ann@example.com', first: 'Ann' }),
        email: 'ann@example.com',
      };
      const unknownRole = await seedHook(SEED.addRole, ann);
      expect(unknownRole.body).toMatchObject({
        status: 'done',
        created: true,
        welcomeEmail: 'not requested',
      });
      expect(unknownRole.body.notices).toEqual([
        expect.stringMatching(/"customer" does not exist/),
      ]);
      expect((await userOf('ann@example.com')).role).toBe('subscriber');

      await saveRole(db(), { slug: 'customer', name: 'Customer', isAdmin: false });
      const cid = {
        contactId: ortto.addContact({ email: 'cid@example.com' }),
        email: 'cid@example.com',
      };
      expect((await seedHook(SEED.addRole, cid)).body).toMatchObject({
        status: 'done',
        created: true,
      });
      expect((await userOf('cid@example.com')).role).toBe('customer');
    });

    it('update_tags changes only tags and reports them by name; update applies fields', async () => {
      ortto.setField(jane.contactId, 'str:cm:plan', 'Basic');
      await seedHook(SEED.add, jane);
      ortto.setField(jane.contactId, 'str::first', 'Janet');
      ortto.setField(jane.contactId, 'str:cm:plan', 'Pro');
      ortto.setTags(jane.contactId, ['VIP', 'Gold']);

      const tagsOnly = await seedHook(SEED.updateTags, jane);
      expect(tagsOnly.body).toMatchObject({
        status: 'done',
        changes: [],
        tags: { added: ['VIP', 'Gold'], removed: ['WP User'], current: ['VIP', 'Gold'] },
      });
      expect(await describeUser(db(), await userOf('jane@example.com'))).toMatchObject({
        firstName: 'Jane',
        meta: { membership: 'Basic' },
      });

      const full = await seedHook(SEED.update, jane);
      expect(full.body).toMatchObject({ status: 'done', tags: { added: [], removed: [] } });
      expect((full.body.changes as string[]).sort()).toEqual(['first_name', 'meta.membership']);
      const view = await describeUser(db(), await userOf('jane@example.com'));
      expect(view).toMatchObject({ firstName: 'Janet', meta: { membership: 'Pro' } });
      expect(view.tags.map((tag) => tag.label).sort()).toEqual(['Gold', 'VIP']);
    });

    it('writes a generated password back to the chosen Ortto field by person id', async () => {
      await restart({
        return_password: true,
        return_password_field: 'str:cm:wp-password',
        field_map: {},
      });
      const answer = await seedHook(SEED.add, jane);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        passwordGenerated: true,
        returnPassword: 'written',
      });
      const written = ortto.getContact(jane.contactId)?.fields['str:cm:wp-password'];
      expect(typeof written).toBe('string');
      expect(
        await verifyPassword(String(written), (await userOf('jane@example.com')).password_hash),
      ).toBe(true);

      const merge = ortto.requests.find((request) => request.path.endsWith('/person/merge'));
      expect(JSON.parse(merge?.body ?? '{}')).toMatchObject({
        merge_by: ['str::person_id'],
        people: [{ fields: { 'str::person_id': jane.contactId } }],
      });
      const activity = JSON.stringify(await queryActivity(db(), { limit: 1_000 }));
      for (const place of [activity, t.logLines.join(''), JSON.stringify(answer.body)])
        expect(place).not.toContain(String(written));
    });

    it('keeps the import and logs Ortto\u2019s refusal when the Return Password field does not exist', async () => {
      await restart({ return_password: true, return_password_field: 'str:cm:nope', field_map: {} });
      const answer = await seedHook(SEED.add, jane);
      expect(answer.body).toMatchObject({
        status: 'done',
        created: true,
        returnPassword: 'failed',
      });
      expect(answer.body.notices).toEqual([
        expect.stringMatching(/str:cm:nope.*rejected.*failed to validate field str:cm:nope/),
      ]);
      expect(await findUserByEmail(db(), 'jane@example.com')).toBeDefined();
    });

    it('fails at once on a bad key, with Ortto\u2019s message in the activity log', async () => {
      await restart({ api_key: 'not-the-key' });
      const answer = await seedHook(SEED.add, jane);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      expect((await findEvent(db(), answer.body.eventId as number))?.attempts).toBe(1);
      const errors = await queryActivity(db(), {
        eventId: answer.body.eventId as number,
        level: 'error',
      });
      expect(errors[0]?.message).toMatch(/invalid API key for this region/);
      expect(errors[0]?.message).not.toContain('not-the-key');
    });

    it('fails at once when the key belongs to another region', async () => {
      await restart({ region: 'eu' }, ortto.apiUrlFor('eu'));
      const answer = await seedHook(SEED.add, jane);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CRM_AUTH_FAILED' } });
      expect(ortto.requests.every((request) => request.path.startsWith('/eu/v1/'))).toBe(true);
    });

    it('fails at once for a person Ortto does not have', async () => {
      const answer = await seedHook(SEED.add, {
        contactId: '0069ffffffffffffffffff00',
        email: 'ghost@example.com',
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ status: 'failed', error: { code: 'CONTACT_NOT_FOUND' } });
      expect((await findEvent(db(), answer.body.eventId as number))?.attempts).toBe(1);
      expect(await listUsers(db())).toHaveLength(0);
    });

    it('waits out Ortto\u2019s 429 for try-in-seconds, then succeeds', async () => {
      ortto.failNext({ kind: 'status', status: 429, body: RATE_LIMITED }, 1, 'person/get-by-ids');
      const answer = await seedHook(SEED.add, jane);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const loads = loadsOf(jane.contactId);
      expect(loads).toHaveLength(2);
      expect((loads[1]?.at ?? 0) - (loads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    });

    it('retries server errors, then succeeds', async () => {
      ortto.failNext(
        { kind: 'status', status: 503, body: { error: 'maintenance' } },
        2,
        'person/get-by-ids',
      );
      const answer = await seedHook(SEED.add, jane);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      expect((await findEvent(db(), answer.body.eventId as number))?.attempts).toBe(3);
      expect(loadsOf(jane.contactId)).toHaveLength(3);
    });

    it('retries a timeout', async () => {
      await restart({ timeout_ms: 500 });
      ortto.failNext({ kind: 'timeout' }, 1, 'person/get-by-ids');
      const answer = await seedHook(SEED.add, jane);
      expect(answer.body).toMatchObject({ status: 'done', created: true });
      const warnings = await queryActivity(db(), {
        eventId: answer.body.eventId as number,
        level: 'warning',
      });
      expect(warnings.map((warning) => warning.message).join('\n')).toMatch(
        /did not answer in time/,
      );
    });
  });
}

describe('ortto regions and webhook parsing', () => {
  /** Records where the connector sends requests, answering like an empty account. */
  const recordingHttp = (): HttpClient & { urls: string[] } => {
    const urls: string[] = [];
    return {
      urls,
      send(request: HttpRequest) {
        urls.push(request.url);
        return Promise.resolve({
          status: 200,
          headers: new Headers(),
          text: '{"contacts":[],"has_more":false}',
        });
      },
    };
  };
  const connect = (settings: Record<string, unknown>, apiUrl: string | null, http: HttpClient) =>
    orttoConnector.create(
      { id: 'o', apiUrl, settings: orttoConnector.settingsSchema.parse(settings) },
      { http, clock: systemClock },
    );

  it('picks the host of the region when no API URL was given, and lets an explicit URL win', async () => {
    expect(orttoApiUrl(null, 'eu')).toBe('https://api.eu.ap3api.com/v1');
    expect(orttoApiUrl(null, 'au')).toBe('https://api.au.ap3api.com/v1');
    expect(orttoApiUrl(null, 'rest')).toBe('https://api.ap3api.com/v1');
    expect(orttoApiUrl('http://127.0.0.1:9/eu/v1/', 'rest')).toBe('http://127.0.0.1:9/eu/v1');

    // What the registry passes for a connection without an API URL: the definition's default.
    const http = recordingHttp();
    await connect(
      { api_key: 'k', region: 'eu' },
      orttoConnector.defaultApiUrl,
      http,
    ).testConnection();
    expect(orttoConnector.defaultApiUrl).toBe(ORTTO_API_URLS.rest);
    expect(http.urls).toEqual(['https://api.eu.ap3api.com/v1/person/get']);
  });

  it('accepts the region in any case, defaults it to rest, and refuses an unknown one', () => {
    expect(orttoConnector.settingsSchema.parse({ api_key: 'k' }).region).toBe('rest');
    expect(orttoConnector.settingsSchema.parse({ api_key: 'k', region: 'EU' }).region).toBe('eu');
    expect(orttoConnector.settingsSchema.safeParse({ api_key: 'k', region: 'us' }).success).toBe(
      false,
    );
    expect(orttoConnector.settingsSchema.safeParse({ region: 'eu' }).success).toBe(false);
  });

  it('turns Ortto\u2019s failure answers into error codes carrying its message', () => {
    const answer = (status: number, body: unknown) => ({
      status,
      headers: new Headers(),
      text: JSON.stringify(body),
    });
    const thrown = (status: number, body: unknown) => {
      try {
        readAnswer(answer(status, body), 'person/get');
      } catch (error) {
        return error as AppError;
      }
      throw new Error('no error thrown');
    };
    expect(thrown(403, { error: 'Forbidden: key revoked' })).toMatchObject({
      code: 'CRM_AUTH_FAILED',
      message: expect.stringContaining('key revoked'),
    });
    expect(thrown(400, { code: 400, error: 'No valid contacts provided' })).toMatchObject({
      code: 'CRM_REJECTED',
      message: expect.stringContaining('No valid contacts'),
    });
    // A 404 from Ortto is a wrong URL, not a missing person.
    expect(thrown(404, { error: 'Not found' })).toMatchObject({
      code: 'CRM_REJECTED',
      message: expect.stringContaining('API URL'),
    });
    expect(thrown(200, { error: 'something went wrong' })).toMatchObject({ code: 'CRM_REJECTED' });
    expect(thrown(502, '<html>bad gateway</html>')).toMatchObject({
      code: 'CRM_UNAVAILABLE',
      retryable: true,
    });
    expect(thrown(429, RATE_LIMITED)).toMatchObject({
      code: 'CRM_RATE_LIMITED',
      retryAfterMs: 1_000,
    });
    expect(readAnswer(answer(200, [{ name: 'VIP' }]), 'tags/get')).toEqual([{ name: 'VIP' }]);
  });

  it('reads the person from contact_id before id, and passes the e-mail on', () => {
    const connector = connect({ api_key: 'k' }, null, recordingHttp());
    const body = {
      contact_id: '006913c5b9ca58778a137d00',
      id: '0065f0e1d2c3b4a5968778a1',
      email: 'jane@example.com',
    };
    expect(
      connector.parseWebhook({
        method: 'POST',
        params: { wpf_action: 'add', ...body },
        json: body,
      }),
    ).toEqual({
      contactId: '006913c5b9ca58778a137d00',
      email: 'jane@example.com',
    });
    expect(
      connector.parseWebhook({
        method: 'POST',
        params: { id: '0065f0e1d2c3b4a5968778a1' },
        json: {},
      }).contactId,
    ).toBe('0065f0e1d2c3b4a5968778a1');
  });
});
