/** The answers the intake gives: a status and a JSON-able body, in WP Fusion's shape. */
import { AppError, ERRORS, errorBody, type ErrorCode } from '../errors.js';
import type { Action } from '../inbox/actions.js';
import type { WebhookEventRow } from '../storage/schema.js';

/** What the HTTP layer sends back: a status and a JSON-able body. */
export interface IntakeResponse {
  statusCode: number;
  body: Record<string, unknown>;
  /** The stored event, for the debug page. */
  event?: WebhookEventRow | undefined;
  retryAfterSeconds?: number | undefined;
}

/**
 * The status a webhook answer carries for an error, chosen for what CRMs do with
 * it (docs/status-codes.md): 403, 413, 429 and 503 as they are; anything else
 * can never succeed by sending it again, and gets 400, which no CRM retries
 * (Ortto retries 422 for a day).
 */
function webhookStatus(code: ErrorCode): number {
  const status = Object.hasOwn(ERRORS, code) ? ERRORS[code].status : 400;
  return [403, 413, 429, 503].includes(status) ? status : 400;
}

/** An error answered without storing anything (the key check failed). */
export function errorResponse(code: ErrorCode, detail?: string): IntakeResponse {
  const error = new AppError(code, detail);
  return { statusCode: error.status, body: errorBody(error) };
}

/** A stored request that cannot be processed. */
export function rejectedResponse(eventId: number, error: AppError): IntakeResponse {
  return {
    statusCode: webhookStatus(error.code),
    body: { status: 'rejected', eventId, error: { code: error.code, message: error.message } },
  };
}

/**
 * Stored, outcome not known yet: 200 by default, as WP Fusion answers `async`
 * and as FunnelKit needs to count the webhook delivered; `CRM_BRIDGE_ACCEPTED_STATUS`
 * may choose 202.
 */
export function acceptedResponse(
  statusCode: 200 | 202,
  eventId: number,
  action: Action,
  contactId: string,
  message: string,
): IntakeResponse {
  return { statusCode, body: { status: 'accepted', action, eventId, contactId, message } };
}

/** The answer for a finished event: its stored result, with the HTTP status its outcome calls for. */
export function responseForEvent(event: WebhookEventRow): IntakeResponse {
  const result = event.result ? (JSON.parse(event.result) as Record<string, unknown>) : {};
  const base = { action: event.action, eventId: event.id, contactId: event.contact_id };
  if (event.status === 'failed' || event.status === 'rejected') {
    const code = (event.error_code ?? 'INTERNAL') as ErrorCode;
    return {
      statusCode: webhookStatus(code),
      body: { ...base, status: event.status, error: { code, message: event.error_message ?? '' } },
      event,
    };
  }
  return { statusCode: 200, body: { ...base, ...result, status: event.status }, event };
}
