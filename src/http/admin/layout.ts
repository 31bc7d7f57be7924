/**
 * The admin area's frame and the small pieces every admin page draws with:
 * navigation, notices, tables, forms with their CSRF token, copyable fields.
 * No asset comes from elsewhere: styles are inline, the one script is served
 * by this service (/admin/assets/admin.js) and only adds conveniences.
 */
import { escapeHtml } from '../../lib/html.js';
import { hiddenInput } from '../pages/layout.js';

const ADMIN_NAV = [
  ['/admin', 'General'],
  ['/admin/dashboard', 'Dashboard'],
  ['/admin/settings', 'Webhook settings'],
  ['/admin/connections', 'CRM connections'],
  ['/admin/log', 'Activity log'],
  ['/admin/webhooks', 'Webhooks'],
  ['/admin/users', 'Users'],
  ['/admin/import', 'Import'],
] as const;

export interface AdminFrame {
  siteName: string;
  adminLogin: string;
  /** The nav entry to mark as current. */
  current: string;
  csrfToken: string;
}

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header .site{font-weight:700;margin-right:1rem}header a{color:#dfe8f3}header form{margin-left:auto}
nav ul{list-style:none;margin:0;padding:0;display:flex;gap:.9rem;flex-wrap:wrap}
nav a[aria-current=page]{color:#fff;font-weight:700;text-decoration:underline}
main{max-width:72rem;margin:1rem auto;padding:0 1.2rem 3rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.8rem}h3{font-size:1rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.4rem 1rem 1rem;margin:1rem 0}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{font-weight:600}code,pre{background:#f1f3f5;border-radius:3px}code{padding:0 .25rem}pre{padding:.6rem;overflow:auto;max-height:30rem;white-space:pre-wrap;word-break:break-all}
a{color:#0b57a4}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
label{font-weight:600}.field{margin:.7rem 0}.field label{display:block}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=url],select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid #767676;border-radius:4px;box-sizing:border-box;max-width:100%}
input[type=text],input[type=email],input[type=password],input[type=url],textarea{width:32rem}textarea{min-height:8rem;font-family:ui-monospace,monospace;font-size:.85rem}
input[readonly]{background:#f1f3f5}
button{font:inherit;font-weight:600;padding:.35rem .9rem;border:0;border-radius:4px;background:#0b57a4;color:#fff;cursor:pointer}
button.secondary{background:#e3e8ee;color:#1b1b1b}button.danger{background:#b3261e}
form.inline{display:inline}.row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.filters{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap}.filters label{display:block;font-size:.85rem}
.hint{color:#555;font-size:.9rem;margin:.2rem 0}
.error{margin:.5rem 0;padding:.5rem .7rem;border-left:4px solid #b3261e;background:#fdecea;color:#8c1d18}
.notice{margin:.5rem 0;padding:.5rem .7rem;border-left:4px solid #1e7b34;background:#e6f4ea}
.status{display:inline-block;padding:0 .5rem;border-radius:1rem;background:#e6e6e6;font-size:.85rem;font-weight:600}
.s-done,.s-info{background:#d7f5dd}.s-pending,.s-running,.s-listing,.s-notice{background:#dbe9fb}.s-skipped,.s-cancelled,.s-warning{background:#fff1c2}.s-failed,.s-rejected,.s-error{background:#ffd9d9}
.pager{display:flex;gap:1rem;margin:.8rem 0}
progress{width:12rem;height:1rem}fieldset{border:0;padding:0}legend{font-weight:600}
iframe{width:100%;height:22rem;border:1px solid #ccc;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
`;

export function adminPage(frame: AdminFrame, title: string, main: string): string {
  const nav = ADMIN_NAV.map(
    ([href, label]) =>
      `<li><a href="${href}"${href === frame.current ? ' aria-current="page"' : ''}>${escapeHtml(label)}</a></li>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(frame.siteName)} admin</title>
<style>${STYLE}</style>
<script src="/admin/assets/admin.js" defer></script>
</head>
<body>
<header><span class="site">${escapeHtml(frame.siteName)} · admin</span>
<nav aria-label="Admin"><ul>${nav}</ul></nav>
<form method="post" action="/logout">${hiddenInput('_csrf', frame.csrfToken)}<span>${escapeHtml(frame.adminLogin)}</span> <button type="submit" class="secondary">Log out</button></form>
</header>
<main>
<h1>${escapeHtml(title)}</h1>
${main}
</main>
</body>
</html>`;
}

export function notice(text: string | undefined): string {
  return text ? `<p class="notice" role="status">${escapeHtml(text)}</p>` : '';
}

export function errorNotice(text: string | undefined): string {
  return text ? `<div class="error" role="alert">${escapeHtml(text)}</div>` : '';
}

export function statusBadge(status: string): string {
  return `<span class="status s-${escapeHtml(status)}">${escapeHtml(status)}</span>`;
}

/** A table from rows of already-escaped cells. */
export function table(headings: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  if (rows.length === 0) return '<p>Nothing to show.</p>';
  return `<table><thead><tr>${headings.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A POST form with its CSRF token; `inner` is already-escaped markup. */
export function postForm(
  action: string,
  csrfToken: string,
  inner: string,
  options: { inline?: boolean; id?: string } = {},
): string {
  const attributes = [
    `method="post"`,
    `action="${escapeHtml(action)}"`,
    options.inline ? 'class="inline"' : '',
    options.id ? `id="${escapeHtml(options.id)}"` : '',
  ].filter(Boolean);
  return `<form ${attributes.join(' ')}>${hiddenInput('_csrf', csrfToken)}${inner}</form>`;
}

export function button(label: string, attributes = ''): string {
  return `<button type="submit"${attributes ? ` ${attributes}` : ''}>${escapeHtml(label)}</button>`;
}

/** A read-only text field with a Copy button (the script copies the field's value). */
export function copyField(id: string, label: string, value: string): string {
  const safeId = escapeHtml(id);
  return `<div class="field"><label for="${safeId}">${escapeHtml(label)}</label><div class="row"><input type="text" id="${safeId}" value="${escapeHtml(value)}" readonly><button type="button" class="secondary" data-copy="${safeId}">Copy</button></div></div>`;
}

export function textInput(
  name: string,
  label: string,
  value: string,
  options: { type?: string; hint?: string; list?: string; required?: boolean } = {},
): string {
  const id = `f-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return `<div class="field"><label for="${escapeHtml(id)}">${escapeHtml(label)}</label>${
    options.hint ? `<p class="hint">${escapeHtml(options.hint)}</p>` : ''
  }<input type="${options.type ?? 'text'}" id="${escapeHtml(id)}" name="${escapeHtml(name)}" value="${escapeHtml(value)}"${
    options.list ? ` list="${escapeHtml(options.list)}"` : ''
  }${options.required ? ' required' : ''} autocomplete="off"></div>`;
}

export function selectInput(
  name: string,
  label: string,
  options: ReadonlyArray<readonly [value: string, text: string]>,
  selected: string,
): string {
  const id = `f-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return `<div class="field"><label for="${escapeHtml(id)}">${escapeHtml(label)}</label><select id="${escapeHtml(id)}" name="${escapeHtml(name)}">${options
    .map(
      ([value, text]) =>
        `<option value="${escapeHtml(value)}"${value === selected ? ' selected' : ''}>${escapeHtml(text)}</option>`,
    )
    .join('')}</select></div>`;
}

export function checkbox(name: string, label: string, checked: boolean): string {
  const id = `f-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return `<div class="field"><input type="checkbox" id="${escapeHtml(id)}" name="${escapeHtml(name)}" value="on"${checked ? ' checked' : ''}> <label for="${escapeHtml(id)}" style="display:inline">${escapeHtml(label)}</label></div>`;
}

/** Pretty JSON of a value, escaped, in a pre block. */
export function jsonBlock(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

/** An ISO timestamp, shorter for tables. */
export function when(iso: string | null | undefined): string {
  return iso ? escapeHtml(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '';
}
