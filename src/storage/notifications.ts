/**
 * Wake-ups between processes that share one database: "webhooks are waiting"
 * (workers claim at once instead of at their next poll) and "these events
 * reached an outcome" (requests waiting for them answer at once).
 *
 * In one process they are plain events. On PostgreSQL they also travel by
 * `NOTIFY` on a channel named after the schema, and a dedicated listening
 * connection (reopened with backoff when the server drops it) brings other
 * processes' notices in. A notice lost while that connection is down only
 * delays: workers and waiting requests still poll.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { createBackoff } from '../clock.js';
import { postgresClientConfig, postgresSchemaOf, type Database } from './database.js';

export interface Notifications {
  /** True when notices from other processes arrive (PostgreSQL); polling then only backs them up. */
  readonly shared: boolean;
  /** Tells every process, this one included, that webhooks are waiting. */
  workArrived(): void;
  /** Tells every process, this one included, that these events reached an outcome or a retry. */
  finished(ids: readonly number[]): void;
  /** Calls `listener` when work arrived anywhere; returns the unsubscribe. */
  onWork(listener: () => void): () => void;
  /** Calls `listener` with the ids of events that finished anywhere; returns the unsubscribe. */
  onFinished(listener: (ids: readonly number[]) => void): () => void;
  /** Settles once the first attempt to listen is over (listening, or a reconnect scheduled). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface NotificationOptions {
  applicationName?: string | undefined;
  /** Told when the listening connection fails (it is reopened). */
  onError?: ((error: Error) => void) | undefined;
}

/** PostgreSQL refuses payloads of 8000 bytes or more; ids are sent in chunks well below it. */
const IDS_PER_NOTICE = 500;

/** `crm_bridge_<schema>`: one channel per schema, so databases shared by several installs stay apart. */
function channelName(url: string): string {
  const schema = (postgresSchemaOf(url) ?? 'public').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `crm_bridge_${schema}`.slice(0, 63);
}

export function createNotifications(
  database: Database,
  url: string,
  options: NotificationOptions = {},
): Notifications {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const emitWork = () => local.emit('work');
  const emitFinished = (ids: readonly number[]) => local.emit('finished', ids);
  const subscriptions = {
    onWork(listener: () => void) {
      local.on('work', listener);
      return () => void local.off('work', listener);
    },
    onFinished(listener: (ids: readonly number[]) => void) {
      local.on('finished', listener);
      return () => void local.off('finished', listener);
    },
  };

  if (database.dialect !== 'postgres') {
    return {
      shared: false,
      ready: Promise.resolve(),
      workArrived: emitWork,
      finished: (ids) => emitFinished(ids),
      ...subscriptions,
      close: () => Promise.resolve(),
    };
  }

  const channel = channelName(url);
  /** Notices carry the sender, so a process does not act twice on its own. */
  const self = randomBytes(6).toString('hex');
  let closed = false;
  let client: pg.Client | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const backoff = createBackoff(100, 5_000);

  // Notices are gathered for one tick: a burst of webhooks sends one NOTIFY, not hundreds.
  let workPending = false;
  let finishedPending: number[] = [];
  let flushScheduled = false;
  const flush = async () => {
    flushScheduled = false;
    const payloads: string[] = [];
    if (workPending) payloads.push(`${self} w`);
    for (let start = 0; start < finishedPending.length; start += IDS_PER_NOTICE)
      payloads.push(`${self} f ${finishedPending.slice(start, start + IDS_PER_NOTICE).join(',')}`);
    workPending = false;
    finishedPending = [];
    await Promise.all(
      payloads.map((payload) =>
        sql`select pg_notify(${channel}, ${payload})`
          .execute(database.db)
          .catch((error: unknown) => options.onError?.(error as Error)),
      ),
    );
  };
  const schedule = () => {
    if (closed || flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => void flush());
  };

  const receive = (payload: string | undefined) => {
    const [sender, kind, ids] = (payload ?? '').split(' ');
    if (sender === self) return;
    if (kind === 'w') emitWork();
    if (kind === 'f' && ids) emitFinished(ids.split(',').map(Number).filter(Number.isInteger));
  };

  const connect = async () => {
    reconnectTimer = undefined;
    if (closed) return;
    const next = new pg.Client(
      postgresClientConfig(url, { applicationName: options.applicationName }),
    );
    const lost = (error?: Error) => {
      if (error) options.onError?.(error);
      if (client !== next) return;
      client = undefined;
      next.removeAllListeners('notification');
      void next.end().catch(() => undefined);
      if (!closed) reconnectTimer = setTimeout(() => void connect(), backoff.failed());
    };
    next.on('error', lost);
    next.on('end', () => lost());
    try {
      await next.connect();
      await next.query(`LISTEN "${channel}"`);
    } catch (error) {
      next.removeAllListeners('end');
      void next.end().catch(() => undefined);
      options.onError?.(error as Error);
      if (!closed) reconnectTimer = setTimeout(() => void connect(), backoff.failed());
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    backoff.succeeded();
    next.on('notification', (message) => {
      if (message.channel === channel) receive(message.payload);
    });
    // Notices sent while no connection listened are lost: look for work once now.
    emitWork();
  };
  const started = connect();

  return {
    shared: true,
    ready: started,
    workArrived() {
      emitWork();
      workPending = true;
      schedule();
    },
    finished(ids) {
      if (ids.length === 0) return;
      emitFinished(ids);
      finishedPending.push(...ids);
      schedule();
    },
    ...subscriptions,
    async close() {
      if (flushScheduled) await flush();
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      await started;
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners('end');
        await current.end().catch(() => undefined);
      }
    },
  };
}
