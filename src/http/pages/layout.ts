/**
 * Markup shared by the account pages: the frame (site name, one h1), forms
 * whose errors screen readers announce and tie to their inputs, and waits
 * in words.
 */
import { formatDuration } from '../../mail/compose.js';
import type { Settings } from '../../settings/settings.js';
import { escapeHtml } from '../../lib/html.js';
import { page } from '../html.js';

export type SiteSettings = Pick<Settings, 'site_name' | 'site_url'>;

/** A page of the account area: the site name above the page's one h1. */
export function accountPage(site: SiteSettings, title: string, main: string): string {
  const name = escapeHtml(site.site_name);
  const brand = site.site_url ? `<a href="${escapeHtml(site.site_url)}">${name}</a>` : name;
  return page(
    `${title} · ${site.site_name}`,
    `<header><p class="site">${brand}</p></header>\n<main>\n<h1>${escapeHtml(title)}</h1>\n${main}\n</main>`,
  );
}

export function paragraph(text: string): string {
  return `<p>${escapeHtml(text)}</p>`;
}

/** A short confirmation read out politely (role=status), not as an interruption. */
export function statusMessage(text: string): string {
  return `<p class="notice" role="status">${escapeHtml(text)}</p>`;
}

export function links(items: ReadonlyArray<readonly [href: string, text: string]>): string {
  return `<ul class="links">${items.map(([href, text]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(text)}</a></li>`).join('')}</ul>`;
}

export interface FieldSpec {
  name: string;
  label: string;
  type?: 'text' | 'email' | 'password' | undefined;
  autocomplete: string;
  /** Never given for password inputs: a typed password is not sent back. */
  value?: string | undefined;
  hint?: string | undefined;
  errors?: readonly string[] | undefined;
  readonly?: boolean | undefined;
}

export type FieldErrors = Partial<Record<string, string[]>>;

export interface FormSpec {
  action: string;
  csrfToken: string;
  hidden?: Readonly<Record<string, string | undefined>> | undefined;
  /** A problem with the form as a whole (wrong password, too many attempts), announced and linked from every input. */
  error?: string | undefined;
  fields: readonly FieldSpec[];
  submit: string;
}

const FORM_ERROR_ID = 'form-error';

function errorBlock(id: string, messages: readonly string[]): string {
  const content =
    messages.length === 1
      ? escapeHtml(messages[0])
      : `<ul>${messages.map((message) => `<li>${escapeHtml(message)}</li>`).join('')}</ul>`;
  return `<div id="${id}" class="error" role="alert">${content}</div>`;
}

function renderField(field: FieldSpec, formError: boolean): string {
  const id = escapeHtml(field.name);
  const described: string[] = [];
  const parts = [`<label for="${id}">${escapeHtml(field.label)}</label>`];
  if (field.hint) {
    described.push(`${field.name}-hint`);
    parts.push(`<p id="${id}-hint" class="hint">${escapeHtml(field.hint)}</p>`);
  }
  const errors = field.errors ?? [];
  if (errors.length > 0) {
    described.push(`${field.name}-error`);
    parts.push(errorBlock(`${id}-error`, errors));
  }
  if (formError) described.push(FORM_ERROR_ID);
  const type = field.type ?? 'text';
  const attributes = [
    `id="${id}"`,
    `name="${id}"`,
    `type="${type}"`,
    `autocomplete="${escapeHtml(field.autocomplete)}"`,
    type === 'password' || !field.value ? '' : `value="${escapeHtml(field.value)}"`,
    type === 'password' ? '' : 'autocapitalize="none" spellcheck="false"',
    field.readonly ? 'readonly' : 'required',
    described.length > 0 ? `aria-describedby="${escapeHtml(described.join(' '))}"` : '',
    errors.length > 0 || formError ? 'aria-invalid="true"' : '',
  ].filter((attribute) => attribute !== '');
  parts.push(`<input ${attributes.join(' ')}>`);
  return `<div class="field">\n${parts.join('\n')}\n</div>`;
}

export function hiddenInput(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}

export function renderForm(spec: FormSpec): string {
  const hidden = Object.entries(spec.hidden ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([name, value]) => hiddenInput(name, value));
  const formError = spec.error !== undefined;
  return [
    `<form method="post" action="${escapeHtml(spec.action)}">`,
    hiddenInput('_csrf', spec.csrfToken),
    ...hidden,
    formError ? errorBlock(FORM_ERROR_ID, [spec.error ?? '']) : '',
    ...spec.fields.map((field) => renderField(field, formError)),
    `<button type="submit">${escapeHtml(spec.submit)}</button>`,
    '</form>',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** A form that is only a button (log out). */
export function buttonForm(action: string, csrfToken: string, label: string): string {
  return renderForm({ action, csrfToken, fields: [], submit: label });
}

/** A Retry-After wait in words, rounded up to whole minutes so nobody comes back too early. */
export function waitInWords(seconds: number): string {
  return formatDuration(Math.ceil(seconds / 60) * 60_000);
}
