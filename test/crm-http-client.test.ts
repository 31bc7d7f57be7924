/**
 * The HTTP client every connector uses, against real servers on 127.0.0.1:
 * redirects are not followed (they carried the credentials to another
 * origin), answers are read up to a limit, and plain http to a host other
 * than loopback is refused unless the connection allows it — also when the
 * connection is added or changed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHttpClient,
  DEFAULT_MAX_RESPONSE_BYTES,
  isInsecureHttpUrl,
} from '../src/connectors/http-client.js';
import { AppError, isAppError } from '../src/errors.js';
import { startFakeHttpServer, type FakeHttpServer } from './fakes/fake-http.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';

async function errorCodeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isAppError(error) ? error.code : `not an AppError: ${String(error)}`;
  }
  return 'no error';
}

describe('CRM HTTP client', () => {
  const servers: FakeHttpServer[] = [];
  const start = async (...args: Parameters<typeof startFakeHttpServer>) => {
    const server = await startFakeHttpServer(...args);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  // Regression: fetch followed a cross-origin redirect and sent Ontraport's Api-Key header along.
  it('does not follow a redirect, so credentials never reach another origin', async () => {
    const elsewhere = await start(() => ({ status: 200, body: { data: 'stolen' } }));
    const crm = await start(() => ({
      status: 302,
      headers: { location: `${elsewhere.url}/collect?api_key=abc` },
    }));
    const http = createHttpClient({ timeoutMs: 5_000 });
    const code = await errorCodeOf(
      http.send({
        method: 'GET',
        url: `${crm.url}/contacts`,
        headers: { 'Api-Key': 'secret-key' },
      }),
    );
    expect(code).toBe('CRM_REDIRECTED');
    expect(crm.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('ends a call when its run is aborted, also one that was waiting for the rate limiter', async () => {
    const crm = await start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return { status: 200, body: { data: 'late' } };
    });
    const lost = new AppError('LEASE_LOST', 'another worker holds the contact');
    // Aborted while the limiter held the call back: it is never sent.
    const waiting = new AbortController();
    const limited = createHttpClient({
      timeoutMs: 5_000,
      beforeRequest: () => {
        waiting.abort(lost);
        return Promise.resolve();
      },
    });
    expect(
      await errorCodeOf(limited.send({ method: 'GET', url: crm.url, signal: waiting.signal })),
    ).toBe('LEASE_LOST');
    expect(crm.requests).toHaveLength(0);
    // Aborted while the CRM holds the answer: the call ends at once with the run's reason.
    const running = new AbortController();
    const http = createHttpClient({ timeoutMs: 5_000 });
    const startedAt = Date.now();
    const call = http.send({ method: 'GET', url: crm.url, signal: running.signal });
    setTimeout(() => running.abort(lost), 100);
    expect(await errorCodeOf(call)).toBe('LEASE_LOST');
    expect(Date.now() - startedAt).toBeLessThan(1_500);
    // Without a run's abort, a slow CRM is a timeout.
    const quick = createHttpClient({ timeoutMs: 200 });
    expect(await errorCodeOf(quick.send({ method: 'GET', url: crm.url }))).toBe('CRM_TIMEOUT');
  });

  // Regression: the whole answer was read into memory, however large.
  it('refuses an answer larger than the limit', async () => {
    const huge = 'x'.repeat(DEFAULT_MAX_RESPONSE_BYTES + 1024);
    const crm = await start(() => ({ status: 200, body: huge }));
    const http = createHttpClient({ timeoutMs: 10_000 });
    expect(await errorCodeOf(http.send({ method: 'GET', url: `${crm.url}/tags` }))).toBe(
      'CRM_RESPONSE_TOO_LARGE',
    );

    const small = createHttpClient({ timeoutMs: 10_000, maxResponseBytes: 100 });
    expect(await errorCodeOf(small.send({ method: 'GET', url: `${crm.url}/tags` }))).toBe(
      'CRM_RESPONSE_TOO_LARGE',
    );
    const fits = await createHttpClient({ timeoutMs: 10_000, maxResponseBytes: huge.length }).send({
      method: 'GET',
      url: `${crm.url}/tags`,
    });
    expect(fits.text).toHaveLength(huge.length);
  });

  it('sends over plain http only to loopback unless allowed', async () => {
    expect(isInsecureHttpUrl('http://crm.example.com/api')).toBe(true);
    expect(isInsecureHttpUrl('http://10.0.0.5/api')).toBe(true);
    expect(isInsecureHttpUrl('https://crm.example.com/api')).toBe(false);
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://127.1.2.3/x',
      'http://localhost:8080/x',
      'http://[::1]:8080/x',
    ]) {
      expect(isInsecureHttpUrl(url), url).toBe(false);
    }
    const crm = await start(() => ({ status: 200, body: { ok: true } }));
    const http = createHttpClient({ timeoutMs: 5_000 });
    expect((await http.send({ method: 'GET', url: `${crm.url}/ok` })).status).toBe(200);
    // `.invalid` never resolves, so an allowed request fails on the network, not on the rule.
    expect(
      await errorCodeOf(http.send({ method: 'GET', url: 'http://crm.invalid/contacts' })),
    ).toBe('CRM_INSECURE_URL');
    const allowed = createHttpClient({ timeoutMs: 5_000, allowInsecureHttp: true });
    expect(
      await errorCodeOf(allowed.send({ method: 'GET', url: 'http://crm.invalid/contacts' })),
    ).not.toBe('CRM_INSECURE_URL');
  });
});

describe.each(testDialects())('connections with a plain http API URL (%s)', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('are refused at add and set time unless allow_insecure_http=true', async () => {
    const credentials = ['--set', 'app_id=1', '--set', 'api_key=k'];
    const refused = await runCli(
      database,
      'connections',
      'add',
      'ontraport',
      '--id',
      'op',
      '--api-url',
      'http://crm.example.com',
      ...credentials,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/plain http .* allow_insecure_http=true/);

    const local = await runCli(
      database,
      'connections',
      'add',
      'ontraport',
      '--id',
      'op',
      '--api-url',
      'http://127.0.0.1:8080',
      ...credentials,
    );
    expect(local.code, local.stderr).toBe(0);
    const moved = await runCli(
      database,
      'connections',
      'set',
      'op',
      'api_url=http://crm.example.com',
    );
    expect(moved.code).not.toBe(0);
    expect(moved.stderr).toContain('allow_insecure_http=true');

    const allowed = await runCli(
      database,
      'connections',
      'set',
      'op',
      'api_url=http://crm.example.com',
      'allow_insecure_http=true',
    );
    expect(allowed.code, allowed.stderr).toBe(0);
    const listed = await runCli(database, 'connections', 'list', '--json');
    expect(listed.stdout).toContain('http://crm.example.com');
  });
});
