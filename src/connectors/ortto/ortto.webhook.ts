/**
 * Reads an Ortto webhook: a journey's "Send to webhook" action POSTs JSON
 * naming the person in `contact_id`; the URL carries only `wpf_action` and
 * `access_key`.
 */
import type { ParsedWebhook, WebhookInput } from '../types.js';

export function parseOrttoWebhook({ params }: WebhookInput): ParsedWebhook {
  // Ortto's body has both `contact_id` (the person) and `id` (not the person, as far as
  // anyone can tell); `id` is only a fallback for senders that send nothing else.
  const contactId = params.contact_id?.trim() || params.id?.trim() || undefined;
  return { contactId, email: params.email?.trim() || undefined };
}
