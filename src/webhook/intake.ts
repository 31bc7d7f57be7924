/**
 * Webhook intake, independent of the HTTP framework: checks the access key,
 * validates the request, commits it to the inbox, and (unless async) waits a
 * while for its result. Every request that passed the key check is stored,
 * even one that cannot be processed (status `rejected`), so it can be
 * inspected and replayed.
 */
import type { Kysely } from 'kysely';
import type { ActivityEntry } from '../activity/activity.repository.js';
import { writeActivity } from '../activity/activity.repository.js';
import { isAction, parseBoolean, type Action } from '../actions/rules.js';
import type { Clock } from '../clock.js';
import type { Connection, ConnectionRegistry } from '../connections/registry.js';
import { AppError, ERRORS, toAppError, type ErrorCode } from '../errors.js';
import type { StoredParams } from '../inbox/coalesce.js';
import type { InboxWriter } from '../inbox/inbox-writer.js';
import { sealParams, sealRequest } from '../inbox/stored-secrets.js';
import { findEvent } from '../inbox/inbox.repository.js';
import { redactRecord } from '../lib/secrets.js';
import type { Sealer } from '../lib/seal.js';
import type { Logger } from '../logger.js';
import type { KeyChecker } from '../settings/access-keys.js';
import type { DB, EventStatus, WebhookEventRow } from '../storage/schema.js';
import type { Notifications } from '../storage/notifications.js';
import type { Worker } from '../worker/worker.js';
import { isUnfilledMergeField, mergeParams } from './params.js';

export interface IntakeRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The connection named in the path (`/webhooks/<id>`), if any. */
  connectionId?: string | undefined;
  query: unknown;
  /** Parsed body: an object for form, multipart and JSON bodies. */
  body: unknown;
  rawBody: string | undefined;
  contentType: string | undefined;
  accessKeyHeader: string | undefined;
  ip: string;
  /** Set when the body could not be read. */
  bodyProblem?:
    | {
        code: Extract<
          ErrorCode,
          'MALFORMED_BODY' | 'BODY_TOO_DEEP' | 'BODY_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE'
        >;
        detail: string;
      }
    | undefined;
}

/** What the HTTP layer sends back: a status and a JSON-able body. */
export interface IntakeResponse {
  statusCode: number;
  body: Record<string, unknown>;
  /** The stored event, for the debug page. */
  event?: WebhookEventRow | undefined;
  retryAfterSeconds?: number | undefined;
}

export interface IntakeDeps {
  db: Kysely<DB>;
  clock: Clock;
  keys: KeyChecker;
  registry: ConnectionRegistry;
  writer: InboxWriter;
  /** The in-process worker, when this process runs one; results then arrive without polling. */
  worker: Worker | undefined;
  /**
   * Outcomes reached by any worker, this process's or (on PostgreSQL) another's, and the
   * wake-up for every worker when a webhook is stored. Without them, the local worker is told.
   */
  notifications?: Pick<Notifications, 'shared' | 'workArrived' | 'onFinished'> | undefined;
  logger: Logger;
  syncWaitMs: number;
  keyFailureLimit: number;
  /** Seals the secrets a webhook carries before they are stored. */
  sealer: Sealer;
}

const KEY_FAILURE_WINDOW_MS = 10 * 60_000;
/** Far more than any contact carries; a list longer than this is a mistake or an attack, and would retry in vain. */
export const MAX_TAGS_PER_WEBHOOK = 1_000;
const FINAL_STATUSES: readonly EventStatus[] = ['done', 'skipped', 'failed', 'rejected'];

export interface Intake {
  handle(request: IntakeRequest): Promise<IntakeResponse>;
  /** Waits up to `timeoutMs` for an event to reach a final status. */
  waitForEvent(id: number, timeoutMs: number): Promise<WebhookEventRow | undefined>;
}

export function createIntake(deps: IntakeDeps): Intake {
  const failures = new Map<string, { count: number; since: number }>();

  /** Counts a failed key attempt; true when the address is now over the limit. */
  const recordKeyFailure = (ip: string): number => {
    const now = deps.clock.now().getTime();
    const entry = failures.get(ip);
    if (!entry || now - entry.since > KEY_FAILURE_WINDOW_MS) {
      failures.set(ip, { count: 1, since: now });
      if (failures.size > 10_000) pruneFailures(now);
      return 1;
    }
    entry.count += 1;
    return entry.count;
  };
  const pruneFailures = (now: number) => {
    for (const [ip, entry] of failures)
      if (now - entry.since > KEY_FAILURE_WINDOW_MS) failures.delete(ip);
  };
  const isBlocked = (ip: string): boolean => {
    const entry = failures.get(ip);
    return (
      entry !== undefined &&
      entry.count >= deps.keyFailureLimit &&
      deps.clock.now().getTime() - entry.since <= KEY_FAILURE_WINDOW_MS
    );
  };

  async function log(entry: ActivityEntry): Promise<void> {
    try {
      await writeActivity(deps.db, [entry], deps.clock.now().toISOString());
    } catch (error) {
      deps.logger.warn({ err: error }, 'could not write to the activity log');
    }
  }

  const errorResponse = (
    code: ErrorCode,
    detail?: string,
    extra: Record<string, unknown> = {},
  ): IntakeResponse => {
    const error = new AppError(code, detail);
    return {
      statusCode: error.status,
      body: { status: 'error', error: { code, message: error.message }, ...extra },
    };
  };

  async function waitForEvent(id: number, timeoutMs: number): Promise<WebhookEventRow | undefined> {
    const deadline = Date.now() + timeoutMs;
    const isFinal = (row: WebhookEventRow | undefined) =>
      row !== undefined && FINAL_STATUSES.includes(row.status);
    for (;;) {
      // The webhook is stored: storage failing now must not turn its answer into an error
      // (the CRM would send it again). The wait goes on, and ends in 202 if storage stays away.
      const row = await findEvent(deps.db, id).catch((error: unknown) => {
        deps.logger.warn({ err: error, event: id }, 'could not read a webhook being waited for');
        return undefined;
      });
      if (isFinal(row)) return row;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      // Woken at once by the local worker, or by any worker through shared notifications;
      // polling covers what no notice reports.
      const notices = deps.notifications;
      const pollMs = notices?.shared ? 2_000 : deps.worker || notices ? 1_000 : 200;
      await new Promise<void>((resolve) => {
        const onFinished = (finished: { ids: readonly number[] }) => {
          if (finished.ids.includes(id)) done();
        };
        const timer = setTimeout(() => done(), Math.min(left, pollMs));
        const unsubscribe = notices?.onFinished((ids) => onFinished({ ids }));
        const done = () => {
          clearTimeout(timer);
          deps.worker?.events.off('finished', onFinished);
          unsubscribe?.();
          resolve();
        };
        if (!notices) deps.worker?.events.on('finished', onFinished);
      });
    }
  }

  async function store(
    request: IntakeRequest,
    fields: {
      connectionId: string;
      action: string;
      status: EventStatus;
      contactId?: string | undefined;
      email?: string | undefined;
      params: StoredParams | { raw: Record<string, string> };
      /** Contact fields that hold secrets whatever their name (mapped to user_pass, Return Password). */
      isSecretField?: ((name: string) => boolean) | undefined;
      error?: { code: ErrorCode; message: string } | undefined;
      result?: unknown;
    },
    activity: Omit<ActivityEntry, 'eventId'>[],
  ): Promise<number> {
    const now = deps.clock.now().toISOString();
    const final = fields.status !== 'pending';
    return deps.writer.write({
      event: {
        received_at: now,
        connection_id: fields.connectionId,
        action: fields.action,
        contact_id: fields.contactId ?? null,
        email: fields.email ?? null,
        status: fields.status,
        attempts: 0,
        available_at: now,
        locked_by: null,
        locked_until: null,
        params: sealParams(fields.params, deps.sealer, fields.isSecretField),
        request: sealRequest(
          {
            method: request.method,
            url: withoutKeyInUrl(request.url),
            contentType: request.contentType ?? null,
            body: request.rawBody === undefined ? null : withoutKeyInBody(request.rawBody),
          },
          deps.sealer,
        ),
        result: fields.result === undefined ? null : JSON.stringify(fields.result),
        error_code: fields.error?.code ?? null,
        error_message: fields.error?.message ?? null,
        finished_at: final ? now : null,
        replay_of: null,
        client_ip: request.ip,
      },
      activity,
    });
  }

  /** Stores a request that passed the key check but cannot be processed, and answers with its error. */
  async function reject(
    request: IntakeRequest,
    params: Record<string, string>,
    connectionId: string,
    code: ErrorCode,
    detail: string | undefined,
  ): Promise<IntakeResponse> {
    const error = new AppError(code, detail);
    const action = params.wpf_action ?? '';
    const contactId = params.contact_id;
    const id = await store(
      request,
      {
        connectionId,
        action,
        status: 'rejected',
        contactId,
        email: params.email,
        params: { raw: withoutKey(params) },
        error: { code, message: error.message },
        result: { status: 'rejected', error: { code, message: error.message } },
      },
      [
        {
          level: 'warning',
          message: `Rejected webhook: ${error.message}`,
          connectionId,
          contactId,
          action: action || null,
        },
      ],
    );
    return {
      statusCode: error.status,
      body: { status: 'rejected', eventId: id, error: { code, message: error.message } },
    };
  }

  async function handle(request: IntakeRequest): Promise<IntakeResponse> {
    const params = mergeParams(request.query, request.bodyProblem ? undefined : request.body);
    if (isBlocked(request.ip)) {
      return {
        ...errorResponse('TOO_MANY_KEY_FAILURES'),
        retryAfterSeconds: Math.ceil(KEY_FAILURE_WINDOW_MS / 1000),
      };
    }
    // Either place may hold a valid key (a replay sends the current key in the header).
    const fingerprint =
      (await deps.keys.check(params.access_key)) ??
      (await deps.keys.check(request.accessKeyHeader));
    if (!fingerprint) {
      const count = recordKeyFailure(request.ip);
      if (count <= deps.keyFailureLimit) {
        const why = params.access_key || request.accessKeyHeader ? 'wrong' : 'missing';
        await log({
          level: 'warning',
          message: `Refused a webhook from ${request.ip}: ${why} access key${count === deps.keyFailureLimit ? '; further attempts from this address get 429 for 10 minutes' : ''}`,
          action: params.wpf_action ?? null,
          connectionId: request.connectionId ?? null,
        });
      }
      return errorResponse('BAD_ACCESS_KEY');
    }

    const pathConnection = request.connectionId;
    if (request.bodyProblem) {
      return reject(
        request,
        params,
        pathConnection ?? '',
        request.bodyProblem.code,
        request.bodyProblem.detail,
      );
    }

    /** The connection, or the stored rejection when it cannot be used; storage failures propagate (503). */
    const resolveConnection = async (
      id: string | undefined,
    ): Promise<Connection | IntakeResponse> => {
      try {
        return await deps.registry.resolve(id);
      } catch (error) {
        const appError = toAppError(error);
        if (appError.code === 'INTERNAL') throw appError;
        return reject(request, params, id ?? '', appError.code, appError.message);
      }
    };

    const action = params.wpf_action?.trim() ?? '';
    if (action === 'test') {
      // A test of /webhooks/<id> must fail where the real webhooks would.
      if (pathConnection !== undefined) {
        const resolved = await resolveConnection(pathConnection);
        if ('statusCode' in resolved) return resolved;
      }
      const connectionId = pathConnection ?? '';
      await store(
        request,
        {
          connectionId,
          action,
          status: 'done',
          params: { raw: withoutKey(params) },
          result: { success: true },
        },
        [
          {
            level: 'info',
            message: `Test webhook received (key ${fingerprint})`,
            connectionId: connectionId || null,
            action,
          },
        ],
      );
      return { statusCode: 200, body: { success: true } };
    }

    const connection = await resolveConnection(pathConnection);
    if ('statusCode' in connection) return connection;
    if (!action) return reject(request, params, connection.id, 'NO_ACTION', undefined);
    if (!isAction(action)) {
      return reject(
        request,
        params,
        connection.id,
        'UNKNOWN_ACTION',
        `"${action}"; use update_tags, update, add or test`,
      );
    }

    let parsed;
    try {
      parsed = connection.connector.parseWebhook({
        method: request.method,
        params,
        json: request.body,
      });
    } catch (error) {
      return reject(request, params, connection.id, 'MALFORMED_BODY', toAppError(error).message);
    }
    const contactId = parsed.contactId?.trim();
    if (!contactId) {
      return reject(
        request,
        params,
        connection.id,
        'NO_CONTACT_ID',
        `the ${connection.type} connection found none in this request`,
      );
    }
    if (isUnfilledMergeField(contactId)) {
      return reject(
        request,
        { ...params, contact_id: contactId },
        connection.id,
        'UNSUBSTITUTED_MERGE_FIELD',
        `"${contactId}"`,
      );
    }
    const tagCount = parsed.contact?.tags?.length ?? 0;
    if (tagCount > MAX_TAGS_PER_WEBHOOK) {
      return reject(
        request,
        params,
        connection.id,
        'TOO_MANY_TAGS',
        `${tagCount} tags; at most ${MAX_TAGS_PER_WEBHOOK} in one webhook`,
      );
    }

    const stored: StoredParams = {
      action,
      contactId,
      email: params.email?.trim() || parsed.email,
      role: params.role,
      sendNotification: parseBoolean(params.send_notification),
      async: parseBoolean(params.async),
      contact: parsed.contact,
      raw: withoutKey(params),
    };
    const eventId = await store(
      request,
      {
        connectionId: connection.id,
        action,
        status: 'pending',
        contactId,
        email: stored.email,
        params: stored,
        isSecretField: (name) =>
          connection.fieldMap[name] === 'user_pass' || name === connection.returnPasswordField,
      },
      [
        {
          level: 'info',
          message: `Received ${action} for contact ${contactId} on connection ${connection.id} (key ${fingerprint})`,
          connectionId: connection.id,
          contactId,
          action,
          data: { params: redactRecord(stored.raw) },
        },
      ],
    );
    if (deps.notifications) deps.notifications.workArrived();
    else deps.worker?.notify();

    if (stored.async)
      return accepted(eventId, action, contactId, 'Stored; it will be processed in the background');
    const event = await waitForEvent(eventId, deps.syncWaitMs);
    if (!event)
      return accepted(
        eventId,
        action,
        contactId,
        'Still processing; the outcome will be in the activity log',
      );
    return responseForEvent(event);
  }

  return { handle, waitForEvent };
}

function accepted(
  eventId: number,
  action: Action,
  contactId: string,
  message: string,
): IntakeResponse {
  return { statusCode: 202, body: { status: 'accepted', action, eventId, contactId, message } };
}

/** The answer for a finished event: its stored result, with the HTTP status its outcome calls for. */
export function responseForEvent(event: WebhookEventRow): IntakeResponse {
  const result = event.result ? (JSON.parse(event.result) as Record<string, unknown>) : {};
  const base = { action: event.action, eventId: event.id, contactId: event.contact_id };
  if (event.status === 'failed' || event.status === 'rejected') {
    const code = (event.error_code ?? 'INTERNAL') as ErrorCode;
    const status =
      Object.hasOwn(ERRORS, code) && ERRORS[code].status < 500 ? ERRORS[code].status : 422;
    return {
      statusCode: status,
      body: { ...base, status: event.status, error: { code, message: event.error_message ?? '' } },
      event,
    };
  }
  return { statusCode: 200, body: { ...base, ...result, status: event.status }, event };
}

/** The URL as stored: the access key has done its job and is not kept. */
function withoutKeyInUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const query = new URLSearchParams(url.slice(queryStart + 1));
  for (const key of [...query.keys()]) if (isAccessKeyName(key)) query.delete(key);
  const rest = query.toString();
  return rest ? `${url.slice(0, queryStart)}?${rest}` : url.slice(0, queryStart);
}

/** The raw body as stored: an access key sent in a form or JSON body is dropped too. */
function withoutKeyInBody(body: string): string {
  if (!body.includes('access_key')) return body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return JSON.stringify(
        Object.fromEntries(Object.entries(parsed).filter(([key]) => !isAccessKeyName(key))),
      );
    }
    return body;
  } catch {
    const form = new URLSearchParams(body);
    for (const key of [...form.keys()]) if (isAccessKeyName(key)) form.delete(key);
    return form.toString();
  }
}

/** `access_key`, and the bracket forms PHP-style senders use (`access_key[]`, `access_key[0]`). */
function isAccessKeyName(name: string): boolean {
  return name === 'access_key' || /^access_key\[[^\]]*\]$/.test(name);
}

function withoutKey(params: Record<string, string>): Record<string, string> {
  const { access_key: _key, ...rest } = params;
  return rest;
}
