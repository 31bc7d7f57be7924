/**
 * What the rest of the service needs of a mail transport: send one message.
 * The only implementation lives in nodemailer.adapter.ts.
 */
export interface OutgoingMail {
  from: { name: string; address: string };
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Delivery {
  /** Where the message went: the SMTP server's answer, or the outbox file written. */
  deliveredTo: string;
  messageId: string;
}

export interface Mailer {
  /** smtp: a mail server; outbox: .eml files in a folder. */
  readonly kind: 'smtp' | 'outbox';
  /** Where messages go, without secrets (shown in logs and the activity log). */
  readonly target: string;
  /** Sends one message; `name` names it where a name is needed (the outbox file). */
  send(mail: OutgoingMail, name: string): Promise<Delivery>;
  close(): void;
}

/** A failed send that retrying cannot fix (the server refused the recipient for good). */
export class PermanentMailError extends Error {
  override readonly name = 'PermanentMailError';
}
