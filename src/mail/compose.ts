/**
 * Turns a queued message into what is sent: pure, from the settings, the
 * user and the links.
 */
import type { Settings } from '../settings/settings.js';
import type { MailKind, UserRow } from '../storage/schema.js';
import type { OutgoingMail } from './mailer.js';
import type { TemplateValues } from '../settings/template-defaults.js';
import { renderSubject, renderTemplate } from './templates.js';

export interface MailLinks {
  setPasswordUrl: string;
  loginUrl: string;
  siteUrl: string;
}

/** "24 hours", "30 minutes", "3 days". */
export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  const plural = (count: number, unit: string) => `${count} ${unit}${count === 1 ? '' : 's'}`;
  if (minutes < 60) return plural(Math.max(1, minutes), 'minute');
  const hours = minutes / 60;
  if (hours >= 48 && hours % 24 === 0) return plural(hours / 24, 'day');
  return Number.isInteger(hours) ? plural(hours, 'hour') : plural(minutes, 'minute');
}

const TEMPLATES = {
  welcome: {
    subject: 'welcome_email_subject',
    text: 'welcome_email_text',
    html: 'welcome_email_html',
  },
  password_reset: {
    subject: 'reset_email_subject',
    text: 'reset_email_text',
    html: 'reset_email_html',
  },
} as const satisfies Record<MailKind, Record<'subject' | 'text' | 'html', keyof Settings>>;

/** Sender address: the setting, else no-reply at the public host. */
export function senderOf(settings: Settings, publicUrl: string): OutgoingMail['from'] {
  let host = 'localhost';
  try {
    host = new URL(publicUrl).hostname || host;
  } catch {
    // keep localhost
  }
  return {
    name: settings.mail_from_name || settings.site_name,
    address: settings.mail_from_address || `no-reply@${host}`,
  };
}

export function composeMail(
  kind: MailKind,
  settings: Settings,
  user: Pick<UserRow, 'login' | 'email' | 'first_name' | 'last_name'>,
  links: MailLinks,
  linkTtlMs: number,
  from: OutgoingMail['from'],
): OutgoingMail {
  const values: TemplateValues = {
    site_name: settings.site_name,
    site_url: links.siteUrl,
    username: user.login,
    email: user.email,
    // "Hello ," reads badly: a contact without a first name is greeted by username.
    first_name: user.first_name || user.login,
    last_name: user.last_name,
    set_password_url: links.setPasswordUrl,
    login_url: links.loginUrl,
    link_expires_in: formatDuration(linkTtlMs),
  };
  const names = TEMPLATES[kind];
  const body = renderTemplate(settings[names.html], values, { html: true });
  return {
    from,
    to: user.email,
    subject: renderSubject(settings[names.subject], values),
    text: renderTemplate(settings[names.text], values, { html: false }),
    html: `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${renderTemplate(settings[names.subject], values, { html: true })}</title></head>\n<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1b">\n${body}</body>\n</html>\n`,
  };
}
