/**
 * /admin/settings (Webhook settings): what new users get (welcome e-mail by
 * default, username format, default role), Return Password per connection
 * with the CRM field chosen from the fields its API lists, the roles, and the
 * welcome e-mail templates with a preview.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { changeConnection } from '../../connections/connection-admin.js';
import { listConnections } from '../../connections/connection.repository.js';
import { connectorDefinition } from '../../connectors/index.js';
import type { CrmField } from '../../connectors/types.js';
import { addRole, removeRole, renameRole } from '../../directory/role-admin.js';
import { listRoles } from '../../directory/role.repository.js';
import { composeMail, senderOf } from '../../mail/compose.js';
import { TEMPLATE_PLACEHOLDERS } from '../../settings/template-defaults.js';
import { AppError } from '../../errors.js';
import {
  loadSettings,
  saveSetting,
  SETTINGS,
  USERNAME_FORMAT_NAMES,
  type Settings,
} from '../../settings/settings.js';
import { escapeHtml } from '../../lib/html.js';
import { csrfProtectionHook, readForm, sendPage, text } from '../pages/context.js';
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

interface SettingsView {
  notice?: string | undefined;
  error?: string | undefined;
  /** Templates as typed, kept when a preview or a refused save shows the page again. */
  templates?: Pick<Settings, 'welcome_email_subject' | 'welcome_email_text' | 'welcome_email_html'>;
  preview?: { subject: string; text: string; html: string } | undefined;
}

const TEMPLATE_FIELDS = {
  welcome_email_subject: text(1_000),
  welcome_email_text: text(50_000),
  welcome_email_html: text(50_000),
  action: text(20),
};

const checked = (value: string) => value === 'on';

/** The fields a connection's CRM lists, or why they could not be read. */
async function crmFields(
  deps: AdminDeps,
  id: string,
): Promise<{ fields: CrmField[]; mapped: string[]; error?: string }> {
  try {
    const connection = await deps.registry.resolve(id);
    const mapped = Object.keys(connection.fieldMap);
    try {
      return { fields: await connection.connector.listFields(), mapped };
    } catch (error) {
      return { fields: [], mapped, error: messageOf(error) };
    }
  } catch (error) {
    return { fields: [], mapped: [], error: messageOf(error) };
  }
}

export function registerSettingsPage(app: FastifyInstance, deps: AdminDeps): void {
  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    view: SettingsView,
    status = 200,
  ) => {
    const frame = await adminFrame(deps, request, reply, '/admin/settings');
    const csrf = frame.csrfToken;
    const settings = await loadSettings(deps.db, deps.settingOverrides);
    const roles = await listRoles(deps.db);
    const overridden = (name: string) =>
      deps.settingOverrides[name] !== undefined
        ? `<p class="hint">Set by the environment (CRM_BRIDGE_SETTING_${escapeHtml(name.toUpperCase())}); a value saved here is used only once that variable is removed.</p>`
        : '';

    const general = postForm(
      '/admin/settings/general',
      csrf,
      [
        checkbox(
          'send_welcome_email',
          'Send the welcome e-mail to every new user (as if send_notification=true)',
          settings.send_welcome_email,
        ),
        overridden('send_welcome_email'),
        selectInput(
          'username_format',
          'Username format (when no CRM field is mapped to user_login)',
          // WP Fusion's names; this service's earlier names stay accepted as the same formats.
          USERNAME_FORMAT_NAMES.filter(
            (format) => !['first_last', 'first_number'].includes(format),
          ).map((format) => [
            format,
            {
              email: 'E-mail address (email)',
              flname: 'First and last name: JaneDoe (flname)',
              fnamenum: 'First name and a number: Jane4711 (fnamenum)',
              first_last: 'First and last name (first_last, same as flname)',
              first_number: 'First name and a number (first_number, same as fnamenum)',
            }[format],
          ]),
          settings.username_format,
        ),
        overridden('username_format'),
        selectInput(
          'default_role',
          'Default role of new users',
          roles
            .filter((role) => !role.isAdmin)
            .map((role) => [role.slug, `${role.name} (${role.slug})`]),
          settings.default_role,
        ),
        overridden('default_role'),
        button('Save settings'),
      ].join('\n'),
    );

    const apiConnections = (await listConnections(deps.db)).filter(
      (row) => connectorDefinition(row.type)?.contactSource === 'api',
    );
    const returnPassword = await Promise.all(
      apiConnections.map(async (row) => {
        const stored = JSON.parse(row.settings) as {
          return_password?: boolean;
          return_password_field?: string;
        };
        const { fields, mapped, error } = await crmFields(deps, row.id);
        const current = stored.return_password_field ?? '';
        const fieldControl =
          fields.length > 0
            ? selectInput(
                'return_password_field',
                'CRM field to write the generated password to',
                [
                  ['', '— choose a field —'],
                  ...fields.map((field): [string, string] => [
                    field.id,
                    `${field.label} (${field.id})`,
                  ]),
                ],
                current,
              )
            : `${errorNotice(`The CRM's field list could not be read${error ? `: ${error}` : ''}. Enter the field id instead.`)}${textInput('return_password_field', 'CRM field id', current, { list: `mapped-${row.id}` })}<datalist id="mapped-${escapeHtml(row.id)}">${mapped.map((id) => `<option value="${escapeHtml(id)}">`).join('')}</datalist>`;
        return `<h3>${escapeHtml(row.name)} <small>(${escapeHtml(row.id)})</small></h3>${postForm(
          '/admin/settings/return-password',
          csrf,
          `<input type="hidden" name="connection" value="${escapeHtml(row.id)}">${checkbox(`return_password`, 'Return Password: write generated passwords to the CRM', stored.return_password === true)}${fieldControl}${button('Save Return Password')}`,
        )}`;
      }),
    );

    const roleRows = roles.map((role) => [
      `<code>${escapeHtml(role.slug)}</code>`,
      role.isAdmin
        ? `${escapeHtml(role.name)} <span class="status">admin · protected</span>`
        : postForm(
            '/admin/settings/roles/rename',
            csrf,
            `<input type="hidden" name="slug" value="${escapeHtml(role.slug)}"><label class="hint" for="rn-${escapeHtml(role.slug)}">Name</label> <input type="text" id="rn-${escapeHtml(role.slug)}" name="name" value="${escapeHtml(role.name)}" style="width:14rem"> ${button('Rename', 'class="secondary"')}`,
            { inline: true },
          ),
      role.isAdmin
        ? ''
        : postForm(
            '/admin/settings/roles/remove',
            csrf,
            `<input type="hidden" name="slug" value="${escapeHtml(role.slug)}">${button(`Remove ${role.slug}`, 'class="danger"')}`,
            { inline: true },
          ),
    ]);
    const addRoleForm = postForm(
      '/admin/settings/roles/add',
      csrf,
      `<div class="row">${textInput('slug', 'New role slug', '', { hint: 'lower-case letters, digits, _ and -' })}${textInput('name', 'Name', '')}</div>${button('Add role')}`,
    );

    const templates = view.templates ?? settings;
    const templateForm = postForm(
      '/admin/settings/welcome-email',
      csrf,
      `${textInput('welcome_email_subject', 'Subject', templates.welcome_email_subject)}
<div class="field"><label for="f-welcome_email_text">Plain-text body</label><textarea id="f-welcome_email_text" name="welcome_email_text">${escapeHtml(templates.welcome_email_text)}</textarea></div>
<div class="field"><label for="f-welcome_email_html">HTML body</label><textarea id="f-welcome_email_html" name="welcome_email_html">${escapeHtml(templates.welcome_email_html)}</textarea></div>
<p class="hint">Placeholders: ${TEMPLATE_PLACEHOLDERS.map((name) => `<code>{${name}}</code>`).join(' ')}</p>
<div class="row"><button type="submit" name="action" value="preview" class="secondary">Preview</button><button type="submit" name="action" value="save">Save templates</button></div>`,
    );
    const preview = view.preview
      ? `<section aria-labelledby="preview-h"><h3 id="preview-h">Preview (for a sample user)</h3><p><strong>Subject:</strong> ${escapeHtml(view.preview.subject)}</p><pre>${escapeHtml(view.preview.text)}</pre><iframe title="HTML preview" sandbox srcdoc="${escapeHtml(view.preview.html)}"></iframe></section>`
      : '';

    const main = `${notice(view.notice)}${errorNotice(view.error)}
<section aria-labelledby="new-h"><h2 id="new-h">New users</h2>${general}</section>
<section aria-labelledby="rp-h"><h2 id="rp-h">Return Password</h2><p class="hint">When a user is created with a generated password, write it to a CRM field, so the CRM's own e-mails can include it.</p>${returnPassword.join('') || '<p>No CRM connection with an API: add one under CRM connections.</p>'}</section>
<section aria-labelledby="roles-h"><h2 id="roles-h">Roles</h2>${table(['slug', 'name', ''], roleRows)}${addRoleForm}</section>
<section aria-labelledby="mail-h"><h2 id="mail-h">Welcome e-mail</h2>${templateForm}${preview}</section>`;
    return sendPage(reply, status, adminPage(frame, 'Webhook settings', main));
  };

  /** Runs a change; a refused one shows the page again with why (400), never a 500. */
  const attempt = async (
    request: FastifyRequest,
    reply: FastifyReply,
    change: () => Promise<string>,
    keep: Partial<SettingsView> = {},
  ) => {
    try {
      const done = await change();
      await recordAdminAction(deps, request, { message: done });
      return render(request, reply, { ...keep, notice: `Saved: ${done}.` });
    } catch (error) {
      await recordAdminAction(deps, request, {
        level: 'warning',
        message: `refused: ${messageOf(error)}`,
      });
      return render(request, reply, { ...keep, error: messageOf(error) }, 400);
    }
  };

  app.get('/admin/settings', async (request, reply) => render(request, reply, {}));

  app.post(
    '/admin/settings/general',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, {
        send_welcome_email: text(3),
        username_format: text(40),
        default_role: text(64),
      });
      return attempt(request, reply, async () => {
        const at = deps.clock.now().toISOString();
        const welcome = checked(form.send_welcome_email) ? 'true' : 'false';
        await saveSetting(deps.db, 'username_format', form.username_format, at);
        await saveSetting(deps.db, 'default_role', form.default_role, at);
        await saveSetting(deps.db, 'send_welcome_email', welcome, at);
        return `send_welcome_email=${welcome}, username_format=${form.username_format}, default_role=${form.default_role}`;
      });
    },
  );

  app.post(
    '/admin/settings/return-password',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, {
        connection: text(64),
        return_password: text(3),
        return_password_field: text(200),
      });
      return attempt(request, reply, async () => {
        const enabled = checked(form.return_password);
        const field = form.return_password_field.trim();
        if (enabled && field === '')
          throw new Error('choose the CRM field Return Password writes to');
        await changeConnection(deps, form.connection, {
          settings: (current) => ({
            ...current,
            return_password: enabled,
            return_password_field: field,
          }),
        });
        deps.registry.invalidate();
        return `Return Password of ${form.connection} ${enabled ? `on, field ${field}` : 'off'}`;
      });
    },
  );

  app.post(
    '/admin/settings/roles/add',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, { slug: text(64), name: text(100) });
      return attempt(request, reply, async () => {
        await addRole(
          deps.db,
          deps.settingOverrides,
          { slug: form.slug, name: form.name, isAdmin: false },
          { replace: false },
        );
        return `role ${form.slug.trim()} added`;
      });
    },
  );

  app.post(
    '/admin/settings/roles/rename',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, { slug: text(64), name: text(100) });
      return attempt(request, reply, async () => {
        await renameRole(deps.db, form.slug, form.name);
        return `role ${form.slug} renamed to "${form.name.trim()}"`;
      });
    },
  );

  app.post(
    '/admin/settings/roles/remove',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, { slug: text(64) });
      return attempt(request, reply, async () => {
        await removeRole(deps.db, deps.settingOverrides, form.slug);
        return `role ${form.slug} removed`;
      });
    },
  );

  app.post(
    '/admin/settings/welcome-email',
    { preHandler: csrfProtectionHook },
    async (request, reply) => {
      const form = readForm(request, TEMPLATE_FIELDS);
      const templates = {
        welcome_email_subject: form.welcome_email_subject,
        welcome_email_text: form.welcome_email_text,
        welcome_email_html: form.welcome_email_html,
      };
      if (form.action === 'preview') {
        try {
          const settings = await loadSettings(deps.db, deps.settingOverrides);
          const base = deps.publicUrl();
          const mail = composeMail(
            'welcome',
            { ...settings, ...templates },
            { login: 'jane.doe', email: 'jane@example.com', first_name: 'Jane', last_name: 'Doe' },
            {
              setPasswordUrl: `${base}/set-password?token=EXAMPLE`,
              loginUrl: `${base}/login`,
              siteUrl: settings.site_url || base,
            },
            settings.password_link_hours * 3_600_000,
            senderOf(settings, base),
          );
          return render(request, reply, {
            templates,
            preview: { subject: mail.subject, text: mail.text, html: mail.html },
          });
        } catch (error) {
          return render(request, reply, { templates, error: messageOf(error) }, 400);
        }
      }
      return attempt(
        request,
        reply,
        async () => {
          const at = deps.clock.now().toISOString();
          // All three are checked before any is saved, so a typo in one leaves the others as they were.
          for (const [name, value] of Object.entries(templates)) {
            const problem = SETTINGS[name as keyof typeof templates].schema.safeParse(value).error;
            if (problem)
              throw new AppError(
                'INVALID_SETTING',
                `${name}: ${problem.issues[0]?.message ?? 'invalid'}`,
              );
          }
          for (const [name, value] of Object.entries(templates))
            await saveSetting(deps.db, name, value, at);
          return 'welcome e-mail templates';
        },
        { templates },
      );
    },
  );
}
