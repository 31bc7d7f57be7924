/**
 * /admin/connections: add and edit CRM connections (credentials, API URL,
 * rate limit), test them against the CRM, refresh their tag list, and edit
 * the field mapping: each field the CRM's API lists ↔ a user field or meta key,
 * starting from the connector's defaults.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  changeConnection,
  createConnection,
  isSecretSetting,
  openConnectionSettings,
  refreshTagLabels,
} from '../../connections/connection-admin.js';
import { findConnection, listConnections } from '../../connections/connection.repository.js';
import { CONNECTOR_TYPES, connectorDefinition } from '../../connectors/index.js';
import type { ConnectorDefinition, CrmField } from '../../connectors/types.js';
import { AppError } from '../../errors.js';
import { USER_FIELDS } from '../../runs/rules.js';
import { escapeHtml } from '../../lib/html.js';
import { isJsonScalar } from '../../lib/json.js';
import { csrfProtectionHook, readForm, readQuery, sendPage, text } from '../pages/context.js';
import { adminFrame, messageOf, recordAdminAction, type AdminDeps } from './context.js';
import {
  adminPage,
  button,
  checkbox,
  errorNotice,
  notice,
  postForm,
  selectInput,
  table,
  textInput,
} from './layout.js';

/** Settings shown as their own inputs (the rest are credentials and connector options). */
const COMMON_KEYS = new Set([
  'field_map',
  'return_password',
  'return_password_field',
  'rate_limit_per_minute',
  'rate_limit_requests',
  'rate_limit_window_ms',
  'timeout_ms',
  'allow_insecure_http',
]);

/** The connector's own settings (credentials, region, …), from its schema. */
function connectorSettingKeys(definition: ConnectorDefinition): string[] {
  const schema = definition.settingsSchema;
  return schema instanceof z.ZodObject
    ? Object.keys(schema.shape).filter((key) => !COMMON_KEYS.has(key))
    : [];
}

const MAX_MAPPED_FIELDS = 500;

interface View {
  notice?: string | undefined;
  error?: string | undefined;
  tags?: Array<{ id: string; label: string }> | undefined;
}

export function registerConnectionPages(app: FastifyInstance, deps: AdminDeps): void {
  const list = async (request: FastifyRequest, reply: FastifyReply, view: View, status = 200) => {
    const frame = await adminFrame(deps, request, reply, '/admin/connections');
    const rows = (await listConnections(deps.db)).map((row) => [
      `<a href="/admin/connections/${encodeURIComponent(row.id)}">${escapeHtml(row.id)}</a>`,
      escapeHtml(row.type),
      escapeHtml(row.name),
      escapeHtml(row.api_url ?? connectorDefinition(row.type)?.defaultApiUrl ?? ''),
      row.is_default === 1 ? 'default' : '',
    ]);
    const add = `<form method="get" action="/admin/connections/new">${selectInput(
      'type',
      'CRM',
      CONNECTOR_TYPES.map((type) => [type, connectorDefinition(type)?.label ?? type]),
      'ontraport',
    )}${button('Add a connection…')}</form>`;
    const main = `${notice(view.notice)}${errorNotice(view.error)}${table(['id', 'CRM', 'name', 'API URL', ''], rows)}<section aria-labelledby="add-h"><h2 id="add-h">Add a connection</h2>${add}</section>`;
    return sendPage(reply, status, adminPage(frame, 'CRM connections', main));
  };

  const credentialInputs = (
    definition: ConnectorDefinition,
    current: Record<string, unknown>,
    editing: boolean,
  ) =>
    connectorSettingKeys(definition)
      .map((key) => {
        const secret = isSecretSetting(definition, key);
        const value = current[key];
        return textInput(`set_${key}`, key, secret || !isJsonScalar(value) ? '' : String(value), {
          type: secret ? 'password' : 'text',
          ...(secret && editing ? { hint: 'secret: leave empty to keep the stored value' } : {}),
        });
      })
      .join('');

  const newForm = async (
    request: FastifyRequest,
    reply: FastifyReply,
    type: string,
    view: View,
    status = 200,
  ) => {
    const definition = connectorDefinition(type);
    if (!definition) return list(request, reply, { error: `Unknown CRM type "${type}".` }, 404);
    const frame = await adminFrame(deps, request, reply, '/admin/connections');
    const form = postForm(
      '/admin/connections/new',
      frame.csrfToken,
      `<input type="hidden" name="type" value="${escapeHtml(type)}">${textInput('id', 'Connection id (used in /webhooks/<id>)', type, { required: true })}${textInput('name', 'Name', definition.label)}${textInput('api_url', `API URL${definition.defaultApiUrl ? ` (default ${definition.defaultApiUrl})` : ''}`, '', { type: 'url', hint: 'regional host, your CRM site (FunnelKit) or a test server' })}${credentialInputs(definition, {}, false)}${checkbox('make_default', 'Webhooks to the site root use this connection', false)}${button('Add connection')}`,
    );
    return sendPage(
      reply,
      status,
      adminPage(frame, `Add a ${definition.label} connection`, `${errorNotice(view.error)}${form}`),
    );
  };

  const edit = async (
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    view: View,
    status = 200,
  ) => {
    const row = await findConnection(deps.db, id);
    if (!row) return list(request, reply, { error: `No connection "${id}".` }, 404);
    const definition = connectorDefinition(row.type);
    if (!definition)
      return list(request, reply, { error: `Connection "${id}" has an unknown type.` }, 400);
    const frame = await adminFrame(deps, request, reply, '/admin/connections');
    const csrf = frame.csrfToken;
    const base = `/admin/connections/${encodeURIComponent(id)}`;
    let settings: Record<string, unknown> = {};
    let settingsError: string | undefined;
    try {
      settings = openConnectionSettings(deps.sealer, row);
    } catch (error) {
      settingsError = messageOf(error);
    }
    const limit = definition.defaultRateLimit;
    const details = postForm(
      base,
      csrf,
      `${textInput('name', 'Name', row.name)}${textInput('api_url', `API URL${definition.defaultApiUrl ? ` (empty: ${definition.defaultApiUrl})` : ''}`, row.api_url ?? '', { type: 'url' })}${credentialInputs(definition, settings, true)}${textInput('rate_limit_per_minute', `Rate limit: requests per minute (empty: the default, ${Math.round((limit.requests * 60_000) / limit.windowMs)})`, isJsonScalar(settings.rate_limit_per_minute) ? String(settings.rate_limit_per_minute) : '', { type: 'number' })}${checkbox('make_default', 'Webhooks to the site root use this connection', row.is_default === 1)}${button('Save connection')}`,
    );
    const actions = `<div class="row">${postForm(`${base}/test`, csrf, button('Test connection', 'class="secondary"'), { inline: true })}${postForm(`${base}/tags`, csrf, button('Refresh tag list', 'class="secondary"'), { inline: true })}</div>`;
    const tags = view.tags
      ? `<h3>Tags in the CRM (${view.tags.length})</h3><p>${view.tags.map((tag) => `<span class="status">${escapeHtml(tag.label)}</span>`).join(' ')}</p>`
      : '';

    let mapping = '';
    if (definition.contactSource === 'api') {
      let fields: CrmField[] = [];
      let fieldsError: string | undefined;
      try {
        fields = await (await deps.registry.resolve(id)).connector.listFields();
      } catch (error) {
        fieldsError = messageOf(error);
      }
      const stored = (settings.field_map ?? {}) as Record<string, string>;
      const effective = (fieldId: string) =>
        Object.hasOwn(stored, fieldId)
          ? (stored[fieldId] ?? '')
          : (definition.defaultFieldMap[fieldId] ?? '');
      const known = new Set(fields.map((field) => field.id));
      const extra = Object.keys({ ...definition.defaultFieldMap, ...stored }).filter(
        (fieldId) => !known.has(fieldId),
      );
      const rows = [
        ...fields.map((field) => ({
          id: field.id,
          label: `${field.label}${field.type ? ` (${field.type})` : ''}`,
        })),
        ...extra.map((fieldId) => ({ id: fieldId, label: '(not listed by the CRM)' })),
      ].slice(0, MAX_MAPPED_FIELDS);
      const mappingRows = rows.map((field, index) => [
        `<code>${escapeHtml(field.id)}</code><br><span class="hint">${escapeHtml(field.label)}</span>`,
        `<input type="hidden" name="field_${index}" value="${escapeHtml(field.id)}"><label class="hint" for="map-${index}">maps to</label> <input type="text" id="map-${index}" name="target_${index}" value="${escapeHtml(effective(field.id))}" list="user-fields" aria-label="${escapeHtml(field.id)} maps to" style="width:16rem">`,
        escapeHtml(definition.defaultFieldMap[field.id] ?? ''),
      ]);
      mapping = `<section aria-labelledby="map-h"><h2 id="map-h">Field mapping</h2><p class="hint">Each CRM field can fill a user field (${USER_FIELDS.map((f) => `<code>${f}</code>`).join(' ')}) or any other name, kept as user meta. Empty: not imported.</p>${fieldsError ? errorNotice(`The CRM's field list could not be read: ${fieldsError}`) : ''}<datalist id="user-fields">${USER_FIELDS.map((f) => `<option value="${f}">`).join('')}</datalist>${postForm(`${base}/mapping`, csrf, `<input type="hidden" name="count" value="${rows.length}">${table(['CRM field', 'user field or meta key', 'default'], mappingRows)}${button('Save mapping')}`)}</section>`;
    }
    const main = `${notice(view.notice)}${errorNotice(view.error)}${errorNotice(settingsError)}<p>${escapeHtml(definition.label)} · webhooks at <code>${escapeHtml(deps.publicUrl())}/webhooks/${escapeHtml(id)}</code></p>${actions}${tags}<section aria-labelledby="d-h"><h2 id="d-h">Connection</h2>${details}</section>${mapping}`;
    return sendPage(reply, status, adminPage(frame, `Connection ${id}`, main));
  };

  /** `set_<key>` inputs into settings; an empty secret keeps the stored one. */
  const settingsFrom = (
    definition: ConnectorDefinition,
    body: Record<string, unknown>,
    current: Record<string, unknown>,
  ): Record<string, unknown> => {
    const next = { ...current };
    for (const key of connectorSettingKeys(definition)) {
      const raw = body[`set_${key}`];
      if (raw !== undefined && typeof raw !== 'string')
        throw new AppError('INVALID_REQUEST', `unexpected value for "set_${key}"`);
      const value = (raw ?? '').trim();
      if (value === '') {
        if (!isSecretSetting(definition, key)) delete next[key];
        continue;
      }
      next[key] = value;
    }
    return next;
  };
  const bodyOf = (request: FastifyRequest) => (request.body ?? {}) as Record<string, unknown>;

  app.get('/admin/connections', async (request, reply) => list(request, reply, {}));

  app.get('/admin/connections/new', async (request, reply) => {
    const query = readQuery(request, { type: text(40) });
    return newForm(request, reply, query.type, {});
  });

  app.post('/admin/connections/new', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, {
      type: text(40),
      id: text(64),
      name: text(200),
      api_url: text(2000),
      make_default: text(3),
    });
    const definition = connectorDefinition(form.type);
    if (!definition)
      return list(request, reply, { error: `Unknown CRM type "${form.type}".` }, 400);
    try {
      await createConnection(deps, {
        id: form.id.trim(),
        type: form.type,
        name: form.name,
        apiUrl: form.api_url,
        settings: settingsFrom(definition, bodyOf(request), {}),
        makeDefault: form.make_default === 'on',
      });
    } catch (error) {
      await recordAdminAction(deps, request, {
        level: 'warning',
        message: `connection not added: ${messageOf(error)}`,
      });
      return newForm(request, reply, form.type, { error: messageOf(error) }, 400);
    }
    deps.registry.invalidate();
    await recordAdminAction(deps, request, {
      connectionId: form.id.trim(),
      message: `added the ${form.type} connection ${form.id.trim()}`,
    });
    return edit(request, reply, form.id.trim(), {
      notice: 'Connection added. Test it, then check the field mapping.',
    });
  });

  app.get('/admin/connections/:id', async (request, reply) =>
    edit(request, reply, (request.params as { id: string }).id, {}),
  );

  app.post('/admin/connections/:id', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const id = (request.params as { id: string }).id;
    const form = readForm(request, {
      name: text(200),
      api_url: text(2000),
      rate_limit_per_minute: text(12),
      make_default: text(3),
    });
    const row = await findConnection(deps.db, id);
    const definition = row && connectorDefinition(row.type);
    if (!definition) return list(request, reply, { error: `No connection "${id}".` }, 404);
    try {
      const rate = form.rate_limit_per_minute.trim();
      if (rate !== '' && !/^\d{1,9}$/.test(rate))
        throw new AppError(
          'INVALID_CONFIG',
          'the rate limit is a whole number of requests per minute',
        );
      await changeConnection(deps, id, {
        name: form.name,
        apiUrl: form.api_url,
        makeDefault: form.make_default === 'on',
        settings: (current) => {
          const next = settingsFrom(definition, bodyOf(request), current);
          if (rate === '') delete next.rate_limit_per_minute;
          else next.rate_limit_per_minute = Number(rate);
          return next;
        },
      });
    } catch (error) {
      await recordAdminAction(deps, request, {
        level: 'warning',
        connectionId: id,
        message: `connection ${id} not changed: ${messageOf(error)}`,
      });
      return edit(request, reply, id, { error: messageOf(error) }, 400);
    }
    deps.registry.invalidate();
    await recordAdminAction(deps, request, {
      connectionId: id,
      message: `changed the connection ${id}`,
    });
    return edit(request, reply, id, { notice: 'Connection saved.' });
  });

  app.post(
    '/admin/connections/:id/test',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      try {
        await (await deps.registry.resolve(id)).connector.testConnection();
      } catch (error) {
        await recordAdminAction(deps, request, {
          level: 'warning',
          connectionId: id,
          message: `tested the connection ${id}: ${messageOf(error)}`,
        });
        return edit(
          request,
          reply,
          id,
          { error: `Connection test failed: ${messageOf(error)}` },
          200,
        );
      }
      await recordAdminAction(deps, request, {
        level: 'info',
        connectionId: id,
        message: `tested the connection ${id}: OK`,
      });
      return edit(request, reply, id, {
        notice: 'Connection test passed: the CRM accepted the credentials.',
      });
    },
  );

  app.post(
    '/admin/connections/:id/tags',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      try {
        const tags = await refreshTagLabels(deps, await deps.registry.resolve(id));
        await recordAdminAction(deps, request, {
          level: 'info',
          connectionId: id,
          message: `refreshed the tag list of ${id} (${tags.length} tags)`,
        });
        return edit(request, reply, id, {
          notice: `Tag list refreshed: ${tags.length} tags.`,
          tags,
        });
      } catch (error) {
        await recordAdminAction(deps, request, {
          level: 'warning',
          connectionId: id,
          message: `tag list of ${id} not refreshed: ${messageOf(error)}`,
        });
        return edit(request, reply, id, {
          error: `The tag list could not be read: ${messageOf(error)}`,
        });
      }
    },
  );

  app.post(
    '/admin/connections/:id/mapping',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      const row = await findConnection(deps.db, id);
      const definition = row && connectorDefinition(row.type);
      if (!definition) return list(request, reply, { error: `No connection "${id}".` }, 404);
      const body = bodyOf(request);
      const count = Math.min(
        Number(readForm(request, { count: text(6) }).count) || 0,
        MAX_MAPPED_FIELDS,
      );
      // Maps, not objects: a CRM field may be called __proto__.
      const changes = new Map<string, string>();
      for (let index = 0; index < count; index += 1) {
        const field = body[`field_${index}`];
        const target = body[`target_${index}`];
        if (typeof field !== 'string' || typeof target !== 'string' || field === '') continue;
        changes.set(field, target.trim().slice(0, 200));
      }
      try {
        await changeConnection(deps, id, {
          settings: (current) => {
            const stored = new Map(
              Object.entries((current.field_map ?? {}) as Record<string, string>),
            );
            for (const [field, target] of changes) {
              // Only what differs from the connector's default is stored; '' removes a default mapping.
              const fallback = Object.hasOwn(definition.defaultFieldMap, field)
                ? definition.defaultFieldMap[field]
                : '';
              if (target === fallback) stored.delete(field);
              else stored.set(field, target);
            }
            return { ...current, field_map: Object.fromEntries(stored) };
          },
        });
      } catch (error) {
        return edit(request, reply, id, { error: messageOf(error) }, 400);
      }
      deps.registry.invalidate();
      const summary = [...changes]
        .filter(([, target]) => target !== '')
        .map(([field, target]) => `${field}→${target}`)
        .join(', ');
      await recordAdminAction(deps, request, {
        connectionId: id,
        message: `saved the field mapping of ${id}: ${summary || 'nothing mapped'}`,
      });
      return edit(request, reply, id, { notice: 'Field mapping saved.' });
    },
  );
}
