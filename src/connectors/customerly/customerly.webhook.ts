/**
 * Reads a Customerly webhook. Customerly cannot put merge fields in the URL,
 * so the contact is found in the JSON body at `data.user.data.email` (the
 * path WP Fusion reads); a `contact_id` parameter, when someone adds one to
 * the URL by hand, wins. Customerly contacts are keyed by e-mail.
 */
import type { ContactData, ParsedWebhook, WebhookInput } from '../types.js';
import { looksLikeEmail, splitName, tagNames } from './customerly.mapping.js';

function member(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** The `data.user.data` object of the payload, if the body has one. */
function payloadUser(json: unknown): unknown {
  return member(member(member(json, 'data'), 'user'), 'data');
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string'
    ? value.trim() || undefined
    : typeof value === 'number'
      ? String(value)
      : undefined;

/** Customerly's event payload: a JSON body with the user at `data.user.data`. */
export function isCustomerlyWebhook({ json }: WebhookInput): boolean {
  return text(member(payloadUser(json), 'email')) !== undefined;
}

export function parseCustomerlyWebhook(input: WebhookInput): ParsedWebhook {
  const user = payloadUser(input.json);
  const payloadEmail = text(member(user, 'email'));
  const email =
    payloadEmail !== undefined && looksLikeEmail(payloadEmail) ? payloadEmail : undefined;
  const given = input.params.contact_id;
  const contactId = given !== undefined && given.trim() !== '' ? given : email;
  if (contactId === undefined) return { email: input.params.email?.trim() || undefined };

  const rawTags = member(user, 'tags');
  return {
    contactId,
    email: email ?? (input.params.email?.trim() || undefined),
    contact: Array.isArray(rawTags)
      ? snapshot(contactId, email, user, tagNames(rawTags))
      : undefined,
  };
}

/** The contact as the payload describes it; only sent when it carries tags, so update_tags needs no API call. */
function snapshot(
  contactId: string,
  email: string | undefined,
  user: unknown,
  tags: string[],
): ContactData {
  const fields: Record<string, string> = {};
  if (email) fields.email = email;
  const name = text(member(user, 'name'));
  if (name !== undefined) {
    const { first, last } = splitName(name);
    Object.assign(fields, { name, first_name: first, last_name: last });
  }
  const userId = text(member(user, 'user_id'));
  if (userId !== undefined) fields.user_id = userId;
  return {
    id: contactId,
    email,
    fields,
    tags,
    tagLabels: Object.fromEntries(tags.map((tag) => [tag, tag])),
  };
}
