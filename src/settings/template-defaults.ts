/**
 * The e-mail templates as settings: the placeholders they may use, the check
 * for unknown ones, and the defaults. Rendering lives with the mail
 * (mail/templates.ts).
 */
export const TEMPLATE_PLACEHOLDERS = [
  'site_name',
  'site_url',
  'username',
  'email',
  'first_name',
  'last_name',
  'set_password_url',
  'login_url',
  'link_expires_in',
] as const;
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];
export type TemplateValues = Readonly<Record<TemplatePlaceholder, string>>;

export const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** Placeholders in a template that rendering would not fill (typos, mostly). */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(TEMPLATE_PLACEHOLDERS);
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((match) => match[1] ?? ''))].filter(
    (name) => !known.has(name),
  );
}

export const DEFAULT_TEMPLATES = {
  welcome_email_subject: 'Your account at {site_name}',
  welcome_email_text: `Hello {first_name},

An account has been created for you at {site_name}.

Username: {username}

Choose your password here:
{set_password_url}

The link works once and expires in {link_expires_in}. Afterwards, log in at:
{login_url}
`,
  welcome_email_html: `<p>Hello {first_name},</p>
<p>An account has been created for you at <strong>{site_name}</strong>.</p>
<p>Username: <strong>{username}</strong></p>
<p><a href="{set_password_url}">Choose your password</a></p>
<p>The link works once and expires in {link_expires_in}. Afterwards, log in at <a href="{login_url}">{login_url}</a>.</p>
`,
  reset_email_subject: 'Reset your password at {site_name}',
  reset_email_text: `Hello {first_name},

Someone asked to reset the password of your account at {site_name} (username: {username}).

Choose a new password here:
{set_password_url}

The link works once and expires in {link_expires_in}. If you did not ask for this, ignore this e-mail; your password stays as it is.
`,
  reset_email_html: `<p>Hello {first_name},</p>
<p>Someone asked to reset the password of your account at <strong>{site_name}</strong> (username: <strong>{username}</strong>).</p>
<p><a href="{set_password_url}">Choose a new password</a></p>
<p>The link works once and expires in {link_expires_in}. If you did not ask for this, ignore this e-mail; your password stays as it is.</p>
`,
} as const;
