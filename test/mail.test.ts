/**
 * The welcome e-mail end to end: webhook in, message out — to the outbox
 * (no mail server) or to a real SMTP server — with a working set-password
 * link; SMTP outages are retried and survive a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { lookupPasswordToken } from '../src/accounts/password-tokens.repository.js';
import { hashSecret } from '../src/lib/secret-hash.js';
import { queryActivity } from '../src/activity/activity.repository.js';
import { findUserByEmail } from '../src/directory/user.repository.js';
import { enqueueMail, findMail, listMail } from '../src/mail/mail.repository.js';
import type { MailRow } from '../src/storage/schema.js';
import { createTestDatabase, testDialects, type TestDatabase } from './helpers/databases.js';
import { startTestService, type TestService } from './helpers/service.js';
import { startSmtpServer } from './helpers/smtp.js';
import { waitFor } from './helpers/wait.js';

const LINK = /(https?:\/\/[^\s"<>]+\/set-password\?token=([A-Za-z0-9_-]+))/;

function waitForMail(
  t: TestService,
  id: number,
  status: MailRow['status'],
  predicate: (row: MailRow) => boolean = () => true,
) {
  return waitFor(
    `mail #${id} to be ${status}`,
    async () => {
      const row = await findMail(t.service.database.db, id);
      return row?.status === status && predicate(row) && row;
    },
    10_000,
  );
}

for (const dialect of testDialects()) {
  describe(`welcome e-mail (${dialect})`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    const service = async (env: Record<string, string> = {}, database?: TestDatabase) => {
      const t = await startTestService(dialect, { env, database });
      cleanups.push(() => t.close());
      return t;
    };
    const smtp = async (options: Parameters<typeof startSmtpServer>[0] = {}) => {
      const server = await startSmtpServer(options);
      cleanups.push(() => server.stop());
      return server;
    };
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    const add = (t: TestService, query: string) =>
      t.webhook(`/?wpf_action=add&access_key=${t.key}&${query}`);

    it('without a mail server, writes the welcome e-mail to the outbox with a single-use link and logs where', async () => {
      const t = await service({ CRM_BRIDGE_SETTING_SITE_NAME: 'Acme Members' });
      const answer = await add(
        t,
        'contact_id=801&email=ann@example.com&first_name=Ann&send_notification=true',
      );
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: 'done', created: true, welcomeEmail: 'queued' });
      const sent = await waitForMail(t, answer.body.welcomeEmailId as number, 'sent');

      const outbox = path.join(t.database.dataDir, 'outbox');
      const files = fs.readdirSync(outbox).filter((name) => name.endsWith('.eml'));
      expect(files).toHaveLength(1);
      const file = path.join(outbox, files[0] ?? '');
      expect(sent.delivered_to).toBe(file);
      expect(fs.statSync(file).mode & 0o077).toBe(0);
      const message = await simpleParser(fs.readFileSync(file));
      expect(message.to && !Array.isArray(message.to) ? message.to.text : '').toBe(
        'ann@example.com',
      );
      expect(message.subject).toBe('Your account at Acme Members');
      expect(message.from?.value[0]).toMatchObject({
        name: 'Acme Members',
        address: 'no-reply@127.0.0.1',
      });
      expect(message.text).toContain('Hello Ann,');
      expect(message.text).toContain('Username: ann@example.com');
      expect(message.text).toContain('expires in 24 hours');
      const [, url, token] = LINK.exec(message.text ?? '') ?? [];
      expect(url?.startsWith(`${t.baseUrl}/set-password?token=`)).toBe(true);
      expect(message.html).toContain(`href="${url}"`);

      // Only the token's hash is stored; the link is valid, for this user, for 24 hours.
      const db = t.service.database.db;
      const user = await findUserByEmail(db, 'ann@example.com');
      const lookup = await lookupPasswordToken(db, token ?? '', new Date());
      expect(lookup).toMatchObject({ status: 'valid', userId: user?.id, purpose: 'welcome' });
      const rows = await db.selectFrom('password_tokens').selectAll().execute();
      expect(rows.map((row) => row.token_hash)).toEqual([hashSecret(token ?? '')]);
      expect(JSON.stringify(await db.selectFrom('mail_queue').selectAll().execute())).not.toContain(
        token,
      );
      if (lookup.status === 'valid') {
        const hours = (Date.parse(lookup.expiresAt) - Date.now()) / 3_600_000;
        expect(hours).toBeGreaterThan(23.9);
        expect(hours).toBeLessThanOrEqual(24);
      }

      const activity = await queryActivity(db, { userId: user?.id, action: 'mail' });
      expect(activity.map((row) => row.message)).toEqual([
        expect.stringContaining(
          `Wrote the welcome e-mail #${sent.id} for ann@example.com to ${file}`,
        ),
      ]);
      expect(t.logLines.some((line) => line.includes(file))).toBe(true);
      expect(t.logLines.join('\n')).not.toContain(token);
    });

    it('sends nothing without send_notification (or with "false"), and on every add when the setting is on', async () => {
      const t = await service();
      expect((await add(t, 'contact_id=810&email=no1@example.com')).body).toMatchObject({
        welcomeEmail: 'not requested',
      });
      expect(
        (await add(t, 'contact_id=811&email=no2@example.com&send_notification=false')).body,
      ).toMatchObject({ welcomeEmail: 'not requested' });
      expect(await listMail(t.service.database.db)).toEqual([]);

      const on = await service({ CRM_BRIDGE_SETTING_SEND_WELCOME_EMAIL: 'true' });
      const answer = await add(on, 'contact_id=812&email=yes@example.com');
      expect(answer.body).toMatchObject({ welcomeEmail: 'queued' });
      await waitForMail(on, answer.body.welcomeEmailId as number, 'sent');
      // An add for a user who already exists sends nothing again.
      const again = await add(on, 'contact_id=812&email=yes@example.com&send_notification=true');
      expect(again.body).toMatchObject({ created: false, welcomeEmail: 'skipped' });
      expect(again.body.notices).toEqual(
        expect.arrayContaining([expect.stringContaining('already existed, so no welcome e-mail')]),
      );
      expect(await listMail(on.service.database.db)).toHaveLength(1);
    });

    it('sends over SMTP with login, from the configured sender, with escaped values in the HTML', async () => {
      const server = await smtp({ auth: { user: 'mailer', pass: 's3cret pass' } });
      const t = await service({
        CRM_BRIDGE_SMTP_URL: server.url,
        CRM_BRIDGE_SETTING_MAIL_FROM_NAME: 'Acme Team',
        CRM_BRIDGE_SETTING_MAIL_FROM_ADDRESS: 'hello@acme.example',
        CRM_BRIDGE_SETTING_WELCOME_EMAIL_SUBJECT: 'Welcome, {first_name}!',
      });
      const first = encodeURIComponent('Bo <b>& Co');
      const answer = await add(
        t,
        `contact_id=820&email=bo@example.com&first_name=${first}&send_notification=true`,
      );
      await waitForMail(t, answer.body.welcomeEmailId as number, 'sent');
      const [mail] = await server.waitFor(1);
      expect(mail?.user).toBe('mailer');
      expect(mail?.envelopeTo).toEqual(['bo@example.com']);
      expect(mail?.envelopeFrom).toBe('hello@acme.example');
      expect(mail?.parsed.from?.value[0]).toMatchObject({
        name: 'Acme Team',
        address: 'hello@acme.example',
      });
      expect(mail?.parsed.subject).toBe('Welcome, Bo <b>& Co!');
      expect(mail?.parsed.text).toContain('Hello Bo <b>& Co,');
      expect(mail?.parsed.html).toContain('Hello Bo &lt;b&gt;&amp; Co,');
      const token = LINK.exec(mail?.parsed.text ?? '')?.[2] ?? '';
      expect(await lookupPasswordToken(t.service.database.db, token, new Date())).toMatchObject({
        status: 'valid',
      });
      // The mail server's password never reaches a log or the activity log.
      const activity = await queryActivity(t.service.database.db, { action: 'mail' });
      expect(activity[0]?.message).toContain(`via smtp://mailer:***@127.0.0.1:${server.port}`);
      expect(JSON.stringify(activity) + t.logLines.join('\n')).not.toContain('s3cret');
    });

    it('upgrades to TLS with STARTTLS, and speaks smtps:// from the first byte', async () => {
      for (const tls of ['starttls', 'implicit'] as const) {
        const server = await smtp({ tls });
        const t = await service({ CRM_BRIDGE_SMTP_URL: server.url });
        const answer = await add(
          t,
          `contact_id=83${tls.length}&email=${tls}@example.com&send_notification=true`,
        );
        await waitForMail(t, answer.body.welcomeEmailId as number, 'sent');
        const [mail] = await server.waitFor(1);
        expect(mail?.secure).toBe(true);
        expect(mail?.envelopeTo).toEqual([`${tls}@example.com`]);
      }
    });

    it('never sends in clear to a server that does not offer STARTTLS, unless the URL says requireTLS=false (downgrade)', async () => {
      const plain = await smtp({ tls: 'none' });
      const t = await service({ CRM_BRIDGE_SMTP_URL: plain.url });
      const answer = await add(t, 'contact_id=850&email=clear@example.com&send_notification=true');
      const id = answer.body.welcomeEmailId as number;
      const waiting = await waitForMail(t, id, 'pending', (row) => row.error_message !== null);
      expect(waiting.error_message).toMatch(/STARTTLS/i);
      expect(plain.received).toHaveLength(0);

      const allowed = await service({ CRM_BRIDGE_SMTP_URL: `${plain.url}?requireTLS=false` });
      const sent = await add(
        allowed,
        'contact_id=851&email=clear-ok@example.com&send_notification=true',
      );
      await waitForMail(allowed, sent.body.welcomeEmailId as number, 'sent');
      const [mail] = await plain.waitFor(1);
      expect(mail?.secure).toBe(false);
      expect(mail?.envelopeTo).toEqual(['clear-ok@example.com']);
    });

    it('keeps the webhook at 200 while the mail server is down, retries, and sends once it is back', async () => {
      const server = await smtp();
      await server.stop();
      const t = await service({ CRM_BRIDGE_SMTP_URL: server.url });
      const answer = await add(t, 'contact_id=840&email=down@example.com&send_notification=true');
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ status: 'done', created: true, welcomeEmail: 'queued' });
      const id = answer.body.welcomeEmailId as number;
      const waiting = await waitForMail(t, id, 'pending', (row) => row.attempts >= 2);
      expect(waiting.error_message).toMatch(/ECONNREFUSED|connect/i);
      const warnings = await queryActivity(t.service.database.db, {
        action: 'mail',
        level: 'warning',
      });
      expect(warnings.at(-1)?.message).toMatch(
        new RegExp(
          `Could not send the welcome e-mail #${id} to down@example.com \\(attempt 1 of 15\\).*retrying in`,
        ),
      );

      await server.start();
      const sent = await waitForMail(t, id, 'sent');
      const [mail] = await server.waitFor(1);
      expect(mail?.envelopeTo).toEqual(['down@example.com']);
      // The links of failed attempts were never seen by anyone and are gone; the one sent works.
      const tokens = await t.service.database.db
        .selectFrom('password_tokens')
        .selectAll()
        .execute();
      expect(tokens).toHaveLength(1);
      const token = LINK.exec(mail?.parsed.text ?? '')?.[2] ?? '';
      expect(tokens[0]?.token_hash).toBe(hashSecret(token));
      expect(sent.attempts).toBeGreaterThanOrEqual(2);
    });

    it('loses no message across a restart: a message queued while the server was down is sent by the next process', async () => {
      const database = await createTestDatabase(dialect);
      cleanups.push(() => database.drop());
      const server = await smtp();
      await server.stop();
      const first = await service(
        { CRM_BRIDGE_SMTP_URL: server.url, CRM_BRIDGE_SETTING_RETRY_BASE_DELAY_MS: '60000' },
        database,
      );
      const answer = await add(
        first,
        'contact_id=850&email=restart@example.com&send_notification=true',
      );
      const id = answer.body.welcomeEmailId as number;
      await waitForMail(first, id, 'pending', (row) => row.attempts === 1);
      await first.close();

      await server.start();
      const second = await service({ CRM_BRIDGE_SMTP_URL: server.url }, database);
      // The next attempt is a minute away; an operator (or the CLI) can send it now.
      await second.service.database.db
        .updateTable('mail_queue')
        .set({ available_at: new Date().toISOString() })
        .where('id', '=', id)
        .execute();
      second.service.mail?.notify();
      await waitForMail(second, id, 'sent');
      expect((await server.waitFor(1))[0]?.envelopeTo).toEqual(['restart@example.com']);
    });

    it('marks a message the server refuses for good (550) as failed at once, and says how to send it again', async () => {
      const server = await smtp({ rejectRecipient: 'gone@example.com' });
      const t = await service({ CRM_BRIDGE_SMTP_URL: server.url });
      const answer = await add(t, 'contact_id=860&email=gone@example.com&send_notification=true');
      const failed = await waitForMail(t, answer.body.welcomeEmailId as number, 'failed');
      expect(failed.attempts).toBe(1);
      expect(failed.error_message).toMatch(/550/);
      const errors = await queryActivity(t.service.database.db, { action: 'mail', level: 'error' });
      expect(errors[0]?.message).toContain(`crm-bridge mail retry ${failed.id}`);
      expect(
        await t.service.database.db.selectFrom('password_tokens').selectAll().execute(),
      ).toEqual([]);
    });

    it('sends a queued password-reset e-mail with its own template', async () => {
      const server = await smtp();
      const t = await service({
        CRM_BRIDGE_SMTP_URL: server.url,
        CRM_BRIDGE_SETTING_PASSWORD_LINK_HOURS: '2',
      });
      await add(t, 'contact_id=870&email=reset@example.com&first_name=Rae');
      const db = t.service.database.db;
      const user = await findUserByEmail(db, 'reset@example.com');
      const id = await enqueueMail(
        db,
        { kind: 'password_reset', userId: user?.id ?? 0, to: 'reset@example.com' },
        new Date().toISOString(),
      );
      t.service.mail?.notify();
      await waitForMail(t, id, 'sent');
      const [mail] = await server.waitFor(1);
      expect(mail?.parsed.subject).toBe('Reset your password at crm-bridge');
      expect(mail?.parsed.text).toContain('expires in 2 hours');
      const token = LINK.exec(mail?.parsed.text ?? '')?.[2] ?? '';
      expect(await lookupPasswordToken(db, token, new Date())).toMatchObject({
        status: 'valid',
        purpose: 'password_reset',
      });
    });
  });
}
