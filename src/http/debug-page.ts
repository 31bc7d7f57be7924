/**
 * The page a person sees when opening a webhook URL in a browser: what the
 * request did and what was loaded from the CRM, with secrets redacted.
 */
import type { IntakeResponse } from '../webhook/answers.js';
import { escapeHtml } from '../lib/html.js';
import { isJsonScalar } from '../lib/json.js';
import { page } from './html.js';

const STATUS_CLASS: Record<string, string> = {
  done: 'ok',
  skipped: 'warn',
  accepted: 'warn',
  rejected: 'bad',
  failed: 'bad',
  error: 'bad',
};

function list(items: unknown): string {
  if (!Array.isArray(items) || items.length === 0) return '<em>none</em>';
  return `<ul>${items.map((item: unknown) => `<li>${escapeHtml(item === null || isJsonScalar(item) ? item : JSON.stringify(item))}</li>`).join('')}</ul>`;
}

function table(rows: Array<[string, string]>): string {
  return `<table>${rows.map(([key, value]) => `<tr><th scope="row">${escapeHtml(key)}</th><td>${value}</td></tr>`).join('')}</table>`;
}

export function renderDebugPage(response: IntakeResponse): string {
  const body = response.body;
  const status = typeof body.status === 'string' ? body.status : body.success ? 'done' : 'error';
  const parts: string[] = [
    `<h1>crm-bridge webhook</h1>`,
    `<p>HTTP ${response.statusCode} &middot; <span class="status ${STATUS_CLASS[status] ?? ''}">${escapeHtml(status)}</span></p>`,
  ];
  if (body.success === true) parts.push('<p>The access key is valid. Test webhooks work.</p>');
  const error = body.error as { code?: string; message?: string } | undefined;
  if (error)
    parts.push(
      `<p role="alert"><strong>${escapeHtml(error.code)}</strong>: ${escapeHtml(error.message)}</p>`,
    );
  if (typeof body.message === 'string') parts.push(`<p>${escapeHtml(body.message)}</p>`);

  const summary: Array<[string, string]> = [];
  for (const key of ['action', 'eventId', 'contactId', 'userId', 'login', 'created'] as const) {
    const value = body[key];
    if (isJsonScalar(value)) summary.push([key, escapeHtml(value)]);
  }
  if (summary.length) parts.push(table(summary));

  const tags = body.tags as { added?: unknown; removed?: unknown; current?: unknown } | undefined;
  if (tags) {
    parts.push(
      '<h2>Tags</h2>',
      table([
        ['Added', list(tags.added)],
        ['Removed', list(tags.removed)],
        ['Current', list(tags.current)],
      ]),
    );
  }
  const loaded = body.loaded as
    | { source?: string; email?: string; fields?: Record<string, string>; tags?: unknown }
    | undefined;
  if (loaded) {
    const fields = Object.entries(loaded.fields ?? {}).map(([key, value]): [string, string] => [
      key,
      escapeHtml(value),
    ]);
    parts.push(
      `<h2>Loaded from the ${loaded.source === 'api' ? 'CRM' : 'webhook'}</h2>`,
      table([['E-mail', escapeHtml(loaded.email ?? '')], ...fields]),
    );
  }
  if (Array.isArray(body.changes)) parts.push('<h2>Changes</h2>', list(body.changes));
  if (Array.isArray(body.notices) && body.notices.length)
    parts.push('<h2>Notices</h2>', list(body.notices));
  return page('crm-bridge webhook', parts.join('\n'));
}
