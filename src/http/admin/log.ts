/**
 * /admin/log: the activity log, newest first, filtered by level (and above),
 * action, contact id, user and text, a page at a time.
 */
import type { FastifyInstance } from 'fastify';
import { queryActivity } from '../../activity/activity.repository.js';
import { findUserByReference } from '../../directory/user.repository.js';
import { LOG_LEVELS, type LogLevel } from '../../storage/schema.js';
import { escapeHtml } from '../../lib/html.js';
import { readQuery, sendPage, text } from '../pages/context.js';
import { adminFrame, type AdminDeps } from './context.js';
import { adminPage, errorNotice, jsonBlock, statusBadge, table, when } from './layout.js';

const PAGE_SIZE = 50;

const isLevel = (value: string): value is LogLevel =>
  (LOG_LEVELS as readonly string[]).includes(value);

export function registerLogPage(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/admin/log', async (request, reply) => {
    const query = readQuery(request, {
      level: text(10),
      action: text(40),
      contact: text(200),
      user: text(320),
      q: text(200),
      before: text(12),
    });
    const frame = await adminFrame(deps, request, reply, '/admin/log');
    let error: string | undefined;
    let userId: number | undefined;
    if (query.user.trim() !== '') {
      const user = await findUserByReference(deps.db, query.user.trim());
      if (user) userId = user.id;
      else error = `No user matches "${query.user.trim()}".`;
    }
    const before = /^\d{1,12}$/.test(query.before) ? Number(query.before) : undefined;
    const rows = error
      ? []
      : await queryActivity(deps.db, {
          minLevel: isLevel(query.level) ? query.level : undefined,
          action: query.action.trim() || undefined,
          contactId: query.contact.trim() || undefined,
          userId,
          text: query.q.trim() || undefined,
          beforeId: before,
          limit: PAGE_SIZE,
        });
    const actions = await deps.db
      .selectFrom('activity_log')
      .select('action')
      .distinct()
      .where('action', 'is not', null)
      .orderBy('action')
      .limit(50)
      .execute();

    const option = (value: string, label: string, selected: string) =>
      `<option value="${escapeHtml(value)}"${value === selected ? ' selected' : ''}>${escapeHtml(label)}</option>`;
    const filters = `<form method="get" action="/admin/log" class="filters" role="search">
<div><label for="f-level">Level (and above)</label><select id="f-level" name="level">${option('', 'any', query.level)}${LOG_LEVELS.map((level) => option(level, level, query.level)).join('')}</select></div>
<div><label for="f-action">Action</label><select id="f-action" name="action">${option('', 'any', query.action)}${actions.map((row) => option(row.action ?? '', row.action ?? '', query.action)).join('')}</select></div>
<div><label for="f-contact">Contact id</label><input type="text" id="f-contact" name="contact" value="${escapeHtml(query.contact)}" style="width:9rem"></div>
<div><label for="f-user">User (id, e-mail or login)</label><input type="text" id="f-user" name="user" value="${escapeHtml(query.user)}" style="width:14rem"></div>
<div><label for="f-q">Text</label><input type="text" id="f-q" name="q" value="${escapeHtml(query.q)}" style="width:14rem"></div>
<div><button type="submit">Filter</button> <a href="/admin/log">Clear</a></div>
</form>`;
    const tableRows = rows.map((row) => [
      when(row.at),
      statusBadge(row.level),
      escapeHtml(row.action ?? ''),
      `${escapeHtml(row.message)}${row.data ? `<details><summary>details</summary>${jsonBlock(JSON.parse(row.data))}</details>` : ''}`,
      escapeHtml(row.contact_id ?? ''),
      row.user_id === null ? '' : `<a href="/admin/users/${row.user_id}">#${row.user_id}</a>`,
      row.event_id === null ? '' : `<a href="/admin/webhooks/${row.event_id}">#${row.event_id}</a>`,
    ]);
    const params = new URLSearchParams(
      Object.entries({
        level: query.level,
        action: query.action,
        contact: query.contact,
        user: query.user,
        q: query.q,
      }).filter(([, value]) => value !== ''),
    );
    const last = rows.at(-1);
    const pager = `<nav class="pager" aria-label="Pages">${before !== undefined ? `<a href="/admin/log?${escapeHtml(params.toString())}">Newest</a>` : ''}${rows.length === PAGE_SIZE && last ? `<a href="/admin/log?${escapeHtml(new URLSearchParams([...params, ['before', String(last.id)]]).toString())}">Older entries</a>` : ''}</nav>`;
    const main = `${filters}${errorNotice(error)}<div id="log-entries">${table(['time', 'level', 'action', 'message', 'contact', 'user', 'webhook'], tableRows)}</div>${pager}`;
    return sendPage(reply, 200, adminPage(frame, 'Activity log', main));
  });
}
