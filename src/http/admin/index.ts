/**
 * The admin area at /admin: server-rendered pages for users holding an admin
 * role, each form with a CSRF token, each action in the activity log with
 * who did it. Registered inside the account pages' scope, so it shares their
 * cookies, CSRF protection and error pages.
 */
import type { FastifyInstance } from 'fastify';
import { ADMIN_SCRIPT } from './assets.js';
import { registerConnectionPages } from './connections.js';
import { registerDashboardPage } from './dashboard.js';
import type { AdminDeps } from './context.js';
import { registerGeneralPage } from './general.js';
import { adminGuard } from './guard.js';
import { registerImportPages } from './import.js';
import { registerLogPage } from './log.js';
import { registerSettingsPage } from './settings.js';
import { registerUserPages } from './users.js';
import { registerWebhookPages } from './webhooks.js';

/** Scripts only from this service; nothing else may load (the welcome preview frame is srcdoc, sandboxed); the script may fetch only from here (import progress). */
const ADMIN_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export async function registerAdminPages(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.decorateRequest('adminUser', undefined);
  await app.register((admin, _options, done) => {
    admin.addHook('preHandler', adminGuard(deps));
    admin.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', ADMIN_CSP);
      return payload;
    });
    admin.get('/admin/assets/admin.js', async (_request, reply) =>
      reply.type('text/javascript; charset=utf-8').send(ADMIN_SCRIPT),
    );
    registerGeneralPage(admin, deps);
    registerDashboardPage(admin, deps);
    registerSettingsPage(admin, deps);
    registerConnectionPages(admin, deps);
    registerLogPage(admin, deps);
    registerWebhookPages(admin, deps);
    registerUserPages(admin, deps);
    registerImportPages(admin, deps);
    done();
  });
}
