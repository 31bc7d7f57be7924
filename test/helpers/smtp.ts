/**
 * A real SMTP server on 127.0.0.1 (smtp-server) that keeps every message it
 * accepts, parsed (mailparser). It can be stopped and started again on the
 * same port to play an outage.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { trackOpen } from './open-resources.js';
import { waitFor } from './wait.js';

interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  secure: boolean;
  user: string | undefined;
  parsed: ParsedMail;
}

export interface TestSmtpServer {
  port: number;
  received: ReceivedMail[];
  /** smtp:// (or smtps://) URL for CRM_BRIDGE_SMTP_URL. */
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Waits until `count` messages have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
}

export interface TestSmtpOptions {
  auth?: { user: string; pass: string };
  /** none: plain SMTP; starttls (the default): offers STARTTLS; implicit: TLS from the first byte (smtps). */
  tls?: 'none' | 'starttls' | 'implicit';
  /** Answer to RCPT TO for this address: a permanent 550. */
  rejectRecipient?: string;
}

export async function startSmtpServer(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const tls = options.tls ?? 'starttls';
  const serverOptions: SMTPServerOptions = {
    // The built-in test certificate is fine here; logger: false also silences its warning.
    logger: false,
    secure: tls === 'implicit',
    disabledCommands: [...(tls === 'none' ? ['STARTTLS'] : []), ...(options.auth ? [] : ['AUTH'])],
    allowInsecureAuth: true,
    authOptional: !options.auth,
    onAuth(auth, _session, callback) {
      if (
        options.auth &&
        auth.username === options.auth.user &&
        auth.password === options.auth.pass
      ) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onRcptTo(address, _session, callback) {
      if (address.address === options.rejectRecipient) {
        const error = new Error('Mailbox unavailable') as Error & { responseCode: number };
        error.responseCode = 550;
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          received.push({
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            envelopeTo: session.envelope.rcptTo.map((to) => to.address),
            secure: session.secure,
            user: typeof session.user === 'string' ? session.user : undefined,
            parsed,
          });
          callback();
        })
        .catch((error: unknown) => callback(error as Error));
    },
  };
  let server: SMTPServer | undefined;
  let stopped = () => {};
  let port = 0;
  const start = async () => {
    const instance = new SMTPServer(serverOptions);
    await new Promise<void>((resolve, reject) => {
      instance.server.once('error', reject);
      instance.listen(port, '127.0.0.1', () => resolve());
    });
    port = (instance.server.address() as AddressInfo).port;
    server = instance;
    stopped = trackOpen('an SMTP server');
  };
  await start();
  const auth = options.auth
    ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@`
    : '';
  const scheme = tls === 'implicit' ? 'smtps' : 'smtp';
  const query = tls === 'none' ? '' : '?tls.rejectUnauthorized=false';
  return {
    get port() {
      return port;
    },
    received,
    get url() {
      return `${scheme}://${auth}127.0.0.1:${port}${query}`;
    },
    start,
    async stop() {
      const instance = server;
      server = undefined;
      if (instance) await new Promise<void>((resolve) => instance.close(() => resolve()));
      stopped();
    },
    async waitFor(count, timeoutMs = 10_000) {
      await waitFor(`${count} message(s)`, () => received.length >= count, timeoutMs);
      return received;
    },
  };
}
