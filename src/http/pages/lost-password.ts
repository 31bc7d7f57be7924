/**
 * GET/POST /lost-password: e-mails a reset link. The answer is the same
 * page whether or not the account exists and whether or not a mail was
 * queued, so the form cannot be used to find out who has an account.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestPasswordReset } from '../../accounts/password-reset.js';
import { formatDuration } from '../../mail/compose.js';
import type { Settings } from '../../settings/settings.js';
import {
  csrfProtectionHook,
  csrfToken,
  readForm,
  sendPage,
  settingsFor,
  text,
  type PageDeps,
} from './context.js';
import { accountPage, links, paragraph, renderForm, waitInWords } from './layout.js';

function lostPasswordPage(settings: Settings, token: string, error?: string): string {
  const form = renderForm({
    action: '/lost-password',
    csrfToken: token,
    error,
    fields: [
      {
        name: 'identifier',
        label: 'E-mail address or username',
        autocomplete: 'email',
        type: 'text',
      },
    ],
    submit: 'Send me a link',
  });
  const intro = paragraph(
    'Enter the e-mail address or username of your account, and we will e-mail you a link to choose a new password.',
  );
  return accountPage(
    settings,
    'Lost your password?',
    `${intro}\n${form}\n${links([['/login', 'Back to log in']])}`,
  );
}

function sentPage(settings: Settings): string {
  const lifetime = formatDuration(settings.password_link_hours * 3_600_000);
  const body = [
    paragraph(
      `If an account exists for that address, we have sent a link to reset its password. It expires in ${lifetime}.`,
    ),
    paragraph(
      'No e-mail after a few minutes? Check your spam folder, or try again with the other address you may have used.',
    ),
    links([['/login', 'Back to log in']]),
  ];
  return accountPage(settings, 'Check your e-mail', body.join('\n'));
}

export function registerLostPasswordPages(app: FastifyInstance, deps: PageDeps): void {
  const render = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    settings: Settings,
    error?: string,
  ) => sendPage(reply, status, lostPasswordPage(settings, csrfToken(deps, request, reply), error));

  app.get('/lost-password', async (request, reply) =>
    render(request, reply, 200, await settingsFor(deps, request)),
  );

  app.post('/lost-password', { preHandler: csrfProtectionHook }, async (request, reply) => {
    const form = readForm(request, { identifier: text(320) });
    const settings = await settingsFor(deps, request);
    if (form.identifier.trim() === '')
      return render(request, reply, 422, settings, 'Enter your e-mail address or username.');
    const outcome = await requestPasswordReset(
      { db: deps.db, clock: deps.clock, settings, mail: deps.mail },
      { identifier: form.identifier, ip: request.ip },
    );
    if (outcome.status === 'rate_limited') {
      reply.header('retry-after', String(outcome.retryAfterSeconds));
      return render(
        request,
        reply,
        429,
        settings,
        `Too many requests from your network. Please try again in ${waitInWords(outcome.retryAfterSeconds)}.`,
      );
    }
    return sendPage(reply, 200, sentPage(settings));
  });
}
