/**
 * The `payload` connector: the contact comes in the webhook itself, for
 * senders with no CRM API behind them (Zapier, Make, a custom script).
 * Fields: email, first_name, last_name, user_login, user_pass, tags
 * (comma-separated or a JSON array); any other field becomes user meta.
 */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { parseTagList } from '../tag-list.js';
import type { ConnectorDefinition, ContactData, CrmConnector, WebhookInput } from '../types.js';

/** Parameters of the webhook contract itself, never treated as contact fields. */
const CONTROL_PARAMS = new Set(['wpf_action', 'access_key', 'contact_id', 'async', 'send_notification', 'role', 'tags']);

function snapshotFromWebhook(input: WebhookInput, contactId: string): ContactData {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.params)) {
    if (!CONTROL_PARAMS.has(key)) fields[key] = value;
  }
  const jsonTags =
    input.json !== null && typeof input.json === 'object' && 'tags' in input.json ? input.json.tags : undefined;
  const tags = parseTagList(jsonTags ?? input.params.tags);
  return {
    id: contactId,
    email: fields.email,
    fields,
    tags,
    tagLabels: tags ? Object.fromEntries(tags.map((tag) => [tag, tag])) : undefined,
  };
}

const noApi = (what: string): never => {
  throw new AppError('CRM_REJECTED', `the payload connector has no CRM API to ${what}; send the data in the webhook`);
};

export const payloadConnector = {
  type: 'payload',
  label: 'Webhook payload (Zapier, Make, custom)',
  settingsSchema: z.object({}).loose(),
  secretSettings: [],
  defaultApiUrl: null,
  defaultFieldMap: {
    email: 'email',
    first_name: 'first_name',
    last_name: 'last_name',
    user_login: 'user_login',
    user_pass: 'user_pass',
  },
  // Nothing remote to protect; this bounds work per connection during floods.
  defaultRateLimit: { requests: 6000, windowMs: 60_000 },
  contactSource: 'webhook',
  unmappedFieldsAsMeta: true,
  timeoutMs: 1_000,
  create(): CrmConnector {
    return {
      type: 'payload',
      parseWebhook(input) {
        const email = input.params.email?.trim() || undefined;
        // A sender without contact ids is keyed by e-mail, like CRMs whose contacts are e-mail addresses.
        const contactId = input.params.contact_id?.trim() || email;
        if (!contactId) return { email };
        return { contactId, email, contact: snapshotFromWebhook(input, contactId) };
      },
      loadContact: () => noApi('load contacts'),
      getContactTags: () => noApi('load tags'),
      findContactByEmail: () => Promise.resolve(null),
      listTags: () => Promise.resolve([]),
      listFields: () => Promise.resolve([]),
      updateContact: () => noApi('update contacts'),
      testConnection: () => Promise.resolve(),
    };
  },
} satisfies ConnectorDefinition<Record<string, unknown>>;
