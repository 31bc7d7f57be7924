/**
 * Reads an Ontraport webhook. Ontraport sends no contact data: the admin puts
 * `contact_id=[Contact ID]` in the URL, and the contact is loaded by id.
 */
import type { ParsedWebhook, WebhookInput } from '../types.js';

export function parseOntraportWebhook({ params }: WebhookInput): ParsedWebhook {
  // Ontraport substitutes `[Contact ID]` in the URL; the intake refuses it when left unfilled.
  const contactId = params.contact_id?.trim() || undefined;
  // `email=[Email]` in the post data is optional; an unfilled one is not an address.
  const email = params.email?.trim();
  return { contactId, email: email?.includes('@') ? email : undefined };
}
