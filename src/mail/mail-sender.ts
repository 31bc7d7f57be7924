/**
 * The mail sender: takes queued messages one at a time, renders them with a
 * fresh set-password link, and sends them. A failure is retried with backoff
 * and written to the activity log; the run that queued the message never waits.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import {
  createPasswordToken,
  deletePasswordToken,
} from '../accounts/password-tokens.repository.js';
import { writeActivity, type ActivityEntry } from '../activity/activity.repository.js';
import { createPollLoop, type Clock } from '../clock.js';
import { findUserById } from '../directory/user.repository.js';
import { calculateDelay } from '../lib/backoff.js';
import type { Logger } from '../logger.js';
import { loadSettings } from '../settings/settings.js';
import type { DB, MailRow } from '../storage/schema.js';
import { composeMail, senderOf } from './compose.js';
import { claimNextMail, markMailFailed, markMailRetry, markMailSent } from './mail.repository.js';
import { PermanentMailError, type Mailer } from './mailer.js';

export interface MailSenderDeps {
  db: Kysely<DB>;
  clock: Clock;
  logger: Logger;
  mailer: Mailer;
  settingOverrides: Readonly<Record<string, string>>;
  /** Base URL of the pages the links point to. */
  publicUrl: () => string;
  random?: (() => number) | undefined;
}

export interface MailSenderOptions {
  pollMs: number;
  /** How long a claimed message stays locked; a sender that dies mid-send is replaced after it. */
  leaseMs: number;
  owner?: string;
  /** Work done every so often by the loop (pruning expired rows). */
  housekeeping?: { everyMs: number; run: () => Promise<void> };
}

interface MailOutcome {
  id: number;
  status: 'sent' | 'pending' | 'failed';
}

export interface MailSender {
  start(): void;
  stop(): Promise<void>;
  notify(): void;
  /** Sends whatever is due now, one by one; resolves with how many were tried. */
  drain(): Promise<number>;
  /** Emits 'mail' with a MailOutcome after every attempt. */
  readonly events: EventEmitter;
}

const LABEL = { welcome: 'welcome e-mail', password_reset: 'password-reset e-mail' } as const;
const MAX_DELAY_MS = 30 * 60_000;

export function createMailSender(deps: MailSenderDeps, options: MailSenderOptions): MailSender {
  const owner =
    options.owner ?? `${hostname()}:${process.pid}:mail:${randomBytes(3).toString('hex')}`;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const { db, clock, logger, mailer } = deps;
  let lastHousekeeping = 0;

  const iso = (offsetMs = 0) => new Date(clock.now().getTime() + offsetMs).toISOString();

  /** Claims and sends one due message; false when none is due. */
  async function sendNext(): Promise<boolean> {
    const row = await claimNextMail(db, owner, iso(), iso(options.leaseMs));
    if (!row) return false;
    const outcome = await deliver(row);
    events.emit('mail', outcome satisfies MailOutcome);
    return true;
  }

  async function deliver(row: MailRow): Promise<MailOutcome> {
    const settings = await loadSettings(db, deps.settingOverrides);
    const label = LABEL[row.kind];
    const context = { userId: row.user_id, eventId: row.event_id, action: 'mail' };
    const user = row.user_id === null ? undefined : await findUserById(db, row.user_id);
    if (!user) {
      const message = `The ${label} #${row.id} to ${row.to_address} was not sent: the user no longer exists`;
      await recordOutcome(
        (trx) => markMailFailed(trx, row.id, owner, 'the user no longer exists', iso()),
        [{ level: 'warning', message, ...context }],
      );
      return { id: row.id, status: 'failed' };
    }

    const ttlMs = settings.password_link_hours * 3_600_000;
    // The link is made now, so the raw token exists only in the message itself.
    const token = await createPasswordToken(
      db,
      { userId: user.id, purpose: row.kind, ttlMs },
      clock.now(),
    );
    const base = deps.publicUrl();
    const mail = composeMail(
      row.kind,
      settings,
      user,
      {
        setPasswordUrl: `${base}/set-password?token=${encodeURIComponent(token.raw)}`,
        loginUrl: `${base}/login`,
        siteUrl: settings.site_url || base,
      },
      ttlMs,
      senderOf(settings, base),
    );
    try {
      const delivery = await mailer.send(
        mail,
        `${iso().replace(/[:.]/g, '-')}-${row.id}-${row.kind}`,
      );
      const message =
        mailer.kind === 'smtp'
          ? `Sent the ${label} #${row.id} to ${user.email} via ${delivery.deliveredTo}`
          : `Wrote the ${label} #${row.id} for ${user.email} to ${delivery.deliveredTo} (no mail server is configured)`;
      await recordOutcome(
        (trx) =>
          markMailSent(
            trx,
            row.id,
            owner,
            { subject: mail.subject, deliveredTo: delivery.deliveredTo },
            iso(),
          ),
        [{ level: 'info', message, ...context }],
      );
      logger.info(
        { mail: row.id, kind: row.kind, user: user.id, deliveredTo: delivery.deliveredTo },
        `${label} sent`,
      );
      return { id: row.id, status: 'sent' };
    } catch (error) {
      await deletePasswordToken(db, token.raw);
      return failed(
        row,
        user.email,
        error,
        settings.mail_retry_max_attempts,
        settings.retry_base_delay_ms,
      );
    }
  }

  /** A message's new status and its activity line, in one transaction: whoever sees one sees both. */
  async function recordOutcome(
    mark: (trx: Kysely<DB>) => Promise<void>,
    activity: ActivityEntry[],
  ): Promise<void> {
    await db.transaction().execute(async (trx) => {
      await mark(trx);
      await writeActivity(trx, activity, iso());
    });
  }

  async function failed(
    row: MailRow,
    to: string,
    error: unknown,
    maxAttempts: number,
    baseDelayMs: number,
  ): Promise<MailOutcome> {
    const label = LABEL[row.kind];
    const reason = error instanceof Error ? error.message : String(error);
    const context: Omit<ActivityEntry, 'level' | 'message'> = {
      userId: row.user_id,
      eventId: row.event_id,
      action: 'mail',
      data: { mail: row.id },
    };
    if (!(error instanceof PermanentMailError) && row.attempts < maxAttempts) {
      const delay = calculateDelay(
        row.attempts,
        { maxAttempts, baseDelayMs, maxDelayMs: MAX_DELAY_MS },
        deps.random,
      );
      const message = `Could not send the ${label} #${row.id} to ${to} (attempt ${row.attempts} of ${maxAttempts}): ${reason}; retrying in ${Math.max(1, Math.round(delay / 1000))} s`;
      await recordOutcome(
        (trx) => markMailRetry(trx, row.id, owner, iso(delay), reason),
        [{ level: 'warning', message, ...context }],
      );
      logger.warn({ mail: row.id, err: reason }, `${label} not sent; will retry`);
      return { id: row.id, status: 'pending' };
    }
    const why =
      error instanceof PermanentMailError
        ? 'the mail server refused it'
        : `gave up after ${row.attempts} attempts`;
    const message = `The ${label} #${row.id} to ${to} was not sent (${why}): ${reason}. Send it again with: crm-bridge mail retry ${row.id}`;
    await recordOutcome(
      (trx) => markMailFailed(trx, row.id, owner, reason, iso()),
      [{ level: 'error', message, ...context }],
    );
    logger.error({ mail: row.id, err: reason }, `${label} failed`);
    return { id: row.id, status: 'failed' };
  }

  async function housekeeping(): Promise<void> {
    if (!options.housekeeping) return;
    const now = clock.now().getTime();
    if (now - lastHousekeeping < options.housekeeping.everyMs) return;
    lastHousekeeping = now;
    await options.housekeeping
      .run()
      .catch((error: unknown) => logger.warn({ err: error }, 'housekeeping failed'));
  }

  const loop = createPollLoop({
    pollMs: options.pollMs,
    async pass() {
      if (await sendNext()) return true;
      await housekeeping();
      return false;
    },
    // Storage is away: back off, and carry on by itself once it answers again.
    onError: (error) => logger.error({ err: error }, 'mail queue unavailable'),
  });

  return {
    events,
    start: () => loop.start(),
    stop: () => loop.stop(),
    notify: () => loop.wake(),
    async drain() {
      let tried = 0;
      while (await sendNext()) tried += 1;
      return tried;
    },
  };
}
