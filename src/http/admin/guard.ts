/**
 * The admin area's door: anonymous visitors are sent to log in (and come
 * back afterwards), signed-in users without an admin role get 403 and a line
 * in the activity log. Runs before every /admin route, before its CSRF check.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAdminRole } from '../../directory/roles.js';
import { listRoles } from '../../directory/role.repository.js';
import { ERRORS } from '../../errors.js';
import { recordActivity, seeOther, sendPage, settingsFor } from '../pages/context.js';
import { accountPage, links, paragraph } from '../pages/layout.js';
import { currentSession, loginUrl } from '../pages/session.js';
import type { AdminDeps } from './context.js';

export function adminGuard(deps: AdminDeps) {
  return async (
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> => {
    const session = await currentSession(deps, request);
    const path = request.url.split('?')[0] ?? '/admin';
    // A form's address has no page to come back to: after logging in, the admin area's first page.
    if (!session)
      return seeOther(reply, loginUrl(request.method === 'GET' ? request.url : '/admin'));
    if (!isAdminRole(session.user.role, await listRoles(deps.db))) {
      await recordActivity(deps, {
        level: 'warning',
        action: 'admin',
        userId: session.user.id,
        message: `Refused ${request.method} ${path}: ${session.user.login} holds no admin role`,
        data: { ip: request.ip },
      });
      const site = await settingsFor(deps, request);
      return sendPage(
        reply,
        ERRORS.ADMIN_ONLY.status,
        accountPage(
          site,
          'Administrators only',
          `${paragraph(`${ERRORS.ADMIN_ONLY.message}. You are logged in as ${session.user.login}.`)}\n${links([['/account', 'Your account']])}`,
        ),
      );
    }
    request.adminUser = session.user;
    return undefined;
  };
}
