/**
 * One kill -9 trial: `serve` takes webhooks from several senders at once, is
 * killed with SIGKILL once a given number were acknowledged, and is started
 * again; every webhook that got a 200 or 202 must then reach its outcome.
 * Shared by the crash test and the 100-trial script under bench/.
 */
import { runCli, startServe, type ServeProcess } from './cli.js';
import { openTestPool, type TestDatabase } from './databases.js';
import { waitFor } from './wait.js';

export interface CrashTrialOptions {
  /** Acknowledged webhooks after which the process is killed. */
  killAfter: number;
  /** Senders posting webhooks at the same time. */
  senders?: number;
  env?: Record<string, string>;
  /** How long the restarted process may take to process what was acknowledged. */
  recoveryTimeoutMs?: number;
}

export interface CrashTrialResult {
  /** Webhooks answered 200 or 202 before the kill. */
  acknowledged: number;
  /** Requests that got no answer (the kill cut them off) or a 503. */
  unanswered: number;
  /** Acknowledged webhooks that never reached `done` after the restart. */
  lost: number[];
  /** From the restart until every acknowledged webhook was done. */
  recoveryMs: number;
}

/** Runs one trial; the caller owns `database` (each trial may share one or use its own). */
export async function runCrashTrial(
  database: TestDatabase,
  trial: string,
  options: CrashTrialOptions,
): Promise<CrashTrialResult> {
  const env = { CRM_BRIDGE_LEASE_MS: '1000', ...options.env };
  const acknowledged: number[] = [];
  let unanswered = 0;
  let sending = true;
  let serve: ServeProcess | undefined = await startServe(database, { env });
  try {
    const target = serve;
    // The banner shows the key only on the very first start.
    const accessKey = (await runCli(database, 'access-key', 'show')).stdout.trim();
    const send = async (sender: number) => {
      for (let n = 0; sending; n += 1) {
        const contact = `${trial}-${sender}-${n}`;
        const query = new URLSearchParams({
          wpf_action: 'add',
          access_key: accessKey,
          contact_id: contact,
          email: `${contact}@example.com`,
          // Half wait for their outcome, half are queued: both answers acknowledge.
          async: n % 2 === 0 ? 'true' : 'false',
        });
        try {
          const response = await fetch(`${target.baseUrl}/?${query.toString()}`);
          const body = (await response.json()) as { eventId?: number };
          if ((response.status === 200 || response.status === 202) && body.eventId)
            acknowledged.push(body.eventId);
          else unanswered += 1;
        } catch {
          unanswered += 1;
          if (target.process.exitCode !== null || target.process.signalCode !== null) return;
        }
      }
    };
    const senders = Array.from({ length: options.senders ?? 4 }, (_, sender) => send(sender));
    await waitFor(
      'webhooks acknowledged before the kill',
      () => (acknowledged.length >= options.killAfter ? true : undefined),
      60_000,
    );
    target.process.kill('SIGKILL');
    await target.stop();
    sending = false;
    await Promise.all(senders);
    serve = undefined;

    const restartedAt = Date.now();
    serve = await startServe(database, { env });
    const storage = openTestPool(database.url);
    let lost: number[] = [];
    try {
      const ids = [...acknowledged];
      const undone = async () => {
        const done = new Set<number>();
        for (let start = 0; start < ids.length; start += 500) {
          const rows = await storage.db
            .selectFrom('webhook_events')
            .select(['id', 'status'])
            .where('id', 'in', ids.slice(start, start + 500))
            .execute();
          for (const row of rows) if (row.status === 'done') done.add(row.id);
        }
        return ids.filter((id) => !done.has(id));
      };
      await waitFor(
        'every acknowledged webhook done after the restart',
        async () => (await undone()).length === 0,
        options.recoveryTimeoutMs ?? 20_000,
      ).catch(() => undefined);
      lost = await undone();
    } finally {
      await storage.destroy();
    }
    return {
      acknowledged: acknowledged.length,
      unanswered,
      lost,
      recoveryMs: Date.now() - restartedAt,
    };
  } finally {
    sending = false;
    await serve?.stop();
  }
}
