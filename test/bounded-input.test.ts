/**
 * Hostile webhook bodies against a running service: each one gets a clear 4xx
 * and a stored `rejected` event, never a 5xx (a 503 means storage is down),
 * and no part of a body that failed to parse reaches an answer, the activity
 * log or `events show` unmasked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryActivity } from '../src/activity/activity.repository.js';
import { findEvent, listEvents } from '../src/inbox/inbox.repository.js';
import { runCli } from './helpers/cli.js';
import { testDialects } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';

const BODY_LIMIT = 64 * 1024;
const BOUNDARY = 'crm-bridge-test-boundary';
const MULTIPART = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function multipartBody(
  fields: ReadonlyArray<readonly [string, string]>,
  file?: { name: string; content: string },
): string {
  const parts = fields.map(
    ([name, value]) =>
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  if (file) {
    parts.push(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.name}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${file.content}\r\n`,
    );
  }
  return `${parts.join('')}--${BOUNDARY}--\r\n`;
}

const nestedJson = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** A small deterministic generator, so a failing fuzz case can be found again. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

interface Answer {
  status?: string;
  eventId?: number;
  error?: { code: string; message: string };
}

describe.each(testDialects())('bounded webhook input (%s)', (dialect) => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService(dialect, { env: { CRM_BRIDGE_BODY_LIMIT: String(BODY_LIMIT) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const post = async (
    pathAndQuery: string,
    headers: Record<string, string>,
    body: string | Uint8Array,
  ) => {
    const reply = await t.webhook(pathAndQuery, { method: 'POST', headers, body });
    return { ...reply, answer: reply.body as Answer };
  };

  async function expectRejected(answer: Answer, code: string) {
    expect(answer.status).toBe('rejected');
    expect(answer.error?.code).toBe(code);
    const event = await findEvent(t.service.database.db, answer.eventId ?? -1);
    expect(event?.status).toBe('rejected');
    expect(event?.error_code).toBe(code);
    const activity = await queryActivity(t.service.database.db, {
      eventId: answer.eventId,
      afterId: 0,
      limit: 10,
    });
    expect(activity.map((row) => row.message).join('\n')).toContain('Rejected webhook');
    return event;
  }

  // Regression: busboy's "Part terminated early" reached the generic error handler as a 503.
  it('answers a truncated multipart body with 400 MALFORMED_BODY and stores it as rejected', async () => {
    const full = multipartBody([
      ['wpf_action', 'update_tags'],
      ['contact_id', '77'],
      ['note', 'x'.repeat(200)],
    ]);
    const reply = await post(`/?access_key=${t.key}`, MULTIPART, full.slice(0, full.length - 120));
    expect(reply.status).toBe(400);
    await expectRejected(reply.answer, 'MALFORMED_BODY');
  });

  // Regression: JSON.stringify in webhook/params.ts overflowed the stack on deeply nested JSON (503).
  it('refuses JSON nested deeper than 32 levels with 400 BODY_TOO_DEEP', async () => {
    for (const [type, body] of [
      ['application/json', nestedJson(10_000)],
      ['text/plain', `[${'['.repeat(5_000)}${']'.repeat(5_000)}]`],
      ['application/json', nestedJson(33)],
    ] as const) {
      const reply = await post(
        `/?access_key=${t.key}&wpf_action=update_tags&contact_id=78`,
        { 'content-type': type },
        body,
      );
      expect(reply.status, `${type} ${body.length}`).toBe(400);
      await expectRejected(reply.answer, 'BODY_TOO_DEEP');
    }
    const shallow = await post(
      `/?access_key=${t.key}`,
      { 'content-type': 'application/json' },
      JSON.stringify({ wpf_action: 'test', deep: JSON.parse(nestedJson(30)) as unknown }),
    );
    expect(shallow.status).toBe(200);
  });

  // Regression: multipart was parsed with @fastify/multipart's defaults (1000 parts × 1 MiB); 5.4 MB was stored.
  it('applies the body limit to multipart bodies in total', async () => {
    const fields = Array.from(
      { length: 8 },
      (_, i) => [`field_${i}`, 'x'.repeat(16 * 1024)] as const,
    );
    const reply = await post(
      `/?access_key=${t.key}`,
      MULTIPART,
      multipartBody([['wpf_action', 'update_tags'], ['contact_id', '79'], ...fields]),
    );
    expect(reply.status).toBe(413);
    await expectRejected(reply.answer, 'BODY_TOO_LARGE');
  });

  it('refuses multipart and form bodies with hundreds of fields, and file uploads', async () => {
    const many = Array.from({ length: 300 }, (_, i) => [`f${i}`, 'v'] as const);
    const multipart = await post(
      `/?access_key=${t.key}`,
      MULTIPART,
      multipartBody([['wpf_action', 'update_tags'], ...many]),
    );
    expect(multipart.status).toBe(413);
    await expectRejected(multipart.answer, 'BODY_TOO_LARGE');

    const form = await post(
      `/?access_key=${t.key}`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      many.map(([k, v]) => `${k}=${v}`).join('&'),
    );
    expect(form.status).toBe(413);
    await expectRejected(form.answer, 'BODY_TOO_LARGE');

    const file = await post(
      `/?access_key=${t.key}`,
      MULTIPART,
      multipartBody(
        [
          ['wpf_action', 'update_tags'],
          ['contact_id', '80'],
        ],
        { name: 'upload', content: 'binary' },
      ),
    );
    expect(file.status).toBe(400);
    await expectRejected(file.answer, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('still reads JSON sent as text/plain on webhook routes, but never a form', async () => {
    const json = await post(
      `/?access_key=${t.key}`,
      { 'content-type': 'text/plain' },
      JSON.stringify({ wpf_action: 'test' }),
    );
    expect(json.status).toBe(200);
    expect(json.body).toEqual({ success: true });

    const formLike = await post(
      `/?access_key=${t.key}`,
      { 'content-type': 'text/plain' },
      'wpf_action=test',
    );
    expect(formLike.status).toBe(400);
    await expectRejected(formLike.answer, 'NO_ACTION');
  });

  // Regression: a text/plain body was form-parsed everywhere, so a cross-site text/plain POST read as a form on /login.
  it('does not read text/plain or multipart bodies on the account pages or the API', async () => {
    const form = await fetch(`${t.baseUrl}/login`);
    const cookie = form.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ');
    const html = await form.text();
    const hidden = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
      (m) => `${m[1]}=${encodeURIComponent(m[2] ?? '')}`,
    );
    const fields = [...hidden, 'log=nobody@example.com', 'pwd=not-a-password'].join('&');
    const plain = await fetch(`${t.baseUrl}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'text/plain' },
      body: fields,
    });
    expect(plain.status).toBe(415);
    await plain.text();

    const multipart = await fetch(`${t.baseUrl}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, ...MULTIPART },
      body: multipartBody([
        ['log', 'x'],
        ['pwd', 'y'],
      ]),
    });
    expect(multipart.status).toBe(415);
    await multipart.text();

    const api = await fetch(`${t.baseUrl}/api/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'email=a@example.com',
    });
    expect(api.status).toBeGreaterThanOrEqual(400);
    expect(api.status).toBeLessThan(500);
    await api.text();
  });

  // Regression: V8's parse error quoted the body (and a password in it) into the answer and the log; `events show` printed it raw.
  it('describes a malformed JSON body without quoting it, and stores it masked', async () => {
    const secret = 'Hunter2-very-secret';
    const body = `{"wpf_action":"add","contact_id":"81","user_pass":"${secret}","x":`;
    const reply = await post(`/?access_key=${t.key}`, { 'content-type': 'application/json' }, body);
    expect(reply.status).toBe(400);
    expect(reply.text).not.toContain(secret);
    expect(reply.answer.error?.message).toMatch(/the JSON body does not parse/);
    const event = await expectRejected(reply.answer, 'MALFORMED_BODY');
    expect(event?.request).not.toContain(secret);
    expect(event?.error_message).not.toContain(secret);
    const activity = await queryActivity(t.service.database.db, {
      eventId: reply.answer.eventId,
      afterId: 0,
      limit: 10,
    });
    expect(JSON.stringify(activity)).not.toContain(secret);

    const shown = await runCli(t.database, 'events', 'show', String(reply.answer.eventId));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('MALFORMED_BODY');
    expect(shown.stdout).toContain('"user_pass\\":\\"***');
    expect(shown.stdout).not.toContain(secret);
    expect(t.logLines.join('')).not.toContain(secret);
  });

  // Regression: a webhook put ESC sequences into `crm-bridge log`, which printed them to the terminal.
  it('prints control characters from webhooks escaped in the CLI', async () => {
    const hostile = '\u001b]0;pwned\u0007\u001b[31mred\u009b2J';
    const reply = await t.webhook(
      `/?access_key=${t.key}&async=true&wpf_action=update_tags&contact_id=${encodeURIComponent(hostile)}`,
    );
    expect(reply.status).toBe(200);
    const controls = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    for (const args of [
      ['log', '--limit', '5'],
      ['events', 'list', '--limit', '5'],
      ['events', 'show', String(reply.body.eventId)],
    ]) {
      const printed = await runCli(t.database, ...args);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout, args.join(' ')).not.toMatch(controls);
      expect(printed.stdout, args.join(' ')).toContain('\\u001b');
    }
    const json = await runCli(t.database, 'log', '--json', '--limit', '5');
    expect(json.stdout).not.toMatch(controls);
    const messages = json.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { message: string }).message);
    expect(messages.some((message) => message.includes(hostile))).toBe(true);
  });

  it('survives a few hundred malformed bodies: no 5xx, every one stored', async () => {
    const random = seededRandom(20_240_611);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const bytes = (length: number) => Uint8Array.from({ length }, () => Math.floor(random() * 256));
    const valid = JSON.stringify({
      wpf_action: 'update_tags',
      contact_id: '90',
      tags: ['a', 'b'],
      fields: { first_name: 'Ann' },
    });
    const cases: Array<{ headers: Record<string, string>; body: string | Uint8Array }> = [];
    for (let i = 0; i < 240; i += 1) {
      const kind = i % 8;
      if (kind === 0) {
        const full = multipartBody([
          ['wpf_action', 'update_tags'],
          ['contact_id', String(i)],
          ['note', 'n'.repeat(100)],
        ]);
        cases.push({ headers: MULTIPART, body: full.slice(0, Math.floor(random() * full.length)) });
      } else if (kind === 1) {
        cases.push({
          headers: { 'content-type': pick(['application/json', 'text/plain']) },
          body: nestedJson(30 + Math.floor(random() * 3_000)),
        });
      } else if (kind === 2) {
        cases.push({
          headers: { 'content-type': 'application/json' },
          body: valid.slice(0, Math.floor(random() * valid.length)),
        });
      } else if (kind === 3) {
        cases.push({
          headers: {
            'content-type': pick([
              'application/json',
              'application/octet-stream',
              'text/plain',
              `multipart/form-data; boundary=${BOUNDARY}`,
            ]),
          },
          body: bytes(1 + Math.floor(random() * 2_000)),
        });
      } else if (kind === 4) {
        const count = 150 + Math.floor(random() * 2_000);
        cases.push({
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: Array.from({ length: count }, (_, n) => `k${n % 7}=${n}`).join('&'),
        });
      } else if (kind === 5) {
        const count = 150 + Math.floor(random() * 400);
        cases.push({
          headers: MULTIPART,
          body: multipartBody(
            Array.from({ length: count }, (_, n) => [`k${n}`, String(n)] as const),
          ),
        });
      } else if (kind === 6) {
        cases.push({
          headers: { 'content-type': 'application/json' },
          body: `{"contact_id":"a\\u0000b","wpf_action":"update_tags","x":"\u0000"}`,
        });
      } else {
        cases.push({
          headers: { 'content-type': 'multipart/form-data' },
          body: `--nope\r\n${'x'.repeat(Math.floor(random() * 500))}`,
        });
      }
    }

    const before = (await listEvents(t.service.database.db, { limit: 1 }))[0]?.id ?? 0;
    const statuses: number[] = [];
    const query = (i: number) =>
      `/?access_key=${t.key}&async=true&wpf_action=update_tags&contact_id=fuzz-${i}%00`;
    for (let start = 0; start < cases.length; start += 8) {
      const batch = cases.slice(start, start + 8).map(async (fuzz, offset) => {
        const reply = await post(query(start + offset), fuzz.headers, fuzz.body);
        statuses.push(reply.status);
        expect(reply.answer.eventId, `case ${start + offset}: ${reply.text}`).toBeTypeOf('number');
      });
      await Promise.all(batch);
    }
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    const stored = await listEvents(t.service.database.db, { limit: 1_000 });
    expect(stored.filter((event) => event.id > before)).toHaveLength(cases.length);
  });
});
