/** /healthz, /readyz and /metrics as a load balancer and a Prometheus server see them. */
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiToken } from '../src/api/api-tokens.repository.js';
import { startFakeTestCrm, type FakeTestCrm } from './fakes/testcrm.fake.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';

const METRICS_TOKEN = 'scrape-token-0123456789';

/** The value of one sample line (`name{labels} value`) in Prometheus text, or undefined. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m): [string, string] => [
        m[1] ?? '',
        m[2] ?? '',
      ]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value))
      return Number(match[3]);
  }
  return undefined;
}

describe.each(testDialects())('health and metrics (%s)', (dialect) => {
  let t: TestService | undefined;
  let crm: FakeTestCrm | undefined;
  afterEach(async () => {
    await t?.close();
    await crm?.close();
    t = undefined;
    crm = undefined;
  });

  const scrape = async (token: string | undefined) => {
    const response = await fetch(`${t!.baseUrl}/metrics`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    };
  };

  it('answers /healthz and /readyz with 200 while the database is reachable and current', async () => {
    t = await startTestService(dialect, { runWorker: false });
    const health = await fetch(`${t.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 503 and the reason when a migration is missing', async () => {
    t = await startTestService(dialect, { runWorker: false });
    await sql`delete from kysely_migration where name = '0005-import-jobs'`.execute(
      t.service.database.db,
    );
    const ready = await fetch(`${t.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('NOT_READY');
    expect(body.error.message).toContain('0005-import-jobs');
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
  });

  it('refuses /metrics without a token, and serves Prometheus text to the metrics token and to API tokens', async () => {
    t = await startTestService(dialect, {
      runWorker: false,
      env: { CRM_BRIDGE_METRICS_TOKEN: METRICS_TOKEN },
    });
    const anonymous = await scrape(undefined);
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain('crm_bridge_');
    expect((await scrape('wrong-token-0123456789')).status).toBe(401);

    const byMetricsToken = await scrape(METRICS_TOKEN);
    expect(byMetricsToken.status).toBe(200);
    expect(byMetricsToken.type).toContain('text/plain');
    expect(byMetricsToken.text).toContain('# TYPE crm_bridge_webhooks_received_total counter');

    const api = await createApiToken(t.service.database.db, 'prometheus', new Date());
    expect((await scrape(api.token)).status).toBe(200);
  });

  it('counts webhooks received and processed, CRM calls and rate-limit use, the backlog and request times', async () => {
    crm = await startFakeTestCrm();
    crm.addContact({ id: '501', email: 'metrics@example.com', fields: {}, tags: ['1'] });
    t = await startTestService(dialect, { env: { CRM_BRIDGE_METRICS_TOKEN: METRICS_TOKEN } });
    await t.connectTestCrm(crm, { allow_insecure_http: true });
    const added = await t.webhook(`/?wpf_action=add&access_key=${t.key}&contact_id=501`);
    expect(added.status).toBe(200);
    const missing = await t.webhook(`/?wpf_action=update&access_key=${t.key}&contact_id=999`);
    expect(missing.status).toBe(400);
    // A pending webhook for the backlog: stored directly, as the worker would not leave one waiting.
    await t.service.database.db
      .updateTable('webhook_events')
      .set({ status: 'pending', available_at: '2999-01-01T00:00:00.000Z' })
      .where('contact_id', '=', '999')
      .execute();

    const { status, text } = await scrape(METRICS_TOKEN);
    expect(status).toBe(200);
    expect(
      sample(text, 'crm_bridge_webhooks_received_total', { connection: 'crm', action: 'add' }),
    ).toBe(1);
    expect(
      sample(text, 'crm_bridge_webhooks_received_total', { connection: 'crm', action: 'update' }),
    ).toBe(1);
    expect(
      sample(text, 'crm_bridge_webhooks_processed_total', {
        connection: 'crm',
        action: 'add',
        outcome: 'done',
      }),
    ).toBe(1);
    expect(
      sample(text, 'crm_bridge_webhooks_failed_total', { connection: 'crm', action: 'update' }),
    ).toBe(1);
    expect(
      sample(text, 'crm_bridge_crm_calls_total', { connection: 'crm' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sample(text, 'crm_bridge_crm_rate_limit_requests', { connection: 'crm' }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'crm_bridge_crm_rate_limit_used', { connection: 'crm' }),
    ).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'crm_bridge_inbox_events', { status: 'pending' })).toBe(1);
    expect(sample(text, 'crm_bridge_inbox_events', { status: 'failed' })).toBe(0);
    expect(sample(text, 'crm_bridge_mail_queue')).toBe(0);
    expect(
      sample(text, 'crm_bridge_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/',
        status: '200',
      }),
    ).toBe(1);
  });
});
