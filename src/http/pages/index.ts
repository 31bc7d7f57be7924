/**
 * The account pages: login, logout, set-password, lost-password, account.
 * Plain HTML forms that work without JavaScript, each protected by a CSRF
 * token, with strict security headers, and errors shown as pages, never
 * as stack traces.
 */
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, isAppError } from '../../errors.js';
import { redactUrl } from '../../lib/secrets.js';
import { loadSettings, SETTINGS } from '../../settings/settings.js';
import type { ReplayTarget } from '../../inbox/replay.js';
import { registerAdminPages } from '../admin/index.js';
import type { AppDeps } from '../app-deps.js';
import { registerAccountSettingsPages } from './account.js';
import { pageSecurityPolicy, recordActivity, sendPage, type PageDeps } from './context.js';
import { accountPage, links, paragraph, type SiteSettings } from './layout.js';
import { registerLoginPages } from './login.js';
import { registerLogoutPages } from './logout.js';
import { registerLostPasswordPages } from './lost-password.js';
import { registerSetPasswordPages } from './set-password.js';

/**
 * The CSRF cookie's name. Under an https public URL it has the `__Host-`
 * prefix: browsers then accept it only Secure, for Path=/ and without a
 * Domain, so a neighbouring subdomain cannot plant one.
 */
function csrfCookieName(https: boolean): string {
  return https ? '__Host-crm_bridge_csrf' : 'crm_bridge_csrf';
}

/** Used when the error is that the settings could not be read. */
const FALLBACK_SITE: SiteSettings = {
  site_name: SETTINGS.site_name.default,
  site_url: SETTINGS.site_url.default,
};

/** The token is read from the form field only; a repeated field is no token. */
function formToken(request: FastifyRequest): string | undefined {
  const body = request.body;
  if (typeof body !== 'object' || body === null || !('_csrf' in body)) return undefined;
  return typeof body._csrf === 'string' ? body._csrf : undefined;
}

function errorPage(
  reply: FastifyReply,
  site: SiteSettings,
  status: number,
  title: string,
  text: string,
): FastifyReply {
  return sendPage(
    reply,
    status,
    accountPage(site, title, `${paragraph(text)}\n${links([['/login', 'Go to the login page']])}`),
  );
}

export async function registerAccountPages(
  app: FastifyInstance,
  deps: AppDeps,
  replay: ReplayTarget,
): Promise<void> {
  const pageDeps: PageDeps = deps;
  // Only the pages use cookies: webhooks and the API do not pay for parsing them.
  // Signed, so a cookie someone else planted (with a secret they know, and tokens to match) is refused.
  // The key is derived from the encryption key, so every process that shares it signs alike and
  // a database dump alone cannot forge cookies.
  await app.register(cookie, {
    secret: deps.sealer.digest('crm-bridge cookie signing key').toString('base64url'),
  });
  await app.register(csrf, {
    cookieKey: csrfCookieName(deps.publicUrl().startsWith('https:')),
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/' },
    getToken: formToken,
  });
  app.decorateRequest('pageSettings', undefined);

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header(
      'content-security-policy',
      pageSecurityPolicy(request.pageSettings?.site_url ?? ''),
    );
    return payload;
  });

  /** Refused input leaves a line in the activity log (the what, never the values). */
  const refused = (request: FastifyRequest, why: string) =>
    recordActivity(pageDeps, {
      level: 'notice',
      action: 'page',
      message: `Refused ${request.method} ${request.url.split('?')[0]}: ${why}`,
      data: { ip: request.ip },
    }).catch((error: unknown) =>
      request.log.warn({ err: error }, 'could not write the activity log'),
    );

  app.setErrorHandler(
    async (error: Error & { code?: string; statusCode?: number }, request, reply) => {
      const site =
        request.pageSettings ??
        (await loadSettings(deps.db, deps.settingOverrides).catch(() => undefined)) ??
        FALLBACK_SITE;
      if (error.code?.startsWith('FST_CSRF_')) {
        await refused(request, 'missing or stale form token');
        return errorPage(
          reply,
          site,
          ERRORS.CSRF_FAILED.status,
          'The form has expired',
          `${ERRORS.CSRF_FAILED.message}.`,
        );
      }
      if (isAppError(error) && error.status < 500) {
        if (error.code === 'INVALID_REQUEST') await refused(request, error.message);
        return errorPage(
          reply,
          site,
          error.status,
          ERRORS[error.code].message,
          `${error.message}.`,
        );
      }
      if (error.statusCode === 413) {
        await refused(request, 'the form is too large');
        return errorPage(
          reply,
          site,
          413,
          'The form is too large',
          'Please shorten what you entered and try again.',
        );
      }
      if (error.statusCode !== undefined && error.statusCode < 500) {
        await refused(request, error.message);
        return errorPage(
          reply,
          site,
          error.statusCode,
          ERRORS.INVALID_REQUEST.message,
          'The form could not be read. Reload the page and try again.',
        );
      }
      request.log.error({ err: error, url: redactUrl(request.url) }, 'account page failed');
      reply.header('retry-after', '30');
      return errorPage(
        reply,
        site,
        503,
        'Temporarily unavailable',
        'Something went wrong on our side. Please try again in a moment.',
      );
    },
  );

  registerLoginPages(app, pageDeps);
  registerLogoutPages(app, pageDeps);
  registerAccountSettingsPages(app, pageDeps);
  registerSetPasswordPages(app, pageDeps);
  registerLostPasswordPages(app, pageDeps);
  await registerAdminPages(app, { ...deps, replay });
}
