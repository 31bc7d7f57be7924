/**
 * /admin (General): each connection's webhook base URL with a copy button,
 * the access key (hidden until revealed on purpose) and its rotation with the
 * grace period, ready-made webhook URLs for every action as each CRM takes
 * them, and a "Test webhooks" button that calls the public URL for real.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listConnections } from '../../connections/connection.repository.js';
import { BUILT_IN_PAYLOAD_ID } from '../../connections/registry.js';
import { connectorDefinition } from '../../connectors/index.js';
import { listRoles } from '../../directory/role.repository.js';
import { currentAccessKey, listActiveKeys, rotateAccessKey } from '../../settings/access-keys.js';
import { escapeHtml } from '../../lib/html.js';
import { csrfProtectionHook, readForm, sendPage, settingsFor, text } from '../pages/context.js';
import { adminFrame, messageOf, recordAdminAction, type AdminDeps } from './context.js';
import {
  adminPage,
  button,
  copyField,
  errorNotice,
  notice,
  postForm,
  table,
  when,
} from './layout.js';
import { readyWebhooks } from './webhook-urls.js';

interface GeneralView {
  /** Shown only right after a reveal or a rotation. */
  revealedKey?: string | undefined;
  notice?: string | undefined;
  error?: string | undefined;
  /** The outcome of "Test webhooks", per connection. */
  test?: { connection: string; ok: boolean; text: string } | undefined;
}

interface Endpoint {
  id: string;
  name: string;
  type: string;
  isDefault: boolean;
}

/** The connections webhooks can reach; the built-in payload one while none is configured. */
async function endpoints(deps: AdminDeps): Promise<Endpoint[]> {
  const rows = await listConnections(deps.db);
  if (rows.length === 0)
    return [
      {
        id: BUILT_IN_PAYLOAD_ID,
        name: 'Webhook payload (built in)',
        type: 'payload',
        isDefault: true,
      },
    ];
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    type: row.type,
    isDefault: row.is_default === 1 || rows.length === 1,
  }));
}

function baseUrlOf(deps: AdminDeps, endpoint: Endpoint): string {
  return `${deps.publicUrl()}/webhooks/${encodeURIComponent(endpoint.id)}`;
}

export function registerGeneralPage(app: FastifyInstance, deps: AdminDeps): void {
  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    view: GeneralView,
    status = 200,
  ) => {
    const frame = await adminFrame(deps, request, reply, '/admin');
    const settings = await settingsFor(deps, request);
    const list = await endpoints(deps);
    const keys = await listActiveKeys(deps.db, deps.clock);
    const roles = await listRoles(deps.db);
    const exampleRole =
      roles.find((role) => !role.isAdmin && role.slug !== settings.default_role)?.slug ??
      settings.default_role;
    const csrf = frame.csrfToken;

    const keyBlock = view.revealedKey
      ? copyField('access-key', 'Access key', view.revealedKey)
      : `<p>Access key: <code id="access-key-hidden">••••••••••••</code> (fingerprint <code>${escapeHtml(keys.find((k) => k.expiresAt === null)?.fingerprint ?? '')}</code>)</p>${postForm('/admin/access-key/reveal', csrf, button('Reveal access key', 'class="secondary"'), { inline: true })}`;
    const graceRows = keys
      .filter((key) => key.expiresAt !== null)
      .map((key) => [
        `<code>${escapeHtml(key.fingerprint)}</code>`,
        when(key.createdAt),
        `valid until ${when(key.expiresAt)}`,
      ]);
    const keySection = `<section aria-labelledby="key-h"><h2 id="key-h">Access key</h2>
<p class="hint">CRMs send it with every webhook (<code>access_key</code>, or the <code>X-Access-Key</code> header). It is shown only when you reveal it.</p>
${keyBlock}
${postForm('/admin/access-key/rotate', csrf, `<p class="hint">Rotating makes a new key; the current one keeps working for ${escapeHtml(String(settings.access_key_grace_hours))} hour(s) (setting <code>access_key_grace_hours</code>), so you can update your CRMs in the meantime.</p>${button('Rotate access key', 'class="danger"')}`)}
${graceRows.length > 0 ? `<h3>Previous keys still accepted</h3>${table(['fingerprint', 'created', 'grace period'], graceRows)}` : ''}
</section>`;

    const connectionSections = list.map((endpoint) => {
      const definition = connectorDefinition(endpoint.type);
      const base = baseUrlOf(deps, endpoint);
      const fieldId = `base-${endpoint.id}`;
      const ready = definition
        ? readyWebhooks(base, definition.webhookSetup, view.revealedKey, exampleRole)
        : [];
      const readyRows = ready.map((entry, index) => {
        const id = `url-${endpoint.id}-${index}`;
        const value = entry.rows ? entry.rows.join('\n') : entry.url;
        const control = entry.rows
          ? `<textarea id="${escapeHtml(id)}" readonly rows="4">${escapeHtml(value)}</textarea>`
          : `<input type="text" id="${escapeHtml(id)}" value="${escapeHtml(value)}" readonly>`;
        return [
          escapeHtml(entry.label),
          `<div class="row">${control}<button type="button" class="secondary" data-copy="${escapeHtml(id)}">Copy</button></div>`,
        ];
      });
      const test = view.test?.connection === endpoint.id ? view.test : undefined;
      return `<section aria-labelledby="c-${escapeHtml(endpoint.id)}"><h2 id="c-${escapeHtml(endpoint.id)}">${escapeHtml(endpoint.name)} <small>(${escapeHtml(endpoint.type)}, id <code>${escapeHtml(endpoint.id)}</code>)</small></h2>
${copyField(fieldId, 'Webhook base URL', base)}
${endpoint.isDefault ? `<p class="hint">Webhooks to the site root <code>${escapeHtml(deps.publicUrl())}/</code> also reach this connection.</p>` : ''}
${definition ? `<p class="hint">${escapeHtml(definition.webhookSetup.note)}</p>` : ''}
${view.revealedKey ? '' : '<p class="hint">Reveal the access key above to have it filled into these URLs.</p>'}
${table(['to …', definition?.webhookSetup.style === 'rows' ? 'URL: the base URL above; data rows' : 'URL'], readyRows)}
${postForm('/admin/test-webhook', csrf, `<input type="hidden" name="connection" value="${escapeHtml(endpoint.id)}">${button('Test webhooks')}`)}
${test ? (test.ok ? notice(test.text) : errorNotice(test.text)) : ''}
</section>`;
    });

    const main = `${notice(view.notice)}${errorNotice(view.error)}${keySection}\n${connectionSections.join('\n')}`;
    return sendPage(reply, status, adminPage(frame, 'General', main));
  };

  app.get('/admin', async (request, reply) => render(request, reply, {}));

  app.post(
    '/admin/access-key/reveal',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const key = await currentAccessKey(deps.db, deps.clock, deps.sealer);
      await recordAdminAction(deps, request, {
        message: `revealed the access key (fingerprint ${key.fingerprint})`,
      });
      return render(request, reply, { revealedKey: key.secret });
    },
  );

  app.post(
    '/admin/access-key/rotate',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const settings = await settingsFor(deps, request);
      const previous = await currentAccessKey(deps.db, deps.clock, deps.sealer);
      const graceMs = settings.access_key_grace_hours * 3_600_000;
      const key = await rotateAccessKey(deps.db, deps.clock, deps.sealer, graceMs);
      const until = new Date(deps.clock.now().getTime() + graceMs).toISOString();
      await recordAdminAction(deps, request, {
        level: 'warning',
        message: `rotated the access key (new fingerprint ${key.fingerprint}; ${previous.fingerprint} valid until ${until})`,
      });
      return render(request, reply, {
        revealedKey: key.secret,
        notice: `New access key made. The previous key (${previous.fingerprint}) keeps working until ${until}: update your CRMs before then.`,
      });
    },
  );

  app.post('/admin/test-webhook', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, { connection: text(64) });
    const endpoint = (await endpoints(deps)).find((entry) => entry.id === form.connection);
    if (!endpoint)
      return render(request, reply, { error: `No connection "${form.connection}".` }, 404);
    const key = await currentAccessKey(deps.db, deps.clock, deps.sealer);
    const url = `${baseUrlOf(deps, endpoint)}?wpf_action=test`;
    let test: GeneralView['test'];
    try {
      // The public URL, over the network, as a CRM would call it; the key goes in a header, out of URLs and logs.
      const response = await fetch(url, {
        headers: { 'x-access-key': key.secret, accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.text()).slice(0, 300);
      test = response.ok
        ? {
            connection: endpoint.id,
            ok: true,
            text: `Success: ${url} answered ${response.status} ${body}`,
          }
        : {
            connection: endpoint.id,
            ok: false,
            text: `HTTP ${response.status} from ${url}: ${body}`,
          };
    } catch (error) {
      test = {
        connection: endpoint.id,
        ok: false,
        text: `${url} could not be reached: ${messageOf(error)}`,
      };
    }
    await recordAdminAction(deps, request, {
      level: test.ok ? 'info' : 'warning',
      connectionId: endpoint.id,
      message: `sent a test webhook: ${test.text}`,
    });
    return render(request, reply, { test });
  });
}
