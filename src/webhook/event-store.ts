/**
 * Storing what the intake received: every request that passed the key check
 * becomes an event, `pending` when it can be run, `rejected` (with its raw
 * parameters) when it cannot, so it can be inspected and replayed.
 */
import { canonicalAction } from './action-name.js';
import type { ActivityEntry } from '../activity/activity.repository.js';
import type { Clock } from '../clock.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { InboxWriter } from '../inbox/inbox-writer.js';
import type { StoredParams } from '../inbox/stored-params.js';
import { sealParams, sealRequest } from '../inbox/stored-secrets.js';
import type { Metrics } from '../lib/metrics.js';
import type { Sealer } from '../lib/seal.js';
import type { EventStatus } from '../storage/schema.js';
import { rejectedResponse, type IntakeResponse } from './answers.js';
import type { IntakeRequest } from './request.js';
import { withoutKey, withoutKeyInBody, withoutKeyInUrl } from './scrub.js';

interface StoredFields {
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
}

export interface EventStore {
  /** Commits the event with its activity lines; resolves to its id. */
  store: (
    request: IntakeRequest,
    fields: StoredFields,
    activity: Omit<ActivityEntry, 'eventId'>[],
  ) => Promise<number>;
  /** Stores a request that passed the key check but cannot be processed, and answers with its error. */
  reject: (
    request: IntakeRequest,
    params: Record<string, string>,
    connectionId: string,
    code: ErrorCode,
    detail: string | undefined,
  ) => Promise<IntakeResponse>;
}

export function createEventStore(deps: {
  clock: Clock;
  writer: InboxWriter;
  /** Seals the secrets a webhook carries before they are stored. */
  sealer: Sealer;
  /** Counts stored webhooks for `/metrics`. */
  metrics?: Metrics | undefined;
}): EventStore {
  const store: EventStore['store'] = async (request, fields, activity) => {
    const now = deps.clock.now().toISOString();
    const final = fields.status !== 'pending';
    const id = await deps.writer.write({
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
    deps.metrics?.webhookReceived(fields.connectionId, fields.action);
    return id;
  };

  const reject: EventStore['reject'] = async (request, params, connectionId, code, detail) => {
    const error = new AppError(code, detail);
    const action = canonicalAction(params.wpf_action);
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
    return rejectedResponse(id, error);
  };

  return { store, reject };
}
