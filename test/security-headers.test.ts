/**
 * Security headers on every kind of route, not only the account pages
 * (regression: the webhook's debug page, which shows contact data from a URL
 * carrying the access key, had none).
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.js';

const COMMON = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

describe('security headers', () => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** Every kind of answer the service gives, as [name, path, request headers]. */
  const routes = (key: string): Array<[string, string, Record<string, string>]> => [
    ['webhook (JSON)', `/?wpf_action=test&access_key=${key}`, {}],
    ['webhook debug page', `/?wpf_action=test&access_key=${key}`, { accept: 'text/html' }],
    ['webhook with a wrong key', '/?wpf_action=test&access_key=wrong', {}],
    ['landing page', '/', { accept: 'text/html' }],
    ['landing (JSON)', '/', {}],
    ['health check', '/healthz', {}],
    ['unknown path', '/no/such/page', {}],
    ['API document', '/api/v1/openapi.json', {}],
    ['API without a token', '/api/v1/users', {}],
    ['account page', '/login', {}],
  ];

  it('sends no-store, nosniff, a CSP, DENY framing and no referrer on every route; no HSTS over plain http', async () => {
    t = await startTestService('sqlite', { runWorker: false });
    for (const [name, path, headers] of routes(t.key)) {
      const response = await fetch(t.baseUrl + path, { headers });
      await response.arrayBuffer();
      for (const [header, value] of Object.entries(COMMON))
        expect(response.headers.get(header), `${name}: ${header}`).toBe(value);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, name).toMatch(/^default-src 'none';/);
      expect(csp, name).toContain("frame-ancestors 'none'");
      expect(response.headers.get('strict-transport-security'), name).toBeNull();
    }
    // JSON gets the bare policy; the account pages keep their own, with their form target.
    const json = await fetch(`${t.baseUrl}/healthz`);
    expect(json.headers.get('content-security-policy')).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
    const login = await fetch(`${t.baseUrl}/login`);
    expect(login.headers.get('content-security-policy')).toContain("form-action 'self'");
  });

  it('adds HSTS on every route when the public URL is https', async () => {
    t = await startTestService('sqlite', {
      runWorker: false,
      env: { CRM_BRIDGE_PUBLIC_URL: 'https://bridge.example.org' },
    });
    // The public URL names the proxy in front; the test talks to the service behind it.
    const local = `http://127.0.0.1:${(t.service.app.server.address() as AddressInfo).port}`;
    for (const [name, path, headers] of routes(t.key)) {
      const response = await fetch(local + path, { headers });
      await response.arrayBuffer();
      expect(response.headers.get('strict-transport-security'), name).toBe('max-age=31536000');
    }
  });
});
