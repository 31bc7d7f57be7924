/** Events as shown to people: the stored raw request with secrets masked. */
import { redactUrl } from '../logger.js';
import type { WebhookEventRow } from '../storage/schema.js';
import { redactParams } from '../webhook/intake.js';

interface StoredRequest {
  method: string;
  url: string;
  contentType: string | null;
  body: string | null;
}

/** Masks secrets in a raw body of any of the accepted formats. */
export function redactBody(body: string | null, contentType: string | null): string | null {
  if (body === null || body === '') return body;
  try {
    const parsed: unknown = JSON.parse(body);
    return JSON.stringify(redactDeep(parsed));
  } catch {
    // not JSON
  }
  if ((contentType ?? '').includes('form-urlencoded') || /^[^=&\s]+=/.test(body)) {
    return new URLSearchParams(redactParams(Object.fromEntries(new URLSearchParams(body)))).toString();
  }
  return body;
}

function redactDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, typeof inner === 'string' && /pass|access_key|token|secret/i.test(key) ? '***' : redactDeep(inner)]),
    );
  }
  return value;
}

export function parseStoredRequest(event: WebhookEventRow): StoredRequest {
  return JSON.parse(event.request) as StoredRequest;
}

export function describeEvent(event: WebhookEventRow) {
  const request = parseStoredRequest(event);
  const params = JSON.parse(event.params) as { raw?: Record<string, string> };
  return {
    id: event.id,
    receivedAt: event.received_at,
    connection: event.connection_id,
    action: event.action,
    contactId: event.contact_id,
    email: event.email,
    status: event.status,
    attempts: event.attempts,
    availableAt: event.available_at,
    finishedAt: event.finished_at,
    error: event.error_code ? { code: event.error_code, message: event.error_message } : null,
    replayOf: event.replay_of,
    clientIp: event.client_ip,
    params: redactParams(params.raw ?? {}),
    request: {
      method: request.method,
      url: redactUrl(request.url),
      contentType: request.contentType,
      body: redactBody(request.body, request.contentType),
    },
    result: event.result ? (JSON.parse(event.result) as unknown) : null,
  };
}
