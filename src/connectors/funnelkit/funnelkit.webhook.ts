/**
 * Reads a FunnelKit webhook: the "Send Data To Any Source (HTTP Request)"
 * action, whose data rows (`contact_id`, `access_key`, `wpf_action`, …) come
 * in the query (GET) or in a form or JSON body (POST/PUT).
 */
import type { ParsedWebhook, WebhookInput } from '../types.js';

export function parseFunnelKitWebhook({ params }: WebhookInput): ParsedWebhook {
  // FunnelKit's "Add Contact Details" button adds contact_email; a plain email row works too.
  const email = params.email?.trim() || params.contact_email?.trim() || undefined;
  return { contactId: params.contact_id?.trim() || undefined, email };
}
