/**
 * "I lost my password": queues a reset e-mail (the mail sender creates the
 * link when it sends it). The caller learns only whether the client address
 * is over its limit, never whether the account exists or was mailed.
 */
import type { Kysely } from 'kysely';
import { writeActivity } from '../activity/activity.repository.js';
import type { Clock } from '../clock.js';
import { enqueueMail } from '../mail/mail.repository.js';
import type { Settings } from '../settings/settings.js';
import type { DB } from '../storage/schema.js';
import { findUserForLogin } from './authenticate.js';
import { hashSecret } from '../lib/secret-hash.js';
import { hitLimit } from './rate-limits.js';

const RESET_WINDOW_MS = 60 * 60_000;

export interface ResetDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly settings: Pick<Settings, 'reset_limit_per_ip' | 'reset_limit_per_account'>;
  /** Wakes the mail sender, when this process runs one. */
  readonly mail?: { notify(): void } | undefined;
}

export type ResetOutcome =
  { status: 'accepted' } | { status: 'rate_limited'; retryAfterSeconds: number };

/**
 * Both branches (account or not) make the same kind of database round trips,
 * so the answer time says as little as the answer.
 */
export async function requestPasswordReset(
  deps: ResetDeps,
  input: { identifier: string; ip: string },
): Promise<ResetOutcome> {
  const { db, settings } = deps;
  const now = deps.clock.now();
  const at = now.toISOString();
  const perIp = await hitLimit(db, `reset:ip:${input.ip}`, RESET_WINDOW_MS, now);
  if (perIp.count > settings.reset_limit_per_ip) {
    // Only the first refusal of a window is logged: a flood must not flood the log too.
    if (perIp.count === settings.reset_limit_per_ip + 1) {
      const message = `Password resets refused for ${input.ip}: more than ${settings.reset_limit_per_ip} requests in an hour`;
      await writeActivity(
        db,
        [{ level: 'warning', action: 'reset', message, data: { ip: input.ip } }],
        at,
      );
    }
    return { status: 'rate_limited', retryAfterSeconds: perIp.retryAfterSeconds };
  }

  const user = await findUserForLogin(db, input.identifier);
  if (!user) {
    // The typed name is neither logged nor stored as typed: people type passwords into it, or other people's addresses.
    await hitLimit(
      db,
      `reset:name:${hashSecret(input.identifier.trim().toLowerCase())}`,
      RESET_WINDOW_MS,
      now,
    );
    await writeActivity(
      db,
      [
        {
          level: 'notice',
          action: 'reset',
          message: 'Password reset requested for a name with no account',
          data: { ip: input.ip },
        },
      ],
      at,
    );
    return { status: 'accepted' };
  }
  const perAccount = await hitLimit(db, `reset:user:${user.id}`, RESET_WINDOW_MS, now);
  if (perAccount.count > settings.reset_limit_per_account) {
    await writeActivity(
      db,
      [
        {
          level: 'warning',
          action: 'reset',
          userId: user.id,
          message: `Password reset not sent: more than ${settings.reset_limit_per_account} requests in an hour`,
          data: { ip: input.ip },
        },
      ],
      at,
    );
    return { status: 'accepted' };
  }
  await db.transaction().execute(async (trx) => {
    await enqueueMail(trx, { kind: 'password_reset', userId: user.id, to: user.email }, at);
    await writeActivity(
      trx,
      [
        {
          level: 'info',
          action: 'reset',
          userId: user.id,
          message: 'Password reset requested',
          data: { ip: input.ip },
        },
      ],
      at,
    );
  });
  deps.mail?.notify();
  return { status: 'accepted' };
}
