/**
 * GET /account (who is logged in, with their tags) and /account/password,
 * where users change their password, or choose their own after logging in
 * with a generated one.
 */
import type { FastifyInstance } from 'fastify';
import { changePassword, verifyCurrentPassword } from '../../accounts/password-change.js';
import { hashPassword, verifyPassword } from '../../directory/passwords.js';
import { listRoles } from '../../directory/role.repository.js';
import { listUserTags } from '../../directory/user.repository.js';
import type { Settings } from '../../settings/settings.js';
import type { UserRow } from '../../storage/schema.js';
import { escapeHtml } from '../../lib/html.js';
import {
  csrfProtectionHook,
  csrfToken,
  PASSWORD_INPUT_MAX,
  readForm,
  readQuery,
  recordActivity,
  seeOther,
  sendPage,
  settingsFor,
  text,
  type PageDeps,
} from './context.js';
import {
  accountPage,
  buttonForm,
  links,
  paragraph,
  renderForm,
  statusMessage,
  waitInWords,
  type FieldErrors,
} from './layout.js';
import { hasErrors, newPasswordErrors, newPasswordFields } from './new-password.js';
import { safeRedirect } from './redirects.js';
import { currentSession, loginUrl } from './session.js';

const CHANGED_NOTICE = 'password-changed';

async function accountView(
  deps: PageDeps,
  user: UserRow,
  settings: Settings,
  token: string,
  notice: boolean,
): Promise<string> {
  const [tags, roles] = await Promise.all([listUserTags(deps.db, user.id), listRoles(deps.db)]);
  const role = roles.find((candidate) => candidate.slug === user.role)?.name ?? user.role;
  const tagList =
    tags.length === 0
      ? 'None'
      : `<ul>${tags.map((tag) => `<li>${escapeHtml(tag.label)}</li>`).join('')}</ul>`;
  const rows: Array<[string, string]> = [
    [
      'Name',
      escapeHtml(user.display_name || `${user.first_name} ${user.last_name}`.trim() || user.login),
    ],
    ['Username', escapeHtml(user.login)],
    ['E-mail address', escapeHtml(user.email)],
    ['Role', escapeHtml(role)],
    ['Tags', tagList],
  ];
  return accountPage(
    settings,
    'Your account',
    [
      notice ? statusMessage('Your password was changed.') : '',
      `<dl>${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>`,
      links([
        ...(settings.site_url ? [[settings.site_url, `Go to ${settings.site_name}`] as const] : []),
        ['/account/password', 'Change your password'],
      ]),
      buttonForm('/logout', token, 'Log out'),
    ]
      .filter((part) => part !== '')
      .join('\n'),
  );
}

interface PasswordView {
  forced: boolean;
  redirectTo: string | undefined;
  errors: FieldErrors;
  formError?: string | undefined;
}

function passwordPage(settings: Settings, token: string, view: PasswordView): string {
  const current = view.forced
    ? []
    : [
        {
          name: 'current_password',
          label: 'Current password',
          type: 'password' as const,
          autocomplete: 'current-password',
          errors: view.errors.current_password,
        },
      ];
  const form = renderForm({
    action: '/account/password',
    csrfToken: token,
    hidden: { redirect_to: view.redirectTo },
    error: view.formError,
    fields: [...current, ...newPasswordFields(settings, view.errors)],
    submit: 'Save password',
  });
  const intro = view.forced
    ? paragraph('Your password was generated for you; choose your own to continue.')
    : links([['/account', 'Back to your account']]);
  return accountPage(
    settings,
    view.forced ? 'Choose your password' : 'Change your password',
    `${intro}\n${form}`,
  );
}

export function registerAccountSettingsPages(app: FastifyInstance, deps: PageDeps): void {
  app.get('/account', async (request, reply) => {
    const query = readQuery(request, { notice: text(40) });
    const settings = await settingsFor(deps, request);
    const session = await currentSession(deps, request);
    if (!session) return seeOther(reply, loginUrl('/account'));
    if (session.user.password_generated === 1) return seeOther(reply, '/account/password');
    const html = await accountView(
      deps,
      session.user,
      settings,
      csrfToken(deps, request, reply),
      query.notice === CHANGED_NOTICE,
    );
    return sendPage(reply, 200, html);
  });

  app.get('/account/password', async (request, reply) => {
    const query = readQuery(request, { redirect_to: text(2000) });
    const settings = await settingsFor(deps, request);
    const session = await currentSession(deps, request);
    if (!session) return seeOther(reply, loginUrl('/account/password'));
    const view = {
      forced: session.user.password_generated === 1,
      redirectTo: safeRedirect(query.redirect_to, settings.site_url),
      errors: {},
    };
    return sendPage(reply, 200, passwordPage(settings, csrfToken(deps, request, reply), view));
  });

  app.post('/account/password', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, {
      current_password: text(PASSWORD_INPUT_MAX),
      password: text(PASSWORD_INPUT_MAX),
      confirm: text(PASSWORD_INPUT_MAX),
      redirect_to: text(2000),
    });
    const settings = await settingsFor(deps, request);
    const session = await currentSession(deps, request);
    if (!session) return seeOther(reply, loginUrl('/account/password'));
    const { user } = session;
    const forced = user.password_generated === 1;
    const redirectTo = safeRedirect(form.redirect_to, settings.site_url);
    const answer = (status: number, errors: FieldErrors, formError?: string) =>
      sendPage(
        reply,
        status,
        passwordPage(settings, csrfToken(deps, request, reply), {
          forced,
          redirectTo,
          errors,
          formError,
        }),
      );

    const errors = newPasswordErrors(form, user, settings);
    if (forced) {
      if (
        !errors.password &&
        (await verifyPassword(form.password, user.password_hash, deps.sealer))
      ) {
        errors.password = [
          'Choose a password of your own, not the one that was generated for you.',
        ];
      }
    } else {
      const current = await verifyCurrentPassword(
        { db: deps.db, clock: deps.clock, settings, keyring: deps.sealer },
        user,
        form.current_password,
      );
      if (!current.ok && current.reason === 'rate_limited') {
        reply.header('retry-after', String(current.retryAfterSeconds));
        return answer(
          429,
          errors,
          `Too many wrong passwords. Please try again in ${waitInWords(current.retryAfterSeconds)}.`,
        );
      }
      if (!current.ok)
        errors.current_password = [
          form.current_password === ''
            ? 'Enter your current password.'
            : 'Your current password is not correct.',
        ];
      else if (form.password === form.current_password)
        errors.password = ['Your new password must differ from your current one.'];
    }
    if (hasErrors(errors)) return answer(422, errors);

    const passwordHash = await hashPassword(form.password);
    await changePassword(
      deps.db,
      { userId: user.id, passwordHash, keepSessionSecret: session.secret },
      deps.clock.now(),
    );
    const message = forced ? 'Password chosen after the first login' : 'Password changed';
    await recordActivity(deps, {
      level: 'info',
      action: 'password',
      userId: user.id,
      message,
      data: { ip: request.ip },
    });
    return seeOther(
      reply,
      redirectTo ?? (settings.site_url || `/account?notice=${CHANGED_NOTICE}`),
    );
  });
}
