/**
 * The one file that imports nodemailer: an SMTP mailer when a mail server is
 * configured, else an outbox that writes each message as an .eml file.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createTransport } from 'nodemailer';
import { PermanentMailError, type Delivery, type Mailer, type OutgoingMail } from './mailer.js';

/** The mail server URL with its password replaced, for logs. */
function describeSmtpUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    parsed.search = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'smtp (unparsable URL)';
  }
}

function envelope(mail: OutgoingMail) {
  return { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html };
}

interface SmtpFailure extends Error {
  code?: string;
  responseCode?: number;
  permanent?: boolean;
}

/**
 * SMTP via nodemailer: smtp:// must upgrade with STARTTLS, smtps:// speaks TLS from the start.
 * Without requireTLS a man in the middle could strip STARTTLS from the server's answer and
 * read the login and the set-password links; `?requireTLS=false` in the URL allows clear text.
 */
export function createSmtpMailer(url: string, options: { timeoutMs: number }): Mailer {
  const transport = createTransport({
    // Options in the URL's query win over these.
    requireTLS: true,
    url,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs * 2,
  });
  const target = describeSmtpUrl(url);
  return {
    kind: 'smtp',
    target,
    async send(mail): Promise<Delivery> {
      try {
        const info = await transport.sendMail(envelope(mail));
        return {
          deliveredTo: `${target} (${String(info.response).slice(0, 120)})`,
          messageId: info.messageId,
        };
      } catch (error) {
        const failure = error as SmtpFailure;
        // A refused login or a server without STARTTLS may be fixed by the site owner, so they are retried;
        // a refused recipient is not.
        if (failure.permanent === true && failure.code !== 'EAUTH' && failure.code !== 'ETLS') {
          throw new PermanentMailError(failure.message, { cause: error });
        }
        throw error;
      }
    },
    close() {
      transport.close();
    },
  };
}

/** Writes each message to `<dir>/<name>.eml`, readable only by the service's user (it holds a live link). */
export function createOutboxMailer(dir: string): Mailer {
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    kind: 'outbox',
    target: dir,
    async send(mail, name): Promise<Delivery> {
      const info = await transport.sendMail(envelope(mail));
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${name}.eml`);
      const partial = `${file}.partial`;
      await fs.writeFile(partial, info.message as Buffer, { mode: 0o600 });
      await fs.rename(partial, file);
      return { deliveredTo: file, messageId: info.messageId };
    },
    close() {
      transport.close();
    },
  };
}
