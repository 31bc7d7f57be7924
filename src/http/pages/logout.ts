/**
 * /logout: GET only shows a button (a link preloaded by a browser or a
 * scanner must not log anyone out); POST ends the session.
 */
import type { FastifyInstance } from 'fastify';
import {
  csrfProtectionHook,
  csrfToken,
  recordActivity,
  sendPage,
  settingsFor,
  type PageDeps,
} from './context.js';
import { accountPage, buttonForm, links, paragraph } from './layout.js';
import { currentSession, endSession } from './session.js';

export function registerLogoutPages(app: FastifyInstance, deps: PageDeps): void {
  app.get('/logout', async (request, reply) => {
    const settings = await settingsFor(deps, request);
    const session = await currentSession(deps, request);
    if (!session)
      return sendPage(
        reply,
        200,
        accountPage(settings, 'You are not logged in', links([['/login', 'Log in']])),
      );
    const body = `${paragraph(`You are logged in as ${session.user.login}.`)}\n${buttonForm('/logout', csrfToken(deps, request, reply), 'Log out')}`;
    return sendPage(reply, 200, accountPage(settings, 'Log out', body));
  });

  app.post('/logout', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const settings = await settingsFor(deps, request);
    const session = await currentSession(deps, request);
    await endSession(deps, request, reply);
    if (session)
      await recordActivity(deps, {
        level: 'info',
        action: 'login',
        userId: session.user.id,
        message: 'Logged out',
        data: { ip: request.ip },
      });
    return sendPage(
      reply,
      200,
      accountPage(settings, 'You are logged out', links([['/login', 'Log in again']])),
    );
  });
}
