/**
 * A webhook's own fields as a contact. Fields: email, first_name, last_name,
 * user_login, user_pass, tags (comma-separated or a JSON array); any other
 * field becomes user meta.
 */
import { parseTagList } from '../tag-list.js';
import type { ContactData, WebhookInput } from '../types.js';
import { PayloadBodySchema } from './payload.schemas.js';

/** Parameters of the webhook contract itself, never treated as contact fields. */
const CONTROL_PARAMS = new Set([
  'wpf_action',
  'access_key',
  'contact_id',
  'async',
  'send_notification',
  'role',
  'tags',
]);

/** The contact the webhook describes; tags are names, each its own id and label. */
export function contactFromWebhook(input: WebhookInput, contactId: string): ContactData {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.params)) {
    if (!CONTROL_PARAMS.has(key)) fields[key] = value;
  }
  const jsonTags = PayloadBodySchema.safeParse(input.json).data?.tags;
  const tags = parseTagList(jsonTags ?? input.params.tags);
  return {
    id: contactId,
    email: fields.email,
    fields,
    tags,
    tagLabels: tags ? Object.fromEntries(tags.map((tag) => [tag, tag])) : undefined,
  };
}
