/**
 * GET/POST /set-password?token=…: the link of the welcome and reset
 * e-mails. Opening the link spends nothing (mail scanners open links before
 * people do); only the submitted form uses the token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setPasswordWithToken } from '../../accounts/password-change.js';
import { lookupPasswordToken } from '../../accounts/password-tokens.repository.js';
import { hashPassword } from '../../directory/passwords.js';
import { findUserById } from '../../directory/user.repository.js';
import type { Settings } from '../../settings/settings.js';
import type { TokenPurpose, UserRow } from '../../storage/schema.js';
import {
  csrfProtectionHook,
  csrfToken,
  PASSWORD_INPUT_MAX,
  readForm,
  readQuery,
  recordActivity,
  sendPage,
  settingsFor,
  text,
  type PageDeps,
} from './context.js';
import {
  accountPage,
  links,
  paragraph,
  renderForm,
  type FieldErrors,
  type SiteSettings,
} from './layout.js';
import { hasErrors, newPasswordErrors, newPasswordFields } from './new-password.js';

// Real tokens are 43 characters; longer input is refused before any lookup.
const TOKEN_MAX = 2000;
const NEW_LINK: readonly [string, string] = ['/lost-password', 'Request a new link'];

type LinkProblem = 'missing' | 'unknown' | 'expired' | 'used';

const LINK_PROBLEMS: Record<
  LinkProblem,
  { status: number; title: string; text: string; links: ReadonlyArray<readonly [string, string]> }
> = {
  missing: {
    status: 400,
    title: 'This link is not valid',
    text: 'The link is incomplete. Open it again from your e-mail, or request a new one.',
    links: [NEW_LINK],
  },
  unknown: {
    status: 404,
    title: 'This link is not valid',
    text: 'The link may have been copied incompletely, or replaced by a newer one.',
    links: [NEW_LINK],
  },
  expired: {
    status: 410,
    title: 'This link has expired',
    text: 'Links to set a password work for a limited time. Request a new one.',
    links: [NEW_LINK],
  },
  used: {
    status: 410,
    title: 'This link was already used',
    text: 'Each link sets a password only once. Log in with the password you chose, or request a new link.',
    links: [['/login', 'Log in'], NEW_LINK],
  },
};

function linkProblem(reply: FastifyReply, site: SiteSettings, problem: LinkProblem): FastifyReply {
  const entry = LINK_PROBLEMS[problem];
  return sendPage(
    reply,
    entry.status,
    accountPage(site, entry.title, `${paragraph(entry.text)}\n${links(entry.links)}`),
  );
}

function setPasswordPage(
  settings: Settings,
  token: string,
  view: { rawToken: string; user: UserRow; errors: FieldErrors },
): string {
  const form = renderForm({
    action: '/set-password',
    csrfToken: token,
    hidden: { token: view.rawToken },
    fields: [
      // Read-only, so password managers store the new password under the right name.
      {
        name: 'username',
        label: 'Username',
        autocomplete: 'username',
        value: view.user.login,
        readonly: true,
      },
      ...newPasswordFields(settings, view.errors),
    ],
    submit: 'Set password',
  });
  return accountPage(
    settings,
    'Choose your password',
    `${paragraph(`For ${view.user.login}.`)}\n${form}`,
  );
}

const SET_VIA: Record<TokenPurpose, string> = {
  welcome: 'Password set via welcome link',
  password_reset: 'Password set via reset link',
};

export function registerSetPasswordPages(app: FastifyInstance, deps: PageDeps): void {
  /** The user a token may set the password of, or the reason it may not. */
  const tokenUser = async (
    rawToken: string,
  ): Promise<{ user: UserRow; purpose: TokenPurpose } | LinkProblem> => {
    if (rawToken === '') return 'missing';
    const lookup = await lookupPasswordToken(deps.db, rawToken, deps.clock.now());
    if (lookup.status !== 'valid') return lookup.status;
    const user = await findUserById(deps.db, lookup.userId);
    return user ? { user, purpose: lookup.purpose } : 'unknown';
  };
  const render = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    settings: Settings,
    view: { rawToken: string; user: UserRow; errors: FieldErrors },
  ) => sendPage(reply, status, setPasswordPage(settings, csrfToken(deps, request, reply), view));

  app.get('/set-password', async (request, reply) => {
    const query = readQuery(request, { token: text(TOKEN_MAX) });
    const settings = await settingsFor(deps, request);
    const found = await tokenUser(query.token);
    if (typeof found === 'string') return linkProblem(reply, settings, found);
    return render(request, reply, 200, settings, {
      rawToken: query.token,
      user: found.user,
      errors: {},
    });
  });

  app.post('/set-password', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, {
      token: text(TOKEN_MAX),
      password: text(PASSWORD_INPUT_MAX),
      confirm: text(PASSWORD_INPUT_MAX),
    });
    const settings = await settingsFor(deps, request);
    const found = await tokenUser(form.token);
    if (typeof found === 'string') return linkProblem(reply, settings, found);
    const { user, purpose } = found;
    const errors = newPasswordErrors(form, user, settings);
    if (hasErrors(errors))
      return render(request, reply, 422, settings, { rawToken: form.token, user, errors });

    // Hashing takes a while: done before the transaction, which a second submission may win meanwhile.
    const passwordHash = await hashPassword(form.password);
    const outcome = await setPasswordWithToken(deps.db, form.token, passwordHash, deps.clock.now());
    if (outcome.status !== 'done') return linkProblem(reply, settings, outcome.status);
    await recordActivity(deps, {
      level: 'info',
      action: 'password',
      userId: outcome.userId,
      message: SET_VIA[purpose],
      data: { ip: request.ip },
    });
    const body = [
      paragraph('You can now log in with your new password.'),
      links([[`/login?username=${encodeURIComponent(user.login)}`, 'Log in']]),
    ];
    return sendPage(reply, 200, accountPage(settings, 'Your password is set', body.join('\n')));
  });
}
