/** Reads a payload webhook: the contact comes in the request itself. */
import type { ParsedWebhook, WebhookInput } from '../types.js';
import { contactFromWebhook } from './payload.mapping.js';

export function parsePayloadWebhook(input: WebhookInput): ParsedWebhook {
  const email = input.params.email?.trim() || undefined;
  // A sender without contact ids is keyed by e-mail, like CRMs whose contacts are e-mail addresses.
  const contactId = input.params.contact_id?.trim() || email;
  if (!contactId) return { email };
  return { contactId, email, contact: contactFromWebhook(input, contactId) };
}
