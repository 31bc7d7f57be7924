/**
 * /admin/import: WP Fusion's import tool in the browser. Starts an import of
 * a connection's contacts (those with a tag, or all of them), lists the
 * imports with their progress, shows one import's closing summary, and
 * cancels one still listing or running. The progress is current on every
 * load; admin.js polls the JSON figures (/admin/import/<id>/progress) to
 * move the bars while a job runs.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listConnections } from '../../connections/connection.repository.js';
import type { ConnectionRow } from '../../storage/schema.js';
import { listStoredTags } from '../../directory/tag.repository.js';
import { isAppError } from '../../errors.js';
import {
  cancelImport,
  getImportJob,
  importSummary,
  listImportJobs,
  startImport,
  type ImportJobView,
  type ImportSummary,
} from '../../import/import-jobs.js';
import { escapeHtml } from '../../lib/html.js';
import { csrfProtectionHook, readForm, sendPage, text } from '../pages/context.js';
import {
  adminFrame,
  adminOf,
  idParam,
  messageOf,
  recordAdminAction,
  type AdminDeps,
} from './context.js';
import {
  adminPage,
  button,
  checkbox,
  errorNotice,
  notice,
  postForm,
  statusBadge,
  table,
  when,
} from './layout.js';

interface View {
  notice?: string | undefined;
  error?: string | undefined;
}

const ENDED = new Set(['done', 'failed', 'cancelled']);

const whatOf = (job: ImportJobView) =>
  job.tag === null ? 'every contact' : `contacts tagged "${job.tag.label}"`;

/** "45/100 45%", the total marked + while contacts are still being listed. */
const figuresText = (job: ImportJobView) =>
  `${job.done}/${job.total}${job.status === 'listing' ? '+' : ''} ${job.percent}%`;

/** What the progress endpoint answers, and admin.js draws. */
function progressOf(job: ImportJobView) {
  return {
    id: job.id,
    status: job.status,
    ended: ENDED.has(job.status),
    total: job.total,
    done: job.done,
    errors: job.errors,
    percent: job.percent,
    figures: figuresText(job),
  };
}

/** The bar with its figures; admin.js keeps it current while the job runs (and reloads the page at the end when asked). */
function progressBlock(job: ImportJobView, reloadWhenEnded: boolean): string {
  return `<div class="row" data-progress-url="/admin/import/${job.id}/progress"${ENDED.has(job.status) ? ' data-ended="true"' : ''}${reloadWhenEnded ? ' data-reload-when-ended="true"' : ''}>
<progress max="100" value="${job.percent}" aria-label="Import #${job.id} progress">${job.percent}%</progress>
<span data-field="figures">${escapeHtml(figuresText(job))}</span>
<span>errors: <span data-field="errors">${job.errors}</span></span>
<span data-field="status">${statusBadge(job.status)}</span></div>`;
}

const sumOf = (reasons: Readonly<Record<string, number>>) =>
  Object.values(reasons).reduce((sum, n) => sum + n, 0);

function reasonsTable(reasons: Readonly<Record<string, number>>): string {
  return table(
    ['contacts', 'reason'],
    Object.entries(reasons)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => [String(n), escapeHtml(reason)]),
  );
}

function summaryBlock(job: ImportJobView, summary: ImportSummary): string {
  const heading = ENDED.has(job.status) ? 'Summary' : 'Summary so far (when the page was loaded)';
  return `<section aria-labelledby="summary-h"><h2 id="summary-h">${heading}</h2><dl id="import-summary">
<dt>Created</dt><dd>${summary.created}</dd>
<dt>Updated</dt><dd>${summary.updated}</dd>
<dt>Unchanged</dt><dd>${summary.unchanged}</dd>
<dt>Skipped</dt><dd>${sumOf(summary.skipped)}</dd>
<dt>Errors</dt><dd>${sumOf(summary.failed)}</dd></dl>
<h3>Skipped, by reason</h3>${reasonsTable(summary.skipped)}
<h3>Errors, by reason</h3>${reasonsTable(summary.failed)}</section>`;
}

const cancellable = (job: ImportJobView) => job.status === 'listing' || job.status === 'running';

function cancelForm(job: ImportJobView, csrf: string): string {
  return postForm(
    `/admin/import/${job.id}/cancel`,
    csrf,
    button(`Cancel import #${job.id}`, 'class="danger"'),
    { inline: true },
  );
}

/**
 * The form that starts an import: the connection (the default one first, when
 * it can list contacts), a tag with the stored labels of the chosen connection
 * offered (admin.js follows the choice), or every contact.
 */
function startForm(
  connections: readonly ConnectionRow[],
  canList: readonly boolean[],
  tags: ReadonlyArray<{ connection_id: string; label: string }>,
  csrf: string,
): string {
  const preferred = connections.findIndex((row, index) => row.is_default === 1 && canList[index]);
  const chosen = preferred >= 0 ? preferred : Math.max(0, canList.indexOf(true));
  const options = connections
    .map(
      (row, index) =>
        `<option value="${escapeHtml(row.id)}" data-tag-list="tags-${index}"${index === chosen ? ' selected' : ''}>${escapeHtml(
          `${row.name} (${row.id}, ${row.type})${canList[index] ? '' : ': cannot list contacts'}`,
        )}</option>`,
    )
    .join('');
  const datalists = connections
    .map(
      (row, index) =>
        `<datalist id="tags-${index}">${tags
          .filter((tag) => tag.connection_id === row.id)
          .map((tag) => `<option value="${escapeHtml(tag.label)}"></option>`)
          .join('')}</datalist>`,
    )
    .join('');
  return postForm(
    '/admin/import',
    csrf,
    `<div class="field"><label for="f-connection">Connection</label><select id="f-connection" name="connection" data-tag-input="f-tag">${options}</select></div>
<fieldset class="field"><legend>Contacts</legend>
<div><input type="radio" id="f-scope-tag" name="scope" value="tag" checked> <label for="f-scope-tag" style="display:inline">Contacts with the tag</label>
<input type="text" id="f-tag" name="tag" list="tags-${chosen}" aria-label="Tag" autocomplete="off" style="width:16rem"></div>
<p class="hint">The tag's label as the CRM shows it (the stored tag list is offered; <a href="/admin/connections">Refresh tag list</a> on the connection fills it) or its id in the CRM.</p>
<div><input type="radio" id="f-scope-all" name="scope" value="all"> <label for="f-scope-all" style="display:inline">All contacts</label></div>
</fieldset>${datalists}
${checkbox('send_welcome', 'Send each imported user the welcome e-mail', false)}
${button('Start import')}`,
  );
}

export function registerImportPages(app: FastifyInstance, deps: AdminDeps): void {
  const list = async (request: FastifyRequest, reply: FastifyReply, view: View, status = 200) => {
    const frame = await adminFrame(deps, request, reply, '/admin/import');
    const csrf = frame.csrfToken;
    const connections = await listConnections(deps.db);
    const canList = await Promise.all(
      connections.map(async (row) => {
        try {
          return (await deps.registry.resolve(row.id)).connector.listContacts !== undefined;
        } catch {
          return false;
        }
      }),
    );
    const start = startForm(connections, canList, await listStoredTags(deps.db), csrf);
    const jobs = await listImportJobs(deps.db);
    const rows = await Promise.all(
      jobs.map(async (job) => {
        const summary = await importSummary(deps.db, job.id);
        return [
          `<a href="/admin/import/${job.id}">#${job.id}</a>`,
          escapeHtml(job.connectionId),
          escapeHtml(whatOf(job)),
          progressBlock(job, false),
          `${summary.created} / ${summary.updated} / ${sumOf(summary.skipped)}`,
          escapeHtml(job.startedBy ?? ''),
          when(job.createdAt),
          cancellable(job) ? cancelForm(job, csrf) : '',
        ];
      }),
    );
    const main = `${notice(view.notice)}${errorNotice(view.error)}
<section aria-labelledby="start-h"><h2 id="start-h">Start an import</h2>
<p class="hint">Every contact of the connection with the tag (or every contact) becomes a user, as WP Fusion's import tool does: each is queued as an <code>add</code> webhook and run by the worker. Users that exist already are updated.</p>
${connections.length === 0 ? '<p>No CRM connection yet: <a href="/admin/connections">add one</a>.</p>' : start}</section>
<section aria-labelledby="jobs-h"><h2 id="jobs-h">Imports</h2>${table(
      [
        'import',
        'connection',
        'contacts',
        'progress',
        'created / updated / skipped',
        'started by',
        'started',
        '',
      ],
      rows,
    )}</section>`;
    return sendPage(reply, status, adminPage(frame, 'Import users', main));
  };

  const detail = async (
    request: FastifyRequest,
    reply: FastifyReply,
    id: number,
    view: View,
    status = 200,
  ) => {
    const job = await getImportJob(deps.db, id);
    if (!job) return list(request, reply, { error: `No import #${id}.` }, 404);
    const frame = await adminFrame(deps, request, reply, '/admin/import');
    const summary = await importSummary(deps.db, id);
    const facts = `<dl>
<dt>Connection</dt><dd>${escapeHtml(job.connectionId)}</dd>
<dt>Contacts</dt><dd>${escapeHtml(whatOf(job))}</dd>
<dt>Welcome e-mail</dt><dd>${job.sendWelcome ? 'sent to each imported user' : 'as the setting says'}</dd>
<dt>Started</dt><dd>${when(job.createdAt)}${job.startedBy ? ` by ${escapeHtml(job.startedBy)}` : ''}</dd>
<dt>Updated</dt><dd>${when(job.updatedAt)}</dd>
${job.finishedAt ? `<dt>Ended</dt><dd>${when(job.finishedAt)}</dd>` : ''}
${job.error ? `<dt>${job.status === 'cancelled' ? 'Stopped' : 'Problem'}</dt><dd>${escapeHtml(job.error.message)}</dd>` : ''}
</dl>`;
    const main = `${notice(view.notice)}${errorNotice(view.error)}${facts}
<section aria-labelledby="progress-h"><h2 id="progress-h">Progress</h2>${progressBlock(job, !ENDED.has(job.status))}
${cancellable(job) ? `<p>${cancelForm(job, frame.csrfToken)} <span class="hint">Contacts already queued stay queued; no further contacts are listed.</span></p>` : ''}</section>
${summaryBlock(job, summary)}
<p><a href="/admin/import">All imports</a></p>`;
    return sendPage(reply, status, adminPage(frame, `Import #${id}`, main));
  };

  app.get('/admin/import', async (request, reply) => list(request, reply, {}));

  app.get('/admin/import/:id', async (request, reply) => {
    const id = idParam(request);
    if (id === undefined) return list(request, reply, { error: 'Not an import id.' }, 404);
    return detail(request, reply, id, {});
  });

  app.get('/admin/import/:id/progress', async (request, reply) => {
    const id = idParam(request);
    const job = id === undefined ? undefined : await getImportJob(deps.db, id);
    if (!job)
      return reply
        .code(404)
        .send({ status: 'error', error: { code: 'NOT_FOUND', message: 'No such import' } });
    return reply.send(progressOf(job));
  });

  app.post('/admin/import', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, {
      connection: text(64),
      scope: text(10),
      tag: text(200),
      send_welcome: text(3),
    });
    const connectionId = form.connection.trim();
    const tag = form.scope === 'all' ? undefined : form.tag.trim();
    const what = tag === undefined ? 'every contact' : `contacts tagged "${tag}"`;
    const refuse = async (message: string, status: number) => {
      await recordAdminAction(deps, request, {
        level: 'warning',
        connectionId: connectionId || null,
        message: `import of ${what} from "${connectionId}" not started: ${message}`,
      });
      return list(request, reply, { error: message }, status);
    };
    if (connectionId === '') return refuse('Choose a connection.', 400);
    if (tag === '') return refuse('Enter a tag, or choose "All contacts".', 400);
    let job: ImportJobView;
    try {
      job = await startImport(deps.db, deps.registry, deps.clock, {
        connectionId,
        tag,
        sendWelcome: form.send_welcome === 'on',
        startedBy: adminOf(request).login,
      });
    } catch (error) {
      if (!isAppError(error)) throw error;
      return refuse(messageOf(error), error.status);
    }
    await recordAdminAction(deps, request, {
      connectionId,
      message: `started import #${job.id}: ${whatOf(job)} from "${connectionId}"${job.sendWelcome ? ', with welcome e-mails' : ''}`,
    });
    return reply.redirect(`/admin/import/${job.id}`, 303);
  });

  app.post(
    '/admin/import/:id/cancel',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = idParam(request);
      if (id === undefined) return list(request, reply, { error: 'Not an import id.' }, 404);
      try {
        const job = await cancelImport(deps.db, deps.clock, id, adminOf(request).login);
        await recordAdminAction(deps, request, {
          connectionId: job.connectionId,
          message: `cancelled import #${id} (${whatOf(job)} from "${job.connectionId}") after ${job.total} contact(s) were queued`,
        });
        return detail(request, reply, id, {
          notice: `Import #${id} cancelled. The ${job.total} contact(s) already queued stay queued.`,
        });
      } catch (error) {
        if (!isAppError(error)) throw error;
        await recordAdminAction(deps, request, {
          level: 'warning',
          message: `could not cancel import #${id}: ${messageOf(error)}`,
        });
        return detail(request, reply, id, { error: messageOf(error) }, error.status);
      }
    },
  );
}
