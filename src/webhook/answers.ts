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

/** An error answered without storing anything (the key check failed). */
export function errorResponse(code: ErrorCode, detail?: string): IntakeResponse {
  const error = new AppError(code, detail);
  return { statusCode: error.status, body: errorBody(error) };
}

/** A stored request that cannot be processed. */
export function rejectedResponse(eventId: number, error: AppError): IntakeResponse {
  return {
    statusCode: error.status,
    body: { status: 'rejected', eventId, error: { code: error.code, message: error.message } },
  };
}

/** Stored, outcome not known yet. */
export function acceptedResponse(
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
