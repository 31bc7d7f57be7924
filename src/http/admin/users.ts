/**
 * /admin/users: search users by e-mail, login or tag; each user's role, tags
 * (by label), meta, linked contacts and recent activity; "resync from CRM"
 * (an `update` webhook for the linked contact, through the normal intake) and
 * a password-reset e-mail.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { queryActivity } from '../../activity/activity.repository.js';
import { listConnections } from '../../connections/connection.repository.js';
import { connectorDefinition } from '../../connectors/index.js';
import { describeUser } from '../../directory/user-view.js';
import { findUserById, listTagsOfUsers, listUsers } from '../../directory/user.repository.js';
import { sendWebhook } from '../../inbox/replay.js';
import { enqueueMail } from '../../mail/mail.repository.js';
import { escapeHtml } from '../../lib/html.js';
import { csrfProtectionHook, readForm, readQuery, sendPage, text } from '../pages/context.js';
import { adminFrame, messageOf, recordAdminAction, type AdminDeps } from './context.js';
import {
  adminPage,
  button,
  errorNotice,
  notice,
  postForm,
  statusBadge,
  table,
  when,
} from './layout.js';

const PAGE_SIZE = 50;

const idParam = (request: FastifyRequest) => {
  const id = (request.params as { id: string }).id;
  return /^\d{1,12}$/.test(id) ? Number(id) : undefined;
};

export function registerUserPages(app: FastifyInstance, deps: AdminDeps): void {
  const list = async (request: FastifyRequest, reply: FastifyReply, view: { error?: string }) => {
    const query = readQuery(request, { q: text(320), tag: text(200), page: text(6) });
    const frame = await adminFrame(deps, request, reply, '/admin/users');
    const page = /^\d{1,6}$/.test(query.page) ? Math.max(1, Number(query.page)) : 1;
    const users = await listUsers(deps.db, {
      search: query.q.trim() || undefined,
      tag: query.tag.trim() || undefined,
      limit: PAGE_SIZE + 1,
      offset: (page - 1) * PAGE_SIZE,
    });
    const shown = users.slice(0, PAGE_SIZE);
    const tags = await listTagsOfUsers(
      deps.db,
      shown.map((user) => user.id),
    );
    const filters = `<form method="get" action="/admin/users" class="filters" role="search">
<div><label for="f-q">E-mail or login</label><input type="text" id="f-q" name="q" value="${escapeHtml(query.q)}" style="width:16rem"></div>
<div><label for="f-tag">Tag (label or id)</label><input type="text" id="f-tag" name="tag" value="${escapeHtml(query.tag)}" style="width:12rem"></div>
<div><button type="submit">Search</button> <a href="/admin/users">Clear</a></div></form>`;
    const rows = shown.map((user) => [
      `<a href="/admin/users/${user.id}">#${user.id}</a>`,
      escapeHtml(user.login),
      escapeHtml(user.email),
      escapeHtml(user.role),
      (tags.get(user.id) ?? [])
        .map((tag) => `<span class="status">${escapeHtml(tag.label)}</span>`)
        .join(' '),
      when(user.created_at),
    ]);
    const params = (n: number) =>
      escapeHtml(
        new URLSearchParams([
          ...Object.entries({ q: query.q, tag: query.tag }).filter(([, v]) => v !== ''),
          ['page', String(n)],
        ]).toString(),
      );
    const pager = `<nav class="pager" aria-label="Pages">${page > 1 ? `<a href="/admin/users?${params(page - 1)}">Previous</a>` : ''}${users.length > PAGE_SIZE ? `<a href="/admin/users?${params(page + 1)}">Next</a>` : ''}</nav>`;
    const main = `${errorNotice(view.error)}${filters}${table(['id', 'login', 'e-mail', 'role', 'tags', 'created'], rows)}${pager}`;
    return sendPage(reply, 200, adminPage(frame, 'Users', main));
  };

  const detail = async (
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    view: { notice?: string; error?: string },
  ) => {
    const row = await findUserById(deps.db, id);
    if (!row) return list(request, reply, { error: `No user #${id}.` });
    const frame = await adminFrame(deps, request, reply, '/admin/users');
    const csrf = frame.csrfToken;
    const user = await describeUser(deps.db, row);
    const activity = await queryActivity(deps.db, { userId: id, limit: 30 });
    const base = `/admin/users/${id}`;
    const types = new Map((await listConnections(deps.db)).map((c) => [c.id, c.type]));
    const contacts = user.contacts.map((contact) => {
      const fromApi = connectorDefinition(types.get(contact.connection) ?? 'payload');
      return [
        escapeHtml(contact.connection),
        `<code>${escapeHtml(contact.contactId)}</code>`,
        when(contact.linkedAt),
        fromApi?.contactSource === 'webhook'
          ? '<span class="hint">contact data comes with its webhooks</span>'
          : postForm(
              `${base}/resync`,
              csrf,
              `<input type="hidden" name="connection" value="${escapeHtml(contact.connection)}"><input type="hidden" name="contact" value="${escapeHtml(contact.contactId)}">${button('Resync from CRM', 'class="secondary"')}`,
              { inline: true },
            ),
      ];
    });
    const facts = `<dl>
<dt>Login</dt><dd>${escapeHtml(user.login)}</dd>
<dt>E-mail</dt><dd>${escapeHtml(user.email)}</dd>
<dt>Name</dt><dd>${escapeHtml([user.firstName, user.lastName].filter(Boolean).join(' '))}</dd>
<dt>Role</dt><dd>${escapeHtml(user.role)}</dd>
<dt>Tags</dt><dd>${user.tags.map((tag) => `<span class="status" title="${escapeHtml(`${tag.connection}:${tag.id}`)}">${escapeHtml(tag.label)}</span>`).join(' ') || 'none'}</dd>
<dt>Password</dt><dd>${user.passwordGenerated ? 'generated (the user has not chosen one)' : 'chosen by the user'}</dd>
<dt>Created</dt><dd>${when(user.createdAt)} · updated ${when(user.updatedAt)}</dd>
</dl>`;
    const meta = table(
      ['meta key', 'value'],
      Object.entries(user.meta).map(([key, value]) => [escapeHtml(key), escapeHtml(value)]),
    );
    const recent = table(
      ['time', 'level', 'message', 'webhook'],
      activity.map((entry) => [
        when(entry.at),
        statusBadge(entry.level),
        escapeHtml(entry.message),
        entry.event_id === null
          ? ''
          : `<a href="/admin/webhooks/${entry.event_id}">#${entry.event_id}</a>`,
      ]),
    );
    const main = `${notice(view.notice)}${errorNotice(view.error)}${facts}
${postForm(`${base}/password-reset`, csrf, button('Send password-reset e-mail', 'class="secondary"'))}
<section aria-labelledby="contacts-h"><h2 id="contacts-h">Linked contacts</h2>${table(['connection', 'contact', 'linked', ''], contacts)}</section>
<section aria-labelledby="meta-h"><h2 id="meta-h">Meta</h2>${meta}</section>
<section aria-labelledby="act-h"><h2 id="act-h">Recent activity</h2>${recent}<p><a href="/admin/log?user=${id}">All activity of this user</a></p></section>`;
    return sendPage(reply, 200, adminPage(frame, `User ${user.login}`, main));
  };

  app.get('/admin/users', async (request, reply) => list(request, reply, {}));

  app.get('/admin/users/:id', async (request, reply) => {
    const id = idParam(request);
    if (id === undefined) return list(request, reply, { error: 'Not a user id.' });
    return detail(request, reply, id, {});
  });

  app.post(
    '/admin/users/:id/resync',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = idParam(request);
      if (id === undefined) return list(request, reply, { error: 'Not a user id.' });
      const form = readForm(request, { connection: text(64), contact: text(200) });
      const row = await findUserById(deps.db, id);
      const user = row && (await describeUser(deps.db, row));
      const linked = user?.contacts.some(
        (c) => c.connection === form.connection && c.contactId === form.contact,
      );
      if (!user || !linked)
        return detail(request, reply, id, { error: 'That contact is not linked to this user.' });
      try {
        // Through the intake like a CRM's own webhook: stored, coalesced with others for the contact, logged.
        const outcome = await sendWebhook(deps.replay, {
          method: 'POST',
          url: `/webhooks/${encodeURIComponent(form.connection)}`,
          contentType: 'application/x-www-form-urlencoded',
          body: new URLSearchParams({
            wpf_action: 'update',
            contact_id: form.contact,
            async: 'true',
          }).toString(),
        });
        const accepted = outcome.statusCode < 300;
        await recordAdminAction(deps, request, {
          level: accepted ? 'notice' : 'warning',
          userId: id,
          connectionId: form.connection,
          contactId: form.contact,
          eventId: outcome.eventId,
          message: `asked for a resync of ${user.login} from ${form.connection} contact ${form.contact}: ${outcome.statusCode}`,
        });
        return detail(
          request,
          reply,
          id,
          accepted
            ? {
                notice: `Resync queued as webhook #${outcome.eventId ?? '?'} (an update of contact ${form.contact}).`,
              }
            : {
                error: `The resync was refused (${outcome.statusCode}): ${JSON.stringify(outcome.body)}`,
              },
        );
      } catch (error) {
        return detail(request, reply, id, { error: messageOf(error) });
      }
    },
  );

  app.post(
    '/admin/users/:id/password-reset',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = idParam(request);
      const user = id === undefined ? undefined : await findUserById(deps.db, id);
      if (!user || id === undefined) return list(request, reply, { error: 'No such user.' });
      const at = deps.clock.now().toISOString();
      const messageId = await enqueueMail(
        deps.db,
        { kind: 'password_reset', userId: user.id, to: user.email },
        at,
      );
      deps.mail?.notify();
      await recordAdminAction(deps, request, {
        userId: user.id,
        message: `queued a password-reset e-mail (#${messageId}) for ${user.login}`,
      });
      return detail(request, reply, id, {
        notice: `Password-reset e-mail queued for ${user.email}.`,
      });
    },
  );
}
