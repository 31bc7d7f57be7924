/**
 * The `payload` connector: the contact comes in the webhook itself, for
 * senders with no CRM API behind them (Zapier, Make, a custom script).
 * Fields: email, first_name, last_name, user_login, user_pass, tags
 * (comma-separated or a JSON array); any other field becomes user meta.
 */
import { z } from 'zod';
import type { ConnectorDefinition, CrmConnector } from '../types.js';
import { createPayloadClient } from './payload.client.js';
import { parsePayloadWebhook } from './payload.webhook.js';

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
  webhookSetup: {
    style: 'url',
    contactIdMergeField: 'CONTACT_ID',
    note: 'Zapier, Make or your own sender: call one of these URLs with the contact fields (email, first_name, tags, …) as parameters or JSON.',
  },
  create(): CrmConnector {
    return { type: 'payload', parseWebhook: parsePayloadWebhook, ...createPayloadClient() };
  },
} satisfies ConnectorDefinition<Record<string, unknown>>;
