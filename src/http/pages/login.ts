/** GET/POST /login: username or e-mail and password, then a session cookie. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate, LOGIN_WINDOW_MS } from '../../accounts/authenticate.js';
import { hitLimit } from '../../accounts/rate-limits.js';
import { ERRORS } from '../../errors.js';
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
import { accountPage, links, renderForm, waitInWords, type SiteSettings } from './layout.js';
import { destinationAfterLogin, safeRedirect } from './redirects.js';
import { currentSession, startSession } from './session.js';

const LOGIN_FIELDS = {
  identifier: text(320),
  password: text(PASSWORD_INPUT_MAX),
  redirect_to: text(2000),
};

interface LoginView {
  identifier?: string | undefined;
  redirectTo?: string | undefined;
  error?: string | undefined;
}

function loginPage(site: SiteSettings, token: string, view: LoginView): string {
  const form = renderForm({
    action: '/login',
    csrfToken: token,
    hidden: { redirect_to: view.redirectTo },
    error: view.error,
    fields: [
      {
        name: 'identifier',
        label: 'Username or e-mail address',
        autocomplete: 'username',
        value: view.identifier,
      },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' },
    ],
    submit: 'Log in',
  });
  return accountPage(
    site,
    'Log in',
    `${form}\n${links([['/lost-password', 'Forgot your password?']])}`,
  );
}

/** Where a user goes once logged in: first to choose a password if theirs was generated. */
function nextStep(
  passwordGenerated: boolean,
  redirectTo: string | undefined,
  siteUrl: string,
): string {
  if (!passwordGenerated) return destinationAfterLogin(redirectTo, siteUrl);
  return redirectTo
    ? `/account/password?redirect_to=${encodeURIComponent(redirectTo)}`
    : '/account/password';
}

export function registerLoginPages(app: FastifyInstance, deps: PageDeps): void {
  const render = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    site: SiteSettings,
    view: LoginView,
  ) => sendPage(reply, status, loginPage(site, csrfToken(deps, request, reply), view));

  app.get('/login', async (request, reply) => {
    const query = readQuery(request, { redirect_to: text(2000), username: text(320) });
    const site = await settingsFor(deps, request);
    const redirectTo = safeRedirect(query.redirect_to, site.site_url);
    if (await currentSession(deps, request)) return seeOther(reply, redirectTo ?? '/account');
    return render(request, reply, 200, site, { identifier: query.username, redirectTo });
  });

  app.post('/login', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, LOGIN_FIELDS);
    const site = await settingsFor(deps, request);
    const redirectTo = safeRedirect(form.redirect_to, site.site_url);
    const view = { identifier: form.identifier, redirectTo };
    if (form.identifier.trim() === '' || form.password === '') {
      return render(request, reply, 422, site, {
        ...view,
        error: 'Enter your username or e-mail address and your password.',
      });
    }
    const ip = request.ip;
    const outcome = await authenticate(
      { db: deps.db, clock: deps.clock, settings: site, keyring: deps.sealer },
      { identifier: form.identifier, password: form.password, ip },
    );
    if (outcome.ok) {
      const { user } = outcome;
      await startSession(deps, request, reply, user, site);
      await recordActivity(deps, {
        level: 'info',
        action: 'login',
        userId: user.id,
        message: 'Logged in',
        data: { ip },
      });
      return seeOther(reply, nextStep(user.password_generated === 1, redirectTo, site.site_url));
    }
    const { user } = outcome;
    if (outcome.reason === 'rate_limited') {
      // One warning per address and account per window: a flood of refused attempts must not flood the log.
      const noted = await hitLimit(
        deps.db,
        `login:refused:${ip}:${user?.id ?? ''}`,
        LOGIN_WINDOW_MS,
        deps.clock.now(),
      );
      if (noted.count === 1) {
        await recordActivity(deps, {
          level: 'warning',
          action: 'login',
          userId: user?.id,
          message: 'Login refused: too many attempts',
          data: { ip },
        });
      }
      reply.header('retry-after', String(outcome.retryAfterSeconds));
      const wait = waitInWords(outcome.retryAfterSeconds);
      return render(request, reply, 429, site, {
        ...view,
        error: `Too many login attempts. Please try again in ${wait}.`,
      });
    }
    // The typed name is not logged: people type their password into it by mistake.
    const message = user
      ? 'Failed login: wrong password'
      : 'Failed login: unknown username or e-mail';
    await recordActivity(deps, {
      level: 'notice',
      action: 'login',
      userId: user?.id,
      message,
      data: { ip },
    });
    return render(request, reply, 401, site, {
      ...view,
      error: ERRORS.INVALID_CREDENTIALS.message,
    });
  });
}
