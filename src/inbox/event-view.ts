/** Events as shown to people: the stored raw request with secrets masked. */
import { redactBody, redactRecord, redactUrl } from '../lib/secrets.js';
import type { WebhookEventRow } from '../storage/schema.js';
import { parseStoredRequest } from './stored-secrets.js';

export function describeEvent(event: WebhookEventRow) {
  const request = parseStoredRequest(event.request);
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
    /** `import` for a webhook an import job queued (see importJobId), else `webhook`. */
    source: event.import_job_id == null ? 'webhook' : 'import',
    importJobId: event.import_job_id ?? null,
    clientIp: event.client_ip,
    params: redactRecord(params.raw ?? {}),
    request: {
      method: request.method,
      url: redactUrl(request.url),
      contentType: request.contentType,
      body: redactBody(request.body, request.contentType),
    },
    result: event.result ? (JSON.parse(event.result) as unknown) : null,
  };
}
