/** A webhook_events row as the intake would store it, for tests that write the inbox directly. */
import type { NewWebhookEventRow } from '../../src/storage/schema.js';

export function eventRow(
  overrides: Partial<NewWebhookEventRow> & { contact_id: string },
): NewWebhookEventRow {
  const now = new Date().toISOString();
  return {
    received_at: now,
    connection_id: 'payload',
    action: 'update_tags',
    email: null,
    status: 'pending',
    attempts: 0,
    available_at: now,
    locked_by: null,
    locked_until: null,
    params: JSON.stringify({ contactId: overrides.contact_id }),
    request: '{}',
    result: null,
    error_code: null,
    error_message: null,
    finished_at: null,
    replay_of: null,
    client_ip: '127.0.0.1',
    ...overrides,
  };
}
