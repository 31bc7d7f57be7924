/**
 * Webhook intake, the route's glue: checks the access key, validates the
 * request, stores it (see event-store.ts) and, unless async, waits a while for
 * its outcome. Every request that passed the key check is stored, even one
 * that cannot be processed (status `rejected`), so it can be inspected and
 * replayed.
 */
import type { Kysely } from 'kysely';
import type { ActivityEntry } from '../activity/activity.repository.js';
import { writeActivity } from '../activity/activity.repository.js';
import type { Clock } from '../clock.js';
import type { Connection, ConnectionRegistry } from '../connections/registry.js';
import { toAppError } from '../errors.js';
import { parseTagList } from '../connectors/tag-list.js';
import type { ContactData } from '../connectors/types.js';
import { isAction, type Action } from '../inbox/actions.js';
import type { InboxWriter } from '../inbox/inbox-writer.js';
import { watchOutcome, type OutcomeNotifier } from '../inbox/outcome-waiter.js';
import type { StoredParams } from '../inbox/stored-params.js';
import { redactRecord } from '../lib/secrets.js';
import type { Metrics } from '../lib/metrics.js';
import type { Sealer } from '../lib/seal.js';
import type { Logger } from '../logger.js';
import type { KeyChecker } from '../settings/access-keys.js';
import type { DB } from '../storage/schema.js';
import {
  acceptedResponse,
  errorResponse,
  responseForEvent,
  type IntakeResponse,
} from './answers.js';
import { createEventStore } from './event-store.js';
import { canonicalAction } from './action-name.js';
import { createKeyFailureLimiter } from './key-failures.js';
import { isUnfilledMergeField, mergeParams, parseBoolean } from './params.js';
import type { IntakeRequest } from './request.js';
import { withoutKey } from './scrub.js';

export interface IntakeDeps {
  db: Kysely<DB>;
  clock: Clock;
  keys: KeyChecker;
  registry: ConnectionRegistry;
  writer: InboxWriter;
  /** Tells of finished events when this process runs a worker; results then arrive without polling. */
  notifier: OutcomeNotifier | undefined;
  /** Wakes the local worker (if any) for a newly stored event. */
  wake: () => void;
  logger: Logger;
  syncWaitMs: number;
  /** Status of the answer for a webhook stored for later (docs/status-codes.md). */
  acceptedStatus: 200 | 202;
  keyFailureLimit: number;
  /** Seals the secrets a webhook carries before they are stored. */
  sealer: Sealer;
  /** Counts stored webhooks for `/metrics`. */
  metrics?: Metrics | undefined;
}

/** Far more than any contact carries; a list longer than this is a mistake or an attack, and would retry in vain. */
const MAX_TAGS_PER_WEBHOOK = 1_000;

export interface Intake {
  handle(request: IntakeRequest): Promise<IntakeResponse>;
}

export function createIntake(deps: IntakeDeps): Intake {
  const keyFailures = createKeyFailureLimiter(deps.clock, deps.keyFailureLimit);
  const { store, reject } = createEventStore(deps);

  async function log(entry: ActivityEntry): Promise<void> {
    try {
      await writeActivity(deps.db, [entry], deps.clock.now().toISOString());
    } catch (error) {
      deps.logger.warn({ err: error }, 'could not write to the activity log');
    }
  }

  /** Counts a refused key and says so in the activity log, once per key and address an hour. */
  async function refuseKey(
    request: IntakeRequest,
    params: Record<string, string>,
  ): Promise<IntakeResponse> {
    const candidate = params.access_key || request.accessKeyHeader || '';
    const retired =
      (await deps.keys.retired(params.access_key)) ??
      (await deps.keys.retired(request.accessKeyHeader));
    const kind = retired ? 'retired' : candidate ? 'wrong' : 'missing';
    const digest = candidate ? deps.sealer.digest(candidate).toString('base64url') : '';
    const verdict = keyFailures.record(request.ip, digest, kind);
    if (verdict.log || verdict.nowBlocked) {
      const why =
        kind === 'retired'
          ? `an automation still uses a retired key (fingerprint ${retired}); give it the current key (crm-bridge access-key show)`
          : `${kind} access key`;
      const blocked = verdict.nowBlocked
        ? `; ${verdict.distinct} different wrong keys in 10 minutes look like guessing, so this address gets 429 for 10 minutes`
        : '';
      await log({
        level: 'warning',
        message: `Refused a webhook from ${request.ip}: ${why}${blocked}`,
        action: params.wpf_action ?? null,
        connectionId: request.connectionId ?? null,
      });
    }
    return errorResponse('BAD_ACCESS_KEY');
  }

  async function handle(request: IntakeRequest): Promise<IntakeResponse> {
    const params = mergeParams(request.query, request.bodyProblem ? undefined : request.body);
    const blockedFor = keyFailures.blockedFor(request.ip);
    if (blockedFor !== undefined) {
      return { ...errorResponse('TOO_MANY_KEY_FAILURES'), retryAfterSeconds: blockedFor };
    }
    // Either place may hold a valid key (a replay sends the current key in the header).
    const fingerprint =
      (await deps.keys.check(params.access_key)) ??
      (await deps.keys.check(request.accessKeyHeader));
    if (!fingerprint) return refuseKey(request, params);

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
        // At `/` with several connections, the payload's shape may name its CRM.
        return await deps.registry.resolve(id, {
          method: request.method,
          params,
          json: request.body,
        });
      } catch (error) {
        const appError = toAppError(error);
        if (appError.code === 'INTERNAL') throw appError;
        return reject(request, params, id ?? '', appError.code, appError.message);
      }
    };

    const action = canonicalAction(params.wpf_action);
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
    const contact = withTagsParameter(
      parsed.contact,
      contactId,
      action,
      connection,
      params,
      request,
    );
    const tagCount = contact?.tags?.length ?? 0;
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
      contact,
      tagsByReference: contact !== parsed.contact ? true : undefined,
      raw: withoutKey(params),
    };
    // A synchronous caller listens for the outcome from before its webhook is stored.
    const watch = stored.async ? undefined : watchOutcome(deps.db, deps.notifier);
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
    ).catch((error: unknown) => {
      watch?.stop();
      throw error;
    });
    deps.wake();

    if (!watch)
      return acceptedResponse(
        deps.acceptedStatus,
        eventId,
        action,
        contactId,
        'Stored; it will be processed in the background',
      );
    const event = await watch.wait(eventId, deps.syncWaitMs);
    if (!event)
      return acceptedResponse(
        deps.acceptedStatus,
        eventId,
        action,
        contactId,
        'Still processing; the outcome will be in the activity log',
      );
    return responseForEvent(event);
  }

  return { handle };
}

/**
 * WP Fusion's `tags` parameter: on `update` and `update_tags`, the user's tags
 * as the webhook gives them (labels or ids, resolved by the run), for any CRM
 * whose contacts come from its API; the CRM is then not asked for the tags.
 * A JSON array keeps labels that hold commas.
 */
function withTagsParameter(
  contact: ContactData | undefined,
  contactId: string,
  action: Action,
  connection: Connection,
  params: Record<string, string>,
  request: IntakeRequest,
): ContactData | undefined {
  if (action === 'add' || connection.definition.contactSource !== 'api') return contact;
  const body = request.body;
  const fromJson =
    body !== null && typeof body === 'object' && !Array.isArray(body)
      ? (body as Record<string, unknown>).tags
      : undefined;
  // A merge field the CRM left unfilled (`{{tags}}`) names no tags: they are loaded from the CRM instead.
  if (!Array.isArray(fromJson) && params.tags !== undefined && isUnfilledMergeField(params.tags))
    return contact;
  const tags = parseTagList(Array.isArray(fromJson) ? fromJson : params.tags);
  if (tags === undefined) return contact;
  return { ...(contact ?? { id: contactId, fields: {} }), tags, tagLabels: undefined };
}
