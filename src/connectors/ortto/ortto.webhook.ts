/**
 * Reads an Ortto webhook: a journey's "Send to webhook" action POSTs JSON
 * naming the person in `contact_id`; the URL carries only `wpf_action` and
 * `access_key`.
 */
import type { ParsedWebhook, WebhookInput } from '../types.js';

/** Ortto's journey payload: a JSON body naming the person and the journey run that sent it. */
export function isOrttoWebhook({ json }: WebhookInput): boolean {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return false;
  const body = json as Record<string, unknown>;
  return (
    typeof body.contact_id === 'string' &&
    ['webhook_id', 'run_id', 'campaign_id'].some((key) => typeof body[key] === 'string')
  );
}

export function parseOrttoWebhook({ params }: WebhookInput): ParsedWebhook {
  // Ortto's body has both `contact_id` (the person) and `id` (not the person, as far as
  // anyone can tell); `id` is only a fallback for senders that send nothing else.
  const contactId = params.contact_id?.trim() || params.id?.trim() || undefined;
  return { contactId, email: params.email?.trim() || undefined };
}
