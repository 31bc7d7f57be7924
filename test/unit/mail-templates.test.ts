/** Templates and composing: placeholders, escaping, subject lines, durations; validation of template settings. */
import { describe, expect, it } from 'vitest';
import { composeMail, formatDuration, senderOf } from '../../src/mail/compose.js';
import { renderSubject, renderTemplate } from '../../src/mail/templates.js';
import { unknownPlaceholders, type TemplateValues } from '../../src/settings/template-defaults.js';
import { SETTINGS, SETTING_NAMES, type Settings } from '../../src/settings/settings.js';

const values: TemplateValues = {
  site_name: 'Acme & Sons',
  site_url: 'https://acme.example',
  username: 'o"neil',
  email: 'o@example.com',
  first_name: '<script>',
  last_name: '',
  set_password_url: 'https://members.example/set-password?token=abc',
  login_url: 'https://members.example/login',
  link_expires_in: '24 hours',
};

const defaults = Object.fromEntries(
  SETTING_NAMES.map((name) => [name, SETTINGS[name].schema.parse(SETTINGS[name].default)]),
) as unknown as Settings;

describe('mail templates', () => {
  it('fills placeholders, escaping values only in HTML', () => {
    expect(renderTemplate('Hi {first_name} from {site_name}', values, { html: false })).toBe(
      'Hi <script> from Acme & Sons',
    );
    expect(renderTemplate('<p>Hi {first_name} from {site_name}</p>', values, { html: true })).toBe(
      '<p>Hi &lt;script&gt; from Acme &amp; Sons</p>',
    );
    expect(renderTemplate('<a href="{set_password_url}">', values, { html: true })).toBe(
      '<a href="https://members.example/set-password?token=abc">',
    );
  });

  it('leaves unknown placeholders visible and reports them for validation', () => {
    expect(renderTemplate('{username} {nope}', values, { html: false })).toBe('o"neil {nope}');
    expect(unknownPlaceholders('{username} {nope} {frist_name} {nope}')).toEqual([
      'nope',
      'frist_name',
    ]);
    expect(
      SETTINGS.welcome_email_subject.schema.safeParse('Hi {frist_name}').error?.issues[0]?.message,
    ).toBe('unknown placeholder {frist_name}');
    expect(SETTINGS.welcome_email_text.schema.safeParse('   ').success).toBe(false);
  });

  it('keeps a subject on one line whatever a value brings in', () => {
    expect(
      renderSubject('Welcome {first_name}', {
        ...values,
        first_name: 'Ann\r\nBcc: x@evil.example',
      }),
    ).toBe('Welcome Ann Bcc: x@evil.example');
  });

  it('says how long a link lasts in words', () => {
    expect(formatDuration(24 * 3_600_000)).toBe('24 hours');
    expect(formatDuration(3_600_000)).toBe('1 hour');
    expect(formatDuration(30 * 60_000)).toBe('30 minutes');
    expect(formatDuration(72 * 3_600_000)).toBe('3 days');
    expect(formatDuration(1.5 * 3_600_000)).toBe('90 minutes');
  });

  it('composes the default welcome e-mail; a contact without a first name is greeted by username', () => {
    const mail = composeMail(
      'welcome',
      defaults,
      { login: 'sam', email: 'sam@example.com', first_name: '', last_name: '' },
      {
        setPasswordUrl: 'https://x.example/set-password?token=t',
        loginUrl: 'https://x.example/login',
        siteUrl: 'https://x.example',
      },
      24 * 3_600_000,
      senderOf(defaults, 'https://x.example'),
    );
    expect(mail).toMatchObject({
      to: 'sam@example.com',
      subject: 'Your account at crm-bridge',
      from: { name: 'crm-bridge', address: 'no-reply@x.example' },
    });
    expect(mail.text).toContain('Hello sam,');
    expect(mail.text).toContain('https://x.example/set-password?token=t');
    expect(mail.html).toContain('<a href="https://x.example/set-password?token=t">');
    expect(mail.html).toMatch(/^<!doctype html>/);
  });
});
