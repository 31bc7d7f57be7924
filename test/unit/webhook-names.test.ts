import { describe, expect, it } from 'vitest';
import { isCustomerlyWebhook } from '../../src/connectors/customerly/customerly.webhook.js';
import { isOrttoWebhook } from '../../src/connectors/ortto/ortto.webhook.js';
import { canonicalAction } from '../../src/webhook/action-name.js';

describe('wpf_action names', () => {
  it('are case-insensitive, as WP Fusion lower-cases them', () => {
    expect(canonicalAction('ADD')).toBe('add');
    expect(canonicalAction('Update_Tags')).toBe('update_tags');
    expect(canonicalAction(' update ')).toBe('update');
    expect(canonicalAction('TEST')).toBe('test');
  });

  it('accept WP Fusion handler names update_user and add_user', () => {
    expect(canonicalAction('update_user')).toBe('update');
    expect(canonicalAction('ADD_USER')).toBe('add');
  });

  it('leave unknown names for the intake to refuse', () => {
    expect(canonicalAction('delete')).toBe('delete');
    expect(canonicalAction('constructor')).toBe('constructor');
    expect(canonicalAction(undefined)).toBe('');
  });
});

describe('payload shapes that name their CRM', () => {
  const input = (json: unknown) => ({ method: 'POST', params: {}, json });
  it('tells an Ortto journey payload from a Customerly event and from plain parameters', () => {
    const ortto = { contact_id: '0065f0e1d2c3b4a5968778a0', webhook_id: 'w', run_id: 'r' };
    const customerly = { type: 'user_tagged', data: { user: { data: { email: 'a@b.cc' } } } };
    expect(isOrttoWebhook(input(ortto))).toBe(true);
    expect(isCustomerlyWebhook(input(ortto))).toBe(false);
    expect(isCustomerlyWebhook(input(customerly))).toBe(true);
    expect(isOrttoWebhook(input(customerly))).toBe(false);
    expect(isOrttoWebhook(input(undefined))).toBe(false);
    expect(isCustomerlyWebhook(input({ contact_id: '7' }))).toBe(false);
  });
});
