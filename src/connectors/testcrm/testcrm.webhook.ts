/** Reads a test CRM webhook: `contact_id` and, optionally, `email` as parameters. */
import type { ParsedWebhook, WebhookInput } from '../types.js';

export function parseTestCrmWebhook({ params }: WebhookInput): ParsedWebhook {
  return {
    contactId: params.contact_id?.trim() || undefined,
    email: params.email?.trim() || undefined,
  };
}
