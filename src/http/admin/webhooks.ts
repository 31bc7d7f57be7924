/**
 * /admin/webhooks: the inbox by status (queued, processing, done, skipped,
 * failed, rejected) with attempts and the next retry; each webhook's detail
 * (the raw request with secrets masked, what was loaded from the CRM, what
 * changed, timings, errors); replaying one, or every failed one a filter shows.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { queryActivity } from '../../activity/activity.repository.js';
import { describeEvent } from '../../inbox/event-view.js';
import {
  countEventsByStatus,
  findEvent,
  listEvents,
  type EventFilter,
} from '../../inbox/inbox.repository.js';
import { replayEvent } from '../../inbox/replay.js';
import { EVENT_STATUSES } from '../../storage/schema.js';
import { escapeHtml } from '../../lib/html.js';
import { csrfProtectionHook, readForm, readQuery, sendPage, text } from '../pages/context.js';
import { adminFrame, messageOf, recordAdminAction, type AdminDeps } from './context.js';
import {
  adminPage,
  button,
  errorNotice,
  jsonBlock,
  notice,
  postForm,
  statusBadge,
  table,
  when,
} from './layout.js';

const PAGE_SIZE = 50;
/** Most failed webhooks one "replay all" sends (each waits for its outcome). */
const MAX_BULK_REPLAY = 100;

const STATUS_LABELS: Record<string, string> = {
  pending: 'queued',
  running: 'processing',
  done: 'done',
  skipped: 'skipped',
  failed: 'failed',
  rejected: 'rejected',
};

const FILTER_FIELDS = {
  status: text(20),
  connection: text(64),
  action: text(40),
  contact: text(200),
};

function eventFilter(input: {
  status: string;
  connection: string;
  action: string;
  contact: string;
}): EventFilter {
  return {
    status: (EVENT_STATUSES as readonly string[]).includes(input.status) ? input.status : undefined,
    connectionId: input.connection.trim() || undefined,
    action: input.action.trim() || undefined,
    contactId: input.contact.trim() || undefined,
  };
}

const idParam = (request: FastifyRequest) => {
  const id = (request.params as { id: string }).id;
  return /^\d{1,12}$/.test(id) ? Number(id) : undefined;
};

export function registerWebhookPages(app: FastifyInstance, deps: AdminDeps): void {
  const list = async (
    request: FastifyRequest,
    reply: FastifyReply,
    view: { notice?: string; error?: string },
  ) => {
    const query = readQuery(request, { ...FILTER_FIELDS, before: text(12) });
    const frame = await adminFrame(deps, request, reply, '/admin/webhooks');
    const csrf = frame.csrfToken;
    const filter = eventFilter(query);
    const before = /^\d{1,12}$/.test(query.before) ? Number(query.before) : undefined;
    const rows = await listEvents(deps.db, { ...filter, beforeId: before, limit: PAGE_SIZE });
    const counts = await countEventsByStatus(deps.db);
    const summary = `<p>${EVENT_STATUSES.map((status) => `<a href="/admin/webhooks?status=${status}">${escapeHtml(STATUS_LABELS[status] ?? status)}: ${counts[status] ?? 0}</a>`).join(' · ')}</p>`;
    const option = (value: string, label: string) =>
      `<option value="${escapeHtml(value)}"${value === query.status ? ' selected' : ''}>${escapeHtml(label)}</option>`;
    const filters = `<form method="get" action="/admin/webhooks" class="filters" role="search">
<div><label for="f-status">Status</label><select id="f-status" name="status">${option('', 'any')}${EVENT_STATUSES.map((status) => option(status, STATUS_LABELS[status] ?? status)).join('')}</select></div>
<div><label for="f-connection">Connection</label><input type="text" id="f-connection" name="connection" value="${escapeHtml(query.connection)}" style="width:9rem"></div>
<div><label for="f-action">Action</label><input type="text" id="f-action" name="action" value="${escapeHtml(query.action)}" style="width:8rem"></div>
<div><label for="f-contact">Contact id</label><input type="text" id="f-contact" name="contact" value="${escapeHtml(query.contact)}" style="width:9rem"></div>
<div><button type="submit">Filter</button> <a href="/admin/webhooks">Clear</a></div></form>`;
    const tableRows = rows.map((row) => [
      `<a href="/admin/webhooks/${row.id}">#${row.id}</a>`,
      when(row.received_at),
      escapeHtml(row.connection_id),
      escapeHtml(row.action),
      escapeHtml(row.contact_id ?? ''),
      statusBadge(STATUS_LABELS[row.status] ?? row.status),
      String(row.attempts),
      row.status === 'pending' ? when(row.available_at) : '',
      escapeHtml(row.error_message ?? ''),
      row.status === 'failed' || row.status === 'rejected'
        ? postForm(
            `/admin/webhooks/${row.id}/replay`,
            csrf,
            button(`Replay #${row.id}`, 'class="secondary"'),
            { inline: true },
          )
        : '',
    ]);
    const hidden = Object.entries({
      connection: query.connection,
      action: query.action,
      contact: query.contact,
    })
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
      .join('');
    const bulk = postForm(
      '/admin/webhooks/replay-failed',
      csrf,
      `${hidden}${button(`Replay every failed webhook matching the filter (up to ${MAX_BULK_REPLAY})`, 'class="danger"')}`,
    );
    const params = new URLSearchParams(
      Object.entries({
        status: query.status,
        connection: query.connection,
        action: query.action,
        contact: query.contact,
      }).filter(([, v]) => v !== ''),
    );
    const last = rows.at(-1);
    const pager = `<nav class="pager" aria-label="Pages">${before !== undefined ? `<a href="/admin/webhooks?${escapeHtml(params.toString())}">Newest</a>` : ''}${rows.length === PAGE_SIZE && last ? `<a href="/admin/webhooks?${escapeHtml(new URLSearchParams([...params, ['before', String(last.id)]]).toString())}">Older</a>` : ''}</nav>`;
    const main = `${notice(view.notice)}${errorNotice(view.error)}${summary}${filters}${table(['id', 'received', 'connection', 'action', 'contact', 'status', 'attempts', 'next retry', 'error', ''], tableRows)}${pager}${bulk}`;
    return sendPage(reply, 200, adminPage(frame, 'Webhooks', main));
  };

  const detail = async (
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    view: { notice?: string; error?: string },
  ) => {
    const row = await findEvent(deps.db, id);
    if (!row) return list(request, reply, { error: `No webhook #${id}.` });
    const frame = await adminFrame(deps, request, reply, '/admin/webhooks');
    const event = describeEvent(row);
    const activity = await queryActivity(deps.db, { eventId: id, afterId: 0, limit: 200 });
    const durationMs = row.finished_at
      ? Date.parse(row.finished_at) - Date.parse(row.received_at)
      : undefined;
    const facts = `<dl>
<dt>Status</dt><dd>${statusBadge(STATUS_LABELS[row.status] ?? row.status)}</dd>
<dt>Connection</dt><dd>${escapeHtml(row.connection_id)}</dd>
<dt>Action</dt><dd>${escapeHtml(row.action)}</dd>
<dt>Contact</dt><dd>${escapeHtml(row.contact_id ?? '')}</dd>
<dt>Received</dt><dd>${when(row.received_at)}</dd>
<dt>Finished</dt><dd>${when(row.finished_at)}${durationMs === undefined ? '' : ` (${durationMs} ms after it arrived)`}</dd>
<dt>Attempts</dt><dd>${row.attempts}${row.status === 'pending' ? ` · next try ${when(row.available_at)}` : ''}</dd>
${row.replay_of ? `<dt>Replay of</dt><dd><a href="/admin/webhooks/${row.replay_of}">#${row.replay_of}</a></dd>` : ''}
<dt>Error</dt><dd>${event.error ? `<code>${escapeHtml(event.error.code)}</code> ${escapeHtml(event.error.message ?? '')}` : 'none'}</dd>
</dl>`;
    const steps = table(
      ['time', 'level', 'what happened', 'details (loaded, changed)'],
      activity.map((entry) => [
        when(entry.at),
        statusBadge(entry.level),
        escapeHtml(entry.message),
        entry.data ? jsonBlock(JSON.parse(entry.data)) : '',
      ]),
    );
    const replay =
      row.status === 'failed' || row.status === 'rejected'
        ? postForm(`/admin/webhooks/${id}/replay`, frame.csrfToken, button(`Replay #${id}`))
        : '';
    const main = `${notice(view.notice)}${errorNotice(view.error)}${facts}${replay}
<section aria-labelledby="req-h"><h2 id="req-h">Request (secrets masked)</h2>${jsonBlock(event.request)}<h3>Parameters</h3>${jsonBlock(event.params)}</section>
<section aria-labelledby="steps-h"><h2 id="steps-h">Processing</h2>${steps}</section>
<section aria-labelledby="res-h"><h2 id="res-h">Result</h2>${jsonBlock(event.result)}</section>`;
    return sendPage(reply, 200, adminPage(frame, `Webhook #${id}`, main));
  };

  app.get('/admin/webhooks', async (request, reply) => list(request, reply, {}));

  app.get('/admin/webhooks/:id', async (request, reply) => {
    const id = idParam(request);
    if (id === undefined) return list(request, reply, { error: 'Not a webhook id.' });
    return detail(request, reply, id, {});
  });

  app.post(
    '/admin/webhooks/:id/replay',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = idParam(request);
      if (id === undefined) return list(request, reply, { error: 'Not a webhook id.' });
      try {
        const outcome = await replayEvent(deps.replay, id);
        const status =
          typeof outcome.body.status === 'string'
            ? outcome.body.status
            : String(outcome.statusCode);
        await recordAdminAction(deps, request, {
          eventId: id,
          message: `replayed webhook #${id}${outcome.eventId ? ` as #${outcome.eventId}` : ''}: ${status}`,
        });
        if (outcome.eventId === undefined)
          return detail(request, reply, id, {
            error: `Replay answered ${outcome.statusCode}: ${JSON.stringify(outcome.body)}`,
          });
        return detail(request, reply, outcome.eventId, {
          notice: `Replayed #${id} as #${outcome.eventId}: ${status}.`,
        });
      } catch (error) {
        await recordAdminAction(deps, request, {
          level: 'warning',
          eventId: id,
          message: `replay of #${id} failed: ${messageOf(error)}`,
        });
        return detail(request, reply, id, { error: messageOf(error) });
      }
    },
  );

  app.post(
    '/admin/webhooks/replay-failed',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, {
        connection: text(64),
        action: text(40),
        contact: text(200),
      });
      const failed = await listEvents(deps.db, {
        ...eventFilter({ ...form, status: 'failed' }),
        limit: MAX_BULK_REPLAY,
      });
      const outcomes = new Map<string, number>();
      for (const row of failed.reverse()) {
        let status: string;
        try {
          const outcome = await replayEvent(deps.replay, row.id);
          status =
            typeof outcome.body.status === 'string'
              ? outcome.body.status
              : String(outcome.statusCode);
        } catch (error) {
          status = `error (${messageOf(error)})`;
        }
        outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
      }
      const summary =
        [...outcomes].map(([status, count]) => `${count} ${status}`).join(', ') || 'none';
      await recordAdminAction(deps, request, {
        message: `replayed ${failed.length} failed webhook(s): ${summary}`,
        data: { filter: form },
      });
      return list(request, reply, {
        notice: `Replayed ${failed.length} failed webhook(s): ${summary}.`,
      });
    },
  );
}
